from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.broadcasts.models import Broadcast, Segment, StepSequence
from madoguchi.broadcasts.segments import MAX_NAME, Size
from madoguchi.broadcasts.service import DEFAULT_TIMEZONE, MAX_SUBJECT, Counts
from madoguchi.broadcasts.steps import trigger_of
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


class SequenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    # {"type": "tag.added", "tag": id} | {"type": "first_message"} |
    # {"type": "form.answered", "form": id} | {"type": "record.added", "book": id}
    trigger: dict[str, Any]
    # [{"delay_seconds": N, "text": "..."} | {"delay_seconds": N, "template": id}, ...]
    steps: list[dict[str, Any]]
    stop_on_reply: bool = False
    stop_unless_segment: int | None = Field(default=None, ge=1, le=MAX_ID)
    enabled: bool = True


class SequenceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    trigger: dict[str, Any] | None = None
    steps: list[dict[str, Any]] | None = None
    stop_on_reply: bool | None = None
    # null: no longer stops on leaving a segment; left out: as it is.
    stop_unless_segment: int | None = Field(default=None, ge=1, le=MAX_ID)
    enabled: bool | None = None


class SequenceOut(BaseModel):
    id: int
    name: str
    trigger: dict[str, Any]
    steps: list[dict[str, Any]]
    stop_on_reply: bool
    stop_unless_segment: int | None
    enabled: bool
    # Why it was switched off (its tag, form, book, segment or template was deleted).
    off_reason: str
    # How many contacts are going through it now.
    active: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, sequence: StepSequence, active: int) -> SequenceOut:
        return cls(
            id=sequence.id,
            name=sequence.name,
            trigger=trigger_of(sequence),
            steps=sequence.steps,
            stop_on_reply=sequence.stop_on_reply,
            stop_unless_segment=sequence.stop_segment_id,
            enabled=sequence.enabled,
            off_reason=sequence.off_reason,
            active=active,
            created_at=sequence.created_at,
            updated_at=sequence.updated_at,
        )


class EnrollmentOut(BaseModel):
    contact_id: int
    contact_name: str
    # How many of the sequence's messages were done (sent, or failed with ``detail``).
    step: int
    state: Literal["active", "done", "stopped"]
    # When the next step is due (active only).
    next_at: datetime | None
    # Why it stopped, or why the last step could not be sent.
    detail: str
    started_at: datetime
