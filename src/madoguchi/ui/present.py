"""What the pages show, shaped from domain objects (no rules here: only layout decisions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from madoguchi.conversations.models import Message
from madoguchi.conversations.repository import View

# How many messages a thread shows at first, and per 「以前のメッセージ」 step.
THREAD_PAGE = 50
LIST_PAGE = 30
# The list's tabs: 一覧, 未確認, and 非表示中 (hidden contacts, who leave the other two).
LIST_VIEWS = (View.all, View.unread, View.hidden)


@dataclass(frozen=True)
class ThreadEntry:
    """A message, preceded by a date separator when it starts a new day.

    ``continued`` is set when the next message comes from the same side in the same minute:
    the pair reads as one block, and only the last of it shows the time.
    """

    message: Message
    day: date
    starts_day: bool
    continued: bool = False


def _same_block(first: Message, second: Message, zone: ZoneInfo) -> bool:
    minute = "%Y%m%d%H%M"
    return (
        first.kind == second.kind != "system"
        and first.sender_member_id == second.sender_member_id
        and first.delivery == second.delivery
        and first.created_at.astimezone(zone).strftime(minute)
        == second.created_at.astimezone(zone).strftime(minute)
    )


def thread_entries(messages: list[Message], zone: ZoneInfo) -> list[ThreadEntry]:
    """Entries oldest first; a chunk starts with its first day (the page drops repeats)."""
    entries: list[ThreadEntry] = []
    previous: date | None = None
    for index, message in enumerate(messages):
        day = message.created_at.astimezone(zone).date()
        following = messages[index + 1] if index + 1 < len(messages) else None
        entries.append(
            ThreadEntry(
                message=message,
                day=day,
                starts_day=day != previous,
                continued=following is not None and _same_block(message, following, zone),
            )
        )
        previous = day
    return entries


def list_view(value: str | None) -> View:
    """The list tab asked for: 一覧 (all), 未確認 (unread) or 非表示中 (hidden)."""
    return next((view for view in LIST_VIEWS if view == value), View.all)


def search_text(value: str | None) -> str:
    return (value or "").strip()[:200]


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this site (never another host)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ch in target for ch in "\r\n\t") or "\\" in target:
        return "/"
    return target


def display_value(value: Any) -> str:
    """A profile or record value as read: choices joined with 、, 3.0 as 3."""
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)
