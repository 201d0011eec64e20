from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.conversations.models import MAX_TEXT_LENGTH, Message
from madoguchi.files.models import StoredFile
from madoguchi.files.schemas import FileOut
from madoguchi.kit.schemas import Label


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    conversation_id: int
    kind: str
    text: str
    external_id: str | None
    sender_member_id: int | None
    delivery: str | None
    delivery_error: str | None
    mark_id: int | None
    meta: dict[str, Any] | None
    images: list[FileOut] = []
    # A broadcast's copy (kept in the thread only).
    broadcast: bool = False
    created_at: datetime

    @classmethod
    def of(cls, message: Message, images: list[StoredFile] | None = None) -> MessageOut:
        out = cls.model_validate(message)
        out.images = [FileOut.of(image) for image in images or []]
        return out


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(default="", max_length=MAX_TEXT_LENGTH)
    kind: Literal["reply", "note"] = "reply"
    # Up to three uploaded images (POST /api/v1/files) sent with a reply.
    image_ids: list[int] = Field(default_factory=list, max_length=3)
    # Send a template (filled in for this contact) instead of ``text``.
    template_id: int | None = None


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member_id: int | None


class FollowIn(BaseModel):
    """Whom to add or remove as a follower; yourself when left out."""

    model_config = ConfigDict(extra="forbid")
    member_id: int | None = None


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    until: datetime


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag_ids: list[int] | None = None
    memo: str | None = Field(default=None, max_length=500)


class MemoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memo: str = Field(max_length=500)


class TagIdsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int]


class ConversationTagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    color: str
    position: int


class ConversationTagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=50)
    color: str = "#64748b"


class MemberRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str


class ConversationDetail(BaseModel):
    """What the conversation's header and side panel show beyond the list item."""

    memo: str
    closed_at: datetime | None
    followers: list[MemberRef]
    tags: list[ConversationTagOut]
    member_link: str


class ScheduledIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(default="", max_length=MAX_TEXT_LENGTH)
    at: datetime
    image_ids: list[int] = Field(default_factory=list, max_length=3)


class ScheduledUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    at: datetime | None = None
    image_ids: list[int] | None = Field(default=None, max_length=3)


class ScheduledOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    contact_id: int
    conversation_id: int | None
    text: str
    image_ids: list[int]
    at: datetime
    state: str
    created_by: int | None
    message_id: int | None
    error: str | None
    created_at: datetime


class MessageList(BaseModel):
    items: list[MessageOut]


class ContactSummary(BaseModel):
    id: int
    display_name: str
    channel_name: str
    avatar_url: str | None
    status: Label | None = None
    mark: Label | None = None
    tags: list[Label] = []
    # Hidden customers (非表示中) leave 一覧 but a search finds them: the list says which.
    hidden: bool = False


class ChannelSummary(BaseModel):
    id: int
    kind: str
    name: str


class ConversationOut(BaseModel):
    id: int
    contact_id: int
    channel_id: int
    state: str
    memo: str = ""
    closed_at: datetime | None = None
    # Instagram: replies are allowed until then (24 hours after the customer's last message).
    reply_until: datetime | None = None
    assignee_id: int | None
    snooze_until: datetime | None
    last_activity_at: datetime
    last_message_kind: str | None
    last_message_preview: str
    # 未確認 as the workspace means it (the team's, or this member's own).
    unread: bool
    unread_count: int
    # With the team's 未確認: a customer's message came since this member last opened it.
    new_for_me: bool = False
    contact: ContactSummary
    channel: ChannelSummary


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None
