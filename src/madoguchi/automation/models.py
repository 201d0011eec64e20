"""Templates (テンプレート) and actions (アクション実行): what members send and do in one click."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow


class TemplateFolder(Base):
    __tablename__ = "template_folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Up to 1,000 characters, with placeholders such as {name} and {days_since_last_visit}.
    text: Mapped[str] = mapped_column(Text, default="")
    folder_id: Mapped[int | None] = mapped_column(
        ForeignKey("template_folders.id", ondelete="SET NULL")
    )
    # Up to three stored images sent with the text.
    image_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Action(Base):
    """A named bundle of steps run on a contact (☆ in the chat, and later by rules)."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # [{"type": "send_template", "template_id": 1}, {"type": "add_tags", "tag_ids": [2]}, ...]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FilterMatch(StrEnum):
    exact = "exact"  # the whole message is the text
    contains = "contains"  # the message holds the text


class MessageFilter(Base):
    """メッセージフィルター (F27): a customer's message it matches arrives read for every member
    (what a button tap sends, an auto-reply keyword): no unread badge, no notification."""

    __tablename__ = "message_filters"
    __table_args__ = (UniqueConstraint("match", "text"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    match: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AutoClose(Base):
    """自動クローズ: open conversations without a message for ``after_hours`` are closed, with
    ``message`` sent first when one is written. ``scope`` is ``workspace`` (every channel) or
    ``channel:<id>`` (that channel instead of the workspace's); ``after_hours`` None: off."""

    __tablename__ = "auto_close"

    scope: Mapped[str] = mapped_column(String(30), primary_key=True)
    after_hours: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
