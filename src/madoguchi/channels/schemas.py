from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.channels.models import Channel
from madoguchi.channels.service import public_settings


class ChannelOut(BaseModel):
    id: int
    kind: str
    name: str
    enabled: bool
    settings: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, channel: Channel) -> ChannelOut:
        return cls(
            id=channel.id,
            kind=channel.kind,
            name=channel.name,
            enabled=channel.enabled,
            settings=public_settings(channel),
            created_at=channel.created_at,
        )


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    name: str = Field(max_length=100)
    settings: dict[str, Any] = Field(default_factory=dict)


class ChannelList(BaseModel):
    items: list[ChannelOut]


class InboundContact(BaseModel):
    external_id: str = Field(min_length=1, max_length=255)
    name: str | None = Field(default=None, max_length=255)


class InboundMessage(BaseModel):
    """What an integration posts to the API channel."""

    contact: InboundContact
    external_id: str | None = Field(default=None, min_length=1, max_length=255)
    text: str = Field(min_length=1, max_length=5000)
