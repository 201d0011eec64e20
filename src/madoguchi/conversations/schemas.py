from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.conversations.models import MAX_TEXT_LENGTH


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
    created_at: datetime


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)
    kind: Literal["reply", "note"] = "reply"


class MessageList(BaseModel):
    items: list[MessageOut]


class Label(BaseModel):
    id: int
    name: str
    color: str | None = None


class ContactSummary(BaseModel):
    id: int
    display_name: str
    channel_name: str
    avatar_url: str | None
    status: Label | None = None
    mark: Label | None = None
    tags: list[Label] = []


class ChannelSummary(BaseModel):
    id: int
    kind: str
    name: str


class ConversationOut(BaseModel):
    id: int
    contact_id: int
    channel_id: int
    state: str
    assignee_id: int | None
    snooze_until: datetime | None
    last_activity_at: datetime
    last_message_kind: str | None
    last_message_preview: str
    unread: bool
    unread_count: int
    contact: ContactSummary
    channel: ChannelSummary


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None
