"""What the pages show, shaped from domain objects (no rules here: only layout decisions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from madoguchi.conversations.models import Message
from madoguchi.conversations.repository import View
from madoguchi.files.models import StoredFile

# How many messages a thread shows at first, and per 「以前のメッセージ」 step.
THREAD_PAGE = 50
LIST_PAGE = 30
# The list's tabs, in their order: 一覧 (the open work), 未確認, 自分の担当, 担当者なし,
# スヌーズ中, 終了, and 非表示中 (hidden contacts, who leave every other tab).
LIST_VIEWS = (
    View.all,
    View.unread,
    View.mine,
    View.unassigned,
    View.snoozed,
    View.closed,
    View.hidden,
)
# A thumbnail in the thread is at most this wide or high (CSS pixels); the file's own
# thumbnail is larger, for sharp screens.
THUMBNAIL_BOX = 220


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
    images: list[StoredFile] = field(default_factory=list)


def _same_block(first: Message, second: Message, zone: ZoneInfo) -> bool:
    minute = "%Y%m%d%H%M"
    return (
        first.kind == second.kind != "system"
        and first.sender_member_id == second.sender_member_id
        and first.delivery == second.delivery
        and first.created_at.astimezone(zone).strftime(minute)
        == second.created_at.astimezone(zone).strftime(minute)
    )


def thread_entries(
    messages: list[Message],
    zone: ZoneInfo,
    images: dict[int, list[StoredFile]] | None = None,
) -> list[ThreadEntry]:
    """Entries oldest first; a chunk starts with its first day (the page drops repeats)."""
    images = images or {}
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
                images=images.get(message.id, []),
            )
        )
        previous = day
    return entries


def list_view(value: str | None) -> View:
    """The list tab asked for (一覧 when it is none of them)."""
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


def thumbnail_size(image: StoredFile) -> tuple[int, int]:
    """The size a thumbnail is shown at (its proportions kept), so that the thread does not
    jump while images load."""
    width, height = image.width or THUMBNAIL_BOX, image.height or THUMBNAIL_BOX
    scale = min(1.0, THUMBNAIL_BOX / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


# --- snooze (スヌーズ) -------------------------------------------------------------------------


class SnoozePreset(StrEnum):
    """The snooze menu's choices, all in the workspace's time (Japan time)."""

    hour = "hour"  # 1時間後
    tonight = "tonight"  # 今夜 20:00
    tomorrow = "tomorrow"  # 明日の朝 9:00
    next_week = "next_week"  # 来週の月曜 9:00


EVENING = time(20, 0)
MORNING = time(9, 0)


def snooze_time(preset: SnoozePreset, now: datetime, zone: ZoneInfo) -> datetime:
    """When a preset wakes the conversation (今夜 may already be past: the service says so)."""
    local = now.astimezone(zone)
    match preset:
        case SnoozePreset.hour:
            return (local + timedelta(hours=1)).replace(second=0, microsecond=0)
        case SnoozePreset.tonight:
            return datetime.combine(local.date(), EVENING, tzinfo=zone)
        case SnoozePreset.tomorrow:
            return datetime.combine(local.date() + timedelta(days=1), MORNING, tzinfo=zone)
        case SnoozePreset.next_week:
            days = 7 - local.weekday()  # Monday is 0: a Monday snoozes to the next one
            return datetime.combine(local.date() + timedelta(days=days), MORNING, tzinfo=zone)


def snooze_choices(now: datetime, zone: ZoneInfo) -> list[tuple[SnoozePreset, datetime]]:
    """The presets still ahead (今夜 is left out once it is past 20:00)."""
    choices = [(preset, snooze_time(preset, now, zone)) for preset in SnoozePreset]
    return [(preset, at) for preset, at in choices if at > now]
