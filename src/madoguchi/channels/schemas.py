from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.channels.models import Channel
from madoguchi.channels.service import missing_settings, public_settings, snippet, webhook_url


class ChannelOut(BaseModel):
    id: int
    kind: str
    name: str
    enabled: bool
    settings: dict[str, Any]
    # LINE and Instagram: the address to paste into their console; web: the tag for the site.
    webhook_url: str | None = None
    snippet: str | None = None
    # Settings it still needs before it can work.
    missing: list[str] = []
    created_at: datetime
    # When an owner or admin deleted it (null: in use); its conversations stay, read-only.
    removed_at: datetime | None = None

    @classmethod
    def of(cls, channel: Channel, base_url: str = "") -> ChannelOut:
        return cls(
            id=channel.id,
            kind=channel.kind,
            name=channel.name,
            enabled=channel.enabled,
            settings=public_settings(channel),
            webhook_url=webhook_url(channel, base_url),
            snippet=snippet(channel, base_url),
            missing=missing_settings(channel),
            created_at=channel.created_at,
            removed_at=channel.removed_at,
        )


class ChannelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    settings: dict[str, Any] | None = None
    enabled: bool | None = None


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
