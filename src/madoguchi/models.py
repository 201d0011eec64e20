"""Every table, imported once so that metadata (and Alembic) sees them all."""

from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import (
    Conversation,
    ConversationState,
    ConversationUnread,
    Delivery,
    Message,
    MessageKind,
)
from madoguchi.crm.models import (
    ContactTag,
    Field,
    FieldFolder,
    FieldType,
    FieldValue,
    Mark,
    Memo,
    Record,
    RecordBook,
    Status,
    Tag,
    TagFolder,
)
from madoguchi.kit.db import Base
from madoguchi.members.models import ApiToken, LoginThrottle, Member, MemberSession, Role

__all__ = [
    "ApiToken",
    "Base",
    "Channel",
    "ChannelKind",
    "Contact",
    "ContactTag",
    "Conversation",
    "ConversationState",
    "ConversationUnread",
    "Delivery",
    "Field",
    "FieldFolder",
    "FieldType",
    "FieldValue",
    "LoginThrottle",
    "Mark",
    "Member",
    "MemberSession",
    "Memo",
    "Message",
    "MessageKind",
    "Record",
    "RecordBook",
    "Role",
    "Status",
    "Tag",
    "TagFolder",
]
