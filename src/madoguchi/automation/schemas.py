from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.automation.autoclose import MAX_HOURS, MAX_MESSAGE
from madoguchi.automation.filters import MAX_FILTER_TEXT
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
