"""The shop's opening hours (営業時間): one span per weekday or closed, a workspace setting kept in
the database, read in the workspace's time zone. Statistics count response and resolution times
in these hours only; with none set, every hour counts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.workspace.models import WorkspaceValue

HOURS_KEY = "opening_hours"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")


@dataclass(frozen=True)
class Span:
    """Open from ``opens`` to ``closes`` (minutes after midnight; 1440 is the end of the day)."""

    opens: int
    closes: int

    def as_dict(self) -> dict[str, str]:
        return {"open": clock(self.opens), "close": clock(self.closes)}


@dataclass(frozen=True)
class OpeningHours:
    """A span per weekday, Monday first; None: closed all day."""

    days: tuple[Span | None, ...]

    def as_dict(self) -> dict[str, dict[str, str] | None]:
        return {
            name: (span.as_dict() if span else None)
            for name, span in zip(WEEKDAYS, self.days, strict=True)
        }


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(value: object, day: str) -> int:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value.strip()):
        raise Invalid("The time for %(day)s must be written as HH:MM.", day=day)
    hours, minutes = (int(part) for part in value.strip().split(":"))
    total = hours * 60 + minutes
    if total > 24 * 60:
        raise Invalid("The time for %(day)s must be written as HH:MM.", day=day)
    return total


def parse_hours(value: object) -> OpeningHours | None:
    """Opening hours from ``{"mon": {"open": "09:00", "close": "18:00"} | null, …}`` (every
    weekday named; null or a missing day: closed); None clears them (every hour counts)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("Opening hours are given per weekday: mon, tue, wed, thu, fri, sat, sun.")
    unknown = sorted(set(value) - set(WEEKDAYS))
    if unknown:
        raise Invalid(
            "Unknown weekday %(day)s: use mon, tue, wed, thu, fri, sat, sun.", day=unknown[0]
        )
    days: list[Span | None] = []
    for name in WEEKDAYS:
        given = value.get(name)
        if given is None:
            days.append(None)
            continue
        if not isinstance(given, dict) or set(given) != {"open", "close"}:
            raise Invalid("The hours for %(day)s need an open and a close time.", day=name)
        span = Span(_minutes(given["open"], name), _minutes(given["close"], name))
        if span.opens >= span.closes:
            raise Invalid("On %(day)s the shop must open before it closes.", day=name)
        days.append(span)
    if not any(days):
        raise Invalid("Open on at least one day, or clear the opening hours to count every hour.")
    return OpeningHours(tuple(days))


async def opening_hours(db: AsyncSession) -> OpeningHours | None:
    """The stored hours (None: not set, or a stored value that no longer reads)."""
    row = await db.get(WorkspaceValue, HOURS_KEY)
    if row is None:
        return None
    try:
        return parse_hours(json.loads(row.value))
    except (Invalid, ValueError):
        return None


async def set_opening_hours(db: AsyncSession, hours: OpeningHours | None) -> None:
    """Store the hours (None clears them) in the caller's transaction."""
    row = await db.get(WorkspaceValue, HOURS_KEY)
    if hours is None:
        if row is not None:
            await db.delete(row)
        return
    value = json.dumps(hours.as_dict(), sort_keys=True)
    if row is None:
        db.add(WorkspaceValue(key=HOURS_KEY, value=value))
    else:
        row.value = value


async def choose_opening_hours(ctx: Ctx, hours: OpeningHours | None) -> None:
    """Store the hours (None clears them), audited, and commit."""
    before = await opening_hours(ctx.db)
    await set_opening_hours(ctx.db, hours)
    audit.record_changes(
        ctx,
        action="settings.changed",
        subject="setting",
        name="opening_hours",
        before={"opening_hours": before.as_dict() if before else None},
        after={"opening_hours": hours.as_dict() if hours else None},
    )
    await ctx.commit()


def open_seconds(start: datetime, end: datetime, hours: OpeningHours | None, zone: ZoneInfo) -> int:
    """Seconds from ``start`` to ``end`` that fall in the opening hours (all of them when none
    are set), each day's hours read on that day's wall clock in ``zone``."""
    if end <= start:
        return 0
    if hours is None:
        return int((end - start).total_seconds())
    total = 0.0
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        span = hours.days[day.weekday()]
        if span is not None:
            # Wall-clock times: a day's 09:00 is 09:00 local whatever the offset that day.
            opens = datetime.combine(day, time(span.opens // 60, span.opens % 60), zone)
            closes = (
                datetime.combine(day + timedelta(days=1), time(0), zone)
                if span.closes == 24 * 60
                else datetime.combine(day, time(span.closes // 60, span.closes % 60), zone)
            )
            low, high = max(opens, start), min(closes, end)
            if high > low:
                total += (high - low).total_seconds()
        day += timedelta(days=1)
    return int(total)


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()
