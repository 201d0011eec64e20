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


class Trigger(Base):
    """Something a rule or a step sequence may start on (a customer's message, a tag put on a
    contact, a form answered…), written in the same transaction as the fact itself and taken
    by the worker: so it is acted on once even across restarts and several processes.
    ``chain`` holds the rules whose actions caused it, so that no rule triggers itself again."""

    __tablename__ = "automation_triggers"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    message_id: Mapped[int | None] = mapped_column(Integer)
    # The tag added, the form answered, the record book written in.
    subject_id: Mapped[int | None] = mapped_column(Integer)
    chain: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Rule(Base):
    """ルール (F28): when something happens (``when``), and the conditions hold, do the actions.
    A rule whose tag, member or template was deleted is switched off with ``off_reason``."""

    __tablename__ = "rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    when: Mapped[str] = mapped_column(String(30))
    # [{"field": "text", "op": "contains_any", "value": ["返品", "交換"]}, ...]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # [{"type": "assign", "member_id": 2}, {"type": "add_tag", "tag_id": 5}, ...]
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    off_reason: Mapped[str] = mapped_column(Text, default="")
    # Round-robin: how many times it has assigned (the next member is this modulo the list).
    turns: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleRun(Base):
    """One time a rule's conditions held: what it did, or why it failed (nothing of it kept)."""

    __tablename__ = "rule_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("rules.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    result: Mapped[str] = mapped_column(String(10))  # done | failed
    detail: Mapped[str] = mapped_column(Text, default="")  # in English, as the API answers it
    # The same, for the UI to say in the member's language: [[msgid, {params}], ...]
    said: Mapped[list[Any]] = mapped_column(JSONType, default=list)
