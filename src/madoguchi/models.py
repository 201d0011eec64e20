"""Every table, imported once so that metadata (and Alembic) sees them all."""

from madoguchi.audit.models import AuditEntry
from madoguchi.automation.models import (
    Action,
    AutoClose,
    MessageFilter,
    Template,
    TemplateFolder,
)
from madoguchi.broadcasts.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastOccurrence,
    Segment,
    SequenceEnrollment,
    StepSequence,
)
from madoguchi.channels.models import Channel, ChannelKind, OutboxEntry, OutboxState, VisitorSession
from madoguchi.contacts.models import Contact, ContactMerge
from madoguchi.conversations.models import (
    Conversation,
    ConversationFollower,
    ConversationState,
    ConversationTag,
    ConversationTagging,
    ConversationTeamUnread,
    ConversationUnread,
    Delivery,
    Message,
    MessageImage,
    MessageKind,
    ScheduledMessage,
    ScheduleState,
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
from madoguchi.files.models import StoredFile
from madoguchi.forms.models import Form, FormAnswer
from madoguchi.kit.db import Base
from madoguchi.members.models import ApiToken, LoginThrottle, Member, MemberSession, Role
from madoguchi.notifications.models import Notification, PushDelivery, PushSubscription
from madoguchi.stats.models import ConversationFacts, DayCounts
from madoguchi.workspace.models import WorkspaceValue

__all__ = [
    "Action",
    "ApiToken",
    "AuditEntry",
    "AutoClose",
    "Base",
    "Broadcast",
    "BroadcastDelivery",
    "BroadcastOccurrence",
    "Channel",
    "ChannelKind",
    "Contact",
    "ContactMerge",
    "ContactTag",
    "Conversation",
    "ConversationFacts",
    "ConversationFollower",
    "ConversationState",
    "ConversationTag",
    "ConversationTagging",
    "ConversationTeamUnread",
    "ConversationUnread",
    "DayCounts",
    "Delivery",
    "Field",
    "FieldFolder",
    "FieldType",
    "FieldValue",
    "Form",
    "FormAnswer",
    "LoginThrottle",
    "Mark",
    "Member",
    "MemberSession",
    "Memo",
    "Message",
    "MessageFilter",
    "MessageImage",
    "MessageKind",
    "Notification",
    "OutboxEntry",
    "OutboxState",
    "PushDelivery",
    "PushSubscription",
    "Record",
    "RecordBook",
    "Role",
    "ScheduleState",
    "ScheduledMessage",
    "Segment",
    "SequenceEnrollment",
    "Status",
    "StepSequence",
    "StoredFile",
    "Tag",
    "TagFolder",
    "Template",
    "TemplateFolder",
    "VisitorSession",
    "WorkspaceValue",
]
