from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    channel_id: int
    external_id: str
    channel_name: str
    display_name: str
    avatar_url: str | None
    created_at: datetime
    updated_at: datetime


class ContactUpdate(BaseModel):
    """Fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=255)
