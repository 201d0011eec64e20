"""The statistics' rollup (F39): a row of facts per conversation and message counters per day,
kept by the one writer of messages (conversations.recording) as it records them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, UTCDateTime


class ConversationFacts(Base):
    """What statistics need of one conversation: when it opened, when its first customer
    message was first answered by a member, when it was last closed, and those durations
    counted in the opening hours. Days are in the workspace's time zone."""

    __tablename__ = "stats_conversations"
    # A month's reads walk these ranges alone (index-only): the day, then what is counted by.
    __table_args__ = (
        Index(
            "ix_stats_conversations_opened_day",
            "opened_day",
            "channel_id",
            "assignee_id",
            "first_response_seconds",
            "conversation_id",
        ),
        Index(
            "ix_stats_conversations_closed_day",
            "closed_day",
            "channel_id",
            "assignee_id",
            "resolution_seconds",
            "conversation_id",
        ),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    # Copies of the conversation's (the assignee kept by workflow.assign), so that a month is
    # counted without a look-up per conversation.
    channel_id: Mapped[int] = mapped_column(Integer)
    assignee_id: Mapped[int | None] = mapped_column(Integer)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_day: Mapped[date] = mapped_column(Date)
    first_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_seconds: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_day: Mapped[date | None] = mapped_column(Date)
    resolution_seconds: Mapped[int | None] = mapped_column(Integer)


class DayCounts(Base):
    """Messages per day, channel and member (the reply's sender; 0: a customer's message, or a
    reply no member sent). No foreign keys: a deleted channel's past still adds up."""

    __tablename__ = "stats_days"
    # Room on each page for a row's next versions (migration 0041): every message changes one.
    __table_args__ = ({"postgresql_with": {"fillfactor": 20}},)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    messages_in: Mapped[int] = mapped_column(Integer, default=0)
    messages_out: Mapped[int] = mapped_column(Integer, default=0)
