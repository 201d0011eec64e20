"""What the business keeps about a customer: statuses, marks, tags, fields, memos, records."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow


class Status(Base):
    """A support status (対応ステータス) from the workspace's own ordered list."""

    __tablename__ = "statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    color: Mapped[str] = mapped_column(String(7), default="#64748b")
    position: Mapped[int] = mapped_column(Integer, default=0)


class Mark(Base):
    """A response mark (対応マーク, Liny), set on a contact or on one message."""

    __tablename__ = "marks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    color: Mapped[str] = mapped_column(String(7), default="#64748b")
    position: Mapped[int] = mapped_column(Integer, default=0)
    # 未確認 and 確認済み keep their names; the other six can be renamed.
    renamable: Mapped[bool] = mapped_column(Boolean, default=True)


class TagFolder(Base):
    __tablename__ = "tag_folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    # One level of nesting: a folder inside a top-level folder.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tag_folders.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("folder_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    folder_id: Mapped[int | None] = mapped_column(ForeignKey("tag_folders.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(Integer, default=0)


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (
        Index("ix_contact_tags_tag_contact", "tag_id", "contact_id"),
        # The inbox filtered by a tag walks this, newest first (see conversations.repository).
        Index("ix_contact_tags_tag_activity", "tag_id", "activity_at", "contact_id"),
    )

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A copy of the contact's activity_at.
    activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FieldType(StrEnum):
    text = "text"
    long_text = "long_text"
    number = "number"
    date = "date"
    select = "select"
    multi_select = "multi_select"
    phone = "phone"
    email = "email"
    url = "url"


class FieldFolder(Base):
    __tablename__ = "field_folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Field(Base):
    """A profile field the owner defines (パーソナル情報 / 友だち情報)."""

    __tablename__ = "fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(50), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    folder_id: Mapped[int | None] = mapped_column(
        ForeignKey("field_folders.id", ondelete="SET NULL")
    )
    # The choices of a select or multi-select field.
    options: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # 表示設定: whether the chat's side panel shows it.
    show_in_chat: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class FieldValue(Base):
    """A contact's value for a field, kept in the column of its type so filters use indexes."""

    __tablename__ = "field_values"
    __table_args__ = (
        Index("ix_field_values_text", "field_id", "value_text"),
        Index("ix_field_values_number", "field_id", "value_number"),
        Index("ix_field_values_date", "field_id", "value_date"),
        # The inbox filtered by a field walks this, newest first (see conversations.repository).
        Index("ix_field_values_field_activity", "field_id", "activity_at", "contact_id"),
    )

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    field_id: Mapped[int] = mapped_column(
        ForeignKey("fields.id", ondelete="CASCADE"), primary_key=True
    )
    # Text-like types; a multi-select's choices as "\nA\nB\n" so that one LIKE finds a choice.
    value_text: Mapped[str | None] = mapped_column(Text)
    value_number: Mapped[float | None] = mapped_column(Float)
    value_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A copy of the contact's activity_at, as a tagging keeps one.
    activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Memo(Base):
    __tablename__ = "memos"
    __table_args__ = (Index("ix_memos_contact_position", "contact_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecordBook(Base):
    """A record book (カルテ, 履歴タイプ 1:N): dated entries with the book's own fields."""

    __tablename__ = "record_books"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    # [{"key", "label", "type", "options"?}], types as for profile fields.
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Record(Base):
    __tablename__ = "records"
    __table_args__ = (
        Index("ix_records_contact_book_at", "contact_id", "book_id", "at"),
        Index("ix_records_book_at", "book_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    book_id: Mapped[int] = mapped_column(ForeignKey("record_books.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # When it happened (a visit, a call): a real timestamp, segments count days from it.
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    values: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RecordSpan(Base):
    """A contact's records of one book, summed up: the newest and the oldest one's time, and a
    copy of the contact's latest activity, as a tagging keeps one. Derived from the records
    (crm.records.refresh_spans), for the conditions on a contact's newest or oldest record (最終
    来店日): the inbox filtered by one walks a book's spans newest first, or gathers the few
    whose record falls in a range, and either reads one row a contact, not its records."""

    __tablename__ = "record_spans"
    __table_args__ = (
        Index("ix_record_spans_book_activity", "book_id", "activity_at", "contact_id"),
        # The contact and its activity held in the index: a range's few spans are read from it
        # alone (migration 0039).
        Index("ix_record_spans_book_newest", "book_id", "newest_at", "contact_id", "activity_at"),
        Index("ix_record_spans_book_oldest", "book_id", "oldest_at", "contact_id", "activity_at"),
    )

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
    )
    book_id: Mapped[int] = mapped_column(
        ForeignKey("record_books.id", ondelete="CASCADE"), primary_key=True
    )
    newest_at: Mapped[datetime] = mapped_column(UTCDateTime)
    oldest_at: Mapped[datetime] = mapped_column(UTCDateTime)
    activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The tables whose rows keep a copy of their contact's activity_at (one row a contact at most
# for a tag, a field, a book), which the filtered inbox walks newest first: every write of a
# contact's activity writes them too (conversations.recording, contacts.merging).
ACTIVITY_COPIES = (ContactTag, FieldValue, RecordSpan)
