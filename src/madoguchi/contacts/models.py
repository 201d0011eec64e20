"""Contacts: the customers, one per channel identity."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    FetchedValue,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, Bits, JSONType, UTCDateTime, utcnow


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel_id", "external_id"),
        # The inbox filtered by status walks this, newest first (see conversations.repository).
        Index("ix_contacts_status_activity", "status_id", "activity_at", "id"),
        # And by a mark that no message carries (0035).
        Index("ix_contacts_mark_activity", "mark_id", "activity_at", "id"),
        # The list sorted by reading (五十音順) walks this; searched, PostgreSQL reads each
        # contact's signature in it and passes over those that cannot hold the word (0034).
        Index("ix_contacts_reading", "reading", "id", postgresql_include=["signature"]),
        # 非表示中 finds the hidden contacts here (a few), not among every contact. The condition
        # as the view's query writes it on each database (migration 0032).
        Index(
            "ix_contacts_hidden",
            "id",
            postgresql_where=text("hidden IS true"),
            sqlite_where=text("hidden IS 1"),
        ),
        # The few blocked contacts, and those who take mail broadcasts, found by a filter
        # without reading every contact (0036).
        Index(
            "ix_contacts_blocked",
            "id",
            postgresql_where=text("blocked IS true"),
            sqlite_where=text("blocked IS 1"),
        ),
        Index(
            "ix_contacts_mail_opt_in",
            "id",
            postgresql_where=text("mail_opt_in IS true"),
            sqlite_where=text("mail_opt_in IS 1"),
        ),
        # Ids are never reused: the search index is keyed on them.
        {"sqlite_autoincrement": True},
    )
    # The one column the database fills (the signature, written by its own writer) is not
    # read back after an INSERT.
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - SQLAlchemy's declaration

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for a contact added by hand or imported from a file: no channel identity yet.
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    # The channel's id for them, or the id an imported file gave them.
    external_id: Mapped[str | None] = mapped_column(String(255))
    # The name the channel gives (LINE registration name, Instagram account name): read-only.
    channel_name: Mapped[str] = mapped_column(String(255), default="")
    # The name members use (システム表示名); defaults to the channel name.
    display_name: Mapped[str] = mapped_column(String(255), default="")
    avatar_url: Mapped[str | None] = mapped_column(String(1000))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50), index=True)
    # メルマガ受信: may we send them mail broadcasts.
    mail_opt_in: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # 非表示: out of the inbox, listed under 非表示中.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Their messages are stored but do not raise the conversation.
    blocked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    status_id: Mapped[int | None] = mapped_column(
        ForeignKey("statuses.id", ondelete="SET NULL"), index=True
    )
    mark_id: Mapped[int | None] = mapped_column(ForeignKey("marks.id", ondelete="SET NULL"))
    # A copy of their conversation's last_activity_at, so filtered lists walk an index.
    activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # フリガナ (F46), in full-width katakana (contacts.reading); suggested for a kanji name.
    reading: Mapped[str | None] = mapped_column(String(80))
    # Merged into another contact (F43): kept for its channel identity and its old links,
    # out of every list; messages on its identity land on the contact it was merged into.
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    merged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # kit.text.search_key of both names, for the LIKE re-check behind the search index.
    search_text: Mapped[str] = mapped_column(String(600), default="")
    # PostgreSQL: the signature of every text the contact is found by, its conversations'
    # entries' together (search.entries.sign_contacts); None where it has none, or on SQLite.
    # PostgreSQL's bit(2048) (search.entries.SIGNATURE_BITS). Derived: written by its own
    # writer alone, never by the contact's INSERT (as one the database fills), nor loaded
    # with the contact (read in SQL alone).
    signature: Mapped[str | None] = mapped_column(
        Bits(2048), deferred=True, server_default=FetchedValue(), info={"derived": True}
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactMerge(Base):
    """One merge (F43) and exactly what it did (``journal``: the ids of the rows it moved, the
    values it overwrote with their old ones…), written in the merge's transaction so that
    ``contacts.merging.undo_merge`` can put everything back."""

    __tablename__ = "contact_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Deleting either contact deletes the merge (the kept one takes the merged one with it).
    kept_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    merged_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(100), default="")
    journal: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
