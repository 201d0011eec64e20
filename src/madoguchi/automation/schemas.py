from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.automation.autoclose import MAX_HOURS, MAX_MESSAGE
from madoguchi.automation.filters import MAX_FILTER_TEXT
from madoguchi.automation.rules import MAX_ACTIONS, MAX_CONDITIONS
from madoguchi.automation.templates import TEXT_LIMIT


class TemplateFolderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    position: int


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    text: str
    folder_id: int | None
    image_ids: list[int]
    position: int
    created_at: datetime
    updated_at: datetime


class TemplateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    text: str = Field(default="", max_length=TEXT_LIMIT)
    folder: int | str | None = None
    image_ids: list[int] = Field(default_factory=list, max_length=3)


class TemplateUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    text: str | None = Field(default=None, max_length=TEXT_LIMIT)
    folder: int | str | None = None
    image_ids: list[int] | None = Field(default=None, max_length=3)


class TemplatePreview(BaseModel):
    text: str
    image_ids: list[int] = []


class ActionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    steps: list[dict[str, Any]]
    position: int


class ActionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    steps: list[dict[str, Any]]


class ActionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    steps: list[dict[str, Any]] | None = None


class ActionRun(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: int


class MessageFilterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    match: Literal["exact", "contains"]
    text: str
    created_at: datetime


class MessageFilterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: Literal["exact", "contains"]
    text: str = Field(max_length=MAX_FILTER_TEXT)


class MessageFilterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    match: Literal["exact", "contains"] | None = None
    text: str | None = Field(default=None, max_length=MAX_FILTER_TEXT)


class AutoCloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Hours without a message before an open conversation is closed; null: off.
    after_hours: int | None = Field(ge=1, le=MAX_HOURS)
    # Sent as a reply before closing, where the channel still lets us answer.
    message: str = Field(default="", max_length=MAX_MESSAGE)
    # That channel's own setting instead of the workspace's.
    channel_id: int | None = None


class AutoCloseOut(BaseModel):
    channel_id: int | None
    after_hours: int | None
    message: str


class AutoCloseSettings(BaseModel):
    """The workspace's auto-close, and the channels that have their own."""

    after_hours: int | None
    message: str
    channels: list[AutoCloseOut]


RuleWhen = Literal[
    "message.received",
    "conversation.opened",
    "first_message",
    "tag.added",
    "form.answered",
    "record.added",
]


class RuleCondition(BaseModel):
    """``text`` (contains_any [words] / equals [text]), ``channel`` / ``status`` /
    ``added_tag`` / ``form`` / ``book`` (in [ids]), ``tag`` (has / has_not id), ``assignee``
    (set / not_set), ``time`` (between ["HH:MM", "HH:MM"], the workspace's time zone),
    ``weekday`` (in [0 = Monday … 6]), ``field.<key>`` (eq / contains value, set / not_set)."""

    model_config = ConfigDict(extra="forbid")
    field: str = Field(max_length=100)
    op: str = Field(max_length=20)
    value: Any = None


class RuleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    when: RuleWhen
    conditions: list[RuleCondition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    actions: list[dict[str, Any]] = Field(max_length=MAX_ACTIONS)
    enabled: bool = True


class RuleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    when: RuleWhen | None = None
    conditions: list[RuleCondition] | None = Field(default=None, max_length=MAX_CONDITIONS)
    actions: list[dict[str, Any]] | None = Field(default=None, max_length=MAX_ACTIONS)
    enabled: bool | None = None


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    when: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    enabled: bool
    off_reason: str
    created_at: datetime
    updated_at: datetime


class RuleRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    contact_id: int | None
    conversation_id: int | None
    result: Literal["done", "failed"]
    detail: str
