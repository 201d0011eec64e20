"""Conversations, their messages, the team's unread state and each member's."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow

MAX_TEXT_LENGTH = 5000


class ConversationState(StrEnum):
    open = "open"
    closed = "closed"
    snoozed = "snoozed"


class MessageKind(StrEnum):
    inbound = "inbound"
    reply = "reply"
    note = "note"
    system = "system"


class Delivery(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class Conversation(Base):
    __tablename__ = "conversations"
    # The inbox list walks these indexes newest-first and stops after one page.
    __table_args__ = (
        Index("ix_conversations_activity", "last_activity_at", "id"),
        Index("ix_conversations_channel_activity", "channel_id", "last_activity_at", "id"),
        Index("ix_conversations_assignee_activity", "assignee_id", "last_activity_at", "id"),
        Index("ix_conversations_state_activity", "state", "last_activity_at", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=ConversationState.open)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    snooze_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_kind: Mapped[str | None] = mapped_column(String(16))
    last_message_preview: Mapped[str] = mapped_column(String(200), default="")
    # 問い合わせメモ: at most 500 characters.
    memo: Mapped[str] = mapped_column(String(500), default="", server_default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        # The channel's own message id: a redelivered message is stored once.
        UniqueConstraint("channel_id", "external_id"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        # Marked messages only (migration 0031): nearly every message has none.
        Index(
            "ix_messages_mark_conversation",
            "mark_id",
            "conversation_id",
            postgresql_where=sql_text("mark_id IS NOT NULL"),
            sqlite_where=sql_text("mark_id IS NOT NULL"),
        ),
        # Ids are never reused: the search index is keyed on them.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str | None] = mapped_column(String(255))
    sender_member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL")
    )
    delivery: Mapped[str | None] = mapped_column(String(16))
    delivery_error: Mapped[str | None] = mapped_column(Text)
    mark_id: Mapped[int | None] = mapped_column(ForeignKey("marks.id", ondelete="SET NULL"))
    # Structured extras: a system event's kind and arguments, later attachments.
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    search_text: Mapped[str] = mapped_column(Text, default="")
    # A broadcast's copy: kept in the thread, but it neither moves its conversation in the list
    # nor is a word the conversation is found by (search.conversations.SEARCHED).
    broadcast: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationUnread(Base):
    """A row per member for whom a conversation is unread (未確認) or, when the team shares one
    未確認, new since they last opened it (the list's lighter highlight); no row means read."""

    __tablename__ = "conversation_unreads"
    __table_args__ = (
        Index(
            "ix_conversation_unreads_member_activity", "member_id", "activity_at", "conversation_id"
        ),
    )

    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # A copy of the conversation's last_activity_at, so the 未確認 view pages on one index.
    activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)


class ConversationTeamUnread(Base):
    """A row per conversation that is unread (未確認) for the whole team; no row means read
    (確認済み). A customer's message raises it; the 未確認 button, a reply by any member or a
    message filter leaves it read for everyone. The workspace's ``unread`` setting says whether
    the lists use it (``team``, the default) or each member's own rows (``member``)."""

    __tablename__ = "conversation_team_unreads"
    __table_args__ = (
        Index("ix_conversation_team_unreads_activity", "activity_at", "conversation_id"),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    # A copy of the conversation's last_activity_at, so the team's 未確認 view pages on one index.
    activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)


class ConversationFollower(Base):
    """Members following a conversation besides its assignee (フォロワー)."""

    __tablename__ = "conversation_followers"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationTag(Base):
    """A conversation tag (問い合わせタグ), chosen when closing; statistics group by them."""

    __tablename__ = "conversation_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    color: Mapped[str] = mapped_column(String(7), default="#64748b")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ConversationTagging(Base):
    __tablename__ = "conversation_taggings"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("conversation_tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class MessageImage(Base):
    """The images sent or received with a message (at most three), in order."""

    __tablename__ = "message_images"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)


class ScheduleState(StrEnum):
    pending = "pending"
    sent = "sent"
    cancelled = "cancelled"
    failed = "failed"
    # A failed one a member has seen and put away.
    dismissed = "dismissed"


class ScheduledMessage(Base):
    """送信予約: a message to send to a contact at a time (at most three pending each)."""

    __tablename__ = "scheduled_messages"
    __table_args__ = (
        # The worker finds due rows on this index; the per-contact limit counts on the other.
        Index("ix_scheduled_messages_state_at", "state", "at"),
        Index("ix_scheduled_messages_contact_state", "contact_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    text: Mapped[str] = mapped_column(Text)
    image_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default=ScheduleState.pending)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
