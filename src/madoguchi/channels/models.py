"""Channels: where conversations come from (API, web chat, LINE, Instagram, e-mail)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow


class ChannelKind(StrEnum):
    api = "api"
    web = "web"
    line = "line"
    instagram = "instagram"
    email = "email"


class Channel(Base):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    # Credentials live here too; the API returns them masked (see channels.schemas).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Deleted by an owner or admin: kept (off, without its settings) so that its conversations
    # stay readable; they can no longer be answered (channels.service.check_reply_allowed).
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def removed(self) -> bool:
        return self.removed_at is not None


class ChannelEvent(Base):
    """A webhook event a channel gave us and we applied (LINE's follow and unfollow), so that a
    redelivery of it is skipped and an older one arriving late does not undo a newer one.

    Kept for a week (``connectors.line.EVENTS_KEPT``): channels redeliver for less than that.
    """

    __tablename__ = "channel_events"
    __table_args__ = (
        UniqueConstraint("channel_id", "event_id"),
        # The newest change applied for one person (LINE's follow/unfollow ordering).
        Index("ix_channel_events_sender", "channel_id", "external_id", "happened_at"),
        Index("ix_channel_events_received", "channel_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # The channel's id for the event (LINE's webhookEventId).
    event_id: Mapped[str] = mapped_column(String(64))
    # Who it was about: the sender's id on the channel.
    external_id: Mapped[str] = mapped_column(String(255))
    # When it happened by the channel's clock (None: the channel did not say).
    happened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookBody(Base):
    """A webhook body a channel sent us, kept as it came (its signature checked, its events
    well-formed) and committed before the channel is answered, then stored event by event after
    the answer (``connectors.webhooks``). A body is kept until all its events are stored: a
    process stopped meanwhile leaves it here, and the worker stores it later."""

    __tablename__ = "webhook_bodies"
    __table_args__ = (Index("ix_webhook_bodies_received_at", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # The channel's kind when the body came (which parser reads it again).
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Times the worker took it up: a body that fails again and again is left for a person
    # (``connectors.webhooks.MAX_ATTEMPTS``), logged each time.
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class OutboxState(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class OutboxEntry(Base):
    """A reply waiting to be delivered through its channel, with retries and backoff.

    The reply is committed first; the worker delivers it later. A claim is a lease
    (``locked_until``), so no database lock is held while the channel's API is called.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Sent with every attempt (LINE's X-Line-Retry-Key), so a retry is not delivered twice.
    retry_key: Mapped[str] = mapped_column(String(64))
    # How many parts of the reply (an Instagram text, each image) the channel took already: a
    # retry, in whichever worker, sends only the rest.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VisitorSession(Base):
    """A web-chat visitor (their token in the browser's localStorage) or a customer link."""

    __tablename__ = "visitor_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # visitor (the widget) or link (the customer link a member made, revocable).
    kind: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
