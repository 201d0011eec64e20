from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.broadcasts.models import Broadcast, Segment
from madoguchi.broadcasts.segments import MAX_NAME, Size
from madoguchi.broadcasts.service import DEFAULT_TIMEZONE, MAX_SUBJECT, Counts
from madoguchi.contacts.schemas import ContactOut
from madoguchi.conversations.models import MAX_TEXT_LENGTH
from madoguchi.kit.ids import MAX_ID


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=MAX_NAME)
    # The filter language's conditions (docs/api.md, "Filter conditions").
    conditions: list[dict[str, Any]]


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=MAX_NAME)
    conditions: list[dict[str, Any]] | None = None


class SegmentOut(BaseModel):
    id: int
    name: str
    conditions: list[dict[str, Any]]
    # How many contacts it holds now; null with ``problem`` when it cannot be counted.
    count: int | None
    problem: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, segment: Segment, size: Size) -> SegmentOut:
        return cls(
            id=segment.id,
            name=segment.name,
            conditions=segment.conditions,
            count=size.count,
            problem=str(size.problem) if size.problem else None,
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        )


class SegmentPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conditions: list[dict[str, Any]]


class SegmentPreview(BaseModel):
    """Who the conditions hold now: the count and the first contacts."""

    count: int
    items: list[ContactOut]


class BroadcastIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    segment: int = Field(ge=1, le=MAX_ID)
    text: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    template: int | None = Field(default=None, ge=1, le=MAX_ID)
    # A time without an offset is read in ``timezone``.
    at: datetime | None = None
    cron: str | None = Field(default=None, max_length=100)
    timezone: str = Field(default=DEFAULT_TIMEZONE, max_length=64)
    via: Literal["chat", "email"] = "chat"
    # The e-mail channel (``via`` email); the first one when not given.
    channel: int | None = Field(default=None, ge=1, le=MAX_ID)
    subject: str = Field(default="", max_length=MAX_SUBJECT)


class BroadcastCounts(BaseModel):
    total: int
    pending: int
    sent: int
    failed: int
    skipped: int


class BroadcastOut(BaseModel):
    id: int
    segment: int | None
    text: str
    template: int | None
    via: str
    channel: int | None
    subject: str
    at: datetime | None
    cron: str | None
    timezone: str
    status: str
    next_run_at: datetime | None
    counts: BroadcastCounts
    created_at: datetime

    @classmethod
    def of(cls, broadcast: Broadcast, counts: Counts) -> BroadcastOut:
        return cls(
            id=broadcast.id,
            segment=broadcast.segment_id,
            text=broadcast.text,
            template=broadcast.template_id,
            via=broadcast.via,
            channel=broadcast.channel_id,
            subject=broadcast.subject,
            at=broadcast.at,
            cron=broadcast.cron,
            timezone=broadcast.timezone,
            status=broadcast.status,
            next_run_at=broadcast.next_run_at,
            counts=BroadcastCounts(**asdict(counts)),
            created_at=broadcast.created_at,
        )


class DeliveryOut(BaseModel):
    contact_id: int
    occurrence: datetime
    status: Literal["pending", "sent", "failed", "skipped"]
    detail: str


class DeliveryPageOut(BaseModel):
    items: list[DeliveryOut]
    next_cursor: int | None
