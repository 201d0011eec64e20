"""Segments: named conditions over contacts, evaluated when they are used."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow


class Segment(Base):
    """セグメント: 「最終来店から30日」 = the newest 来店記録 dated 30 days ago. The conditions are
    the filter language's (crm.filters), kept as given and checked on every save."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # [{"field": "record.来店記録.newest_at", "op": "days_ago", "value": 30}, ...]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BroadcastStatus(StrEnum):
    scheduled = "scheduled"  # waiting for its time (or its next time, when recurring)
    sending = "sending"  # an occurrence has deliveries still to send
    done = "done"  # a one-off that has gone out
    paused = "paused"
    cancelled = "cancelled"


class Via(StrEnum):
    chat = "chat"  # each contact's own chat channel
    email = "email"  # an e-mail channel, to contacts who opted in


class DeliveryStatus(StrEnum):
    pending = "pending"  # planned, not yet claimed
    sending = "sending"  # claimed and handed to the channel's API (a lease, ``locked_until``)
    sent = "sent"
    failed = "failed"
    skipped = "skipped"


class Broadcast(Base):
    """一斉配信: a text or a template sent to a segment, now, at a time or on a cron schedule.
    Each time it fires is an occurrence; each contact of the segment then gets one delivery."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status_next", "status", "next_run_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text, default="")
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(8), default=Via.chat)
    # The e-mail channel it goes out through (``via`` email).
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cron: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    status: Mapped[str] = mapped_column(String(16), default=BroadcastStatus.scheduled)
    # When it fires next (None: a one-off that has fired, or cancelled).
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BroadcastOccurrence(Base):
    """One firing of a broadcast: its deliveries are written when it fires, all at once."""

    __tablename__ = "broadcast_occurrences"
    __table_args__ = (UniqueConstraint("broadcast_id", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BroadcastDelivery(Base):
    """What became of one occurrence for one contact. Unique per (occurrence, contact): no
    process, restart or retry can give a contact one occurrence twice."""

    __tablename__ = "broadcast_deliveries"
    __table_args__ = (
        UniqueConstraint("occurrence_id", "contact_id"),
        Index("ix_broadcast_deliveries_claim", "occurrence_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("broadcast_occurrences.id", ondelete="CASCADE")
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(8), default=DeliveryStatus.pending)
    # Why it failed or was skipped (a msgid or the channel's answer).
    detail: Mapped[str] = mapped_column(String(500), default="")
    # The reply recorded in the contact's conversation.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    # Sent with every attempt of a LINE call, so LINE drops a repeat after a crash (409).
    retry_key: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EnrollmentState(StrEnum):
    active = "active"  # a step is still to be sent (at ``next_at``)
    done = "done"  # every step was sent (or tried)
    stopped = "stopped"  # the contact replied, left the segment, or the sequence went


class StepSequence(Base):
    """ステップ配信 (F32): when something happens to a contact (a tag added, a form answered, a
    first message, a record added), send message 1 after N seconds, message 2 after M more…
    ``trigger_subject_id`` is the tag, form or record book (None for a first message); it and
    ``stop_segment_id`` are plain ids, so that one deleted switches the sequence off with
    ``off_reason`` instead of being forgotten."""

    __tablename__ = "step_sequences"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    trigger_kind: Mapped[str] = mapped_column(String(30))
    trigger_subject_id: Mapped[int | None] = mapped_column(Integer)
    # [{"delay_seconds": 172800, "text": "..."} | {"delay_seconds": N, "template": id}, ...]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    stop_on_reply: Mapped[bool] = mapped_column(default=False)
    stop_segment_id: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(default=True)
    off_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SequenceEnrollment(Base):
    """One contact going through a sequence. ``step`` is how many of its messages were done
    (sent or failed); the next one is due at ``next_at``. At most one active enrollment per
    (sequence, contact), by a partial unique index; a finished one stays as history."""

    __tablename__ = "sequence_enrollments"
    __table_args__ = (
        Index(
            "uq_sequence_enrollments_active",
            "sequence_id",
            "contact_id",
            unique=True,
            sqlite_where=sql("state = 'active'"),
            postgresql_where=sql("state = 'active'"),
        ),
        Index("ix_sequence_enrollments_due", "state", "next_at"),
        # A customer's reply stops theirs.
        Index("ix_sequence_enrollments_contact", "contact_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sequence_id: Mapped[int] = mapped_column(
        ForeignKey("step_sequences.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(8), default=EnrollmentState.active)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it stopped, or why the last step could not be sent (in English; the UI translates).
    detail: Mapped[str] = mapped_column(String(500), default="")
    # The customer message that started it (its own message.received must not stop it).
    message_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
