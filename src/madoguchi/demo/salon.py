"""The demo salon both loaders share: its opening hours (Japan time), members and channels."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from madoguchi.channels import service as channels
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.crm import fields, statuses
from madoguchi.crm.defaults import DEFAULT_STATUSES
from madoguchi.crm.models import Field
from madoguchi.demo.script import FIELDS
from madoguchi.kit.context import Ctx
from madoguchi.members.models import Member, Role

OPENS = time(10, 0)
CLOSES = time(20, 0)
CLOSED_WEEKDAY = 1  # 火曜定休


def salon_zone(ctx: Ctx) -> tzinfo:
    return ZoneInfo(ctx.settings.timezone)


def in_salon_hours(at: datetime) -> datetime:
    """When staff can answer something that arrives at ``at`` (local time)."""
    day = at.date()
    if at.weekday() != CLOSED_WEEKDAY and OPENS <= at.time() < CLOSES:
        return at
    if at.time() >= CLOSES:
        day += timedelta(days=1)
    if day.weekday() == CLOSED_WEEKDAY:
        day += timedelta(days=1)
    # A few minutes after opening, varying with the original minute.
    return datetime.combine(day, OPENS, at.tzinfo) + timedelta(minutes=4 + at.minute % 23)


def timeline(
    *, first_day: date, start: time, steps: Sequence[tuple[bool, int]], zone: tzinfo, now: datetime
) -> list[datetime]:
    """UTC times for ``steps`` of (by staff, minutes after the previous one), the first at
    ``start`` on ``first_day`` or as many days earlier as it takes to end before ``now``."""
    latest = now - timedelta(minutes=1)
    for days_back in range(60):
        at = datetime.combine(first_day - timedelta(days=days_back), start, zone)
        times: list[datetime] = []
        for index, (by_staff, delay) in enumerate(steps):
            if index:
                at += timedelta(minutes=delay)
            if by_staff:
                at = in_salon_hours(at)
            times.append(at.astimezone(UTC))
        if times[-1] <= latest:
            return times
    raise ValueError("steps too long to fit before now")


# --- members and channels -------------------------------------------------------------------


@dataclass(frozen=True)
class Staff:
    member: Member
    # The name used in 【担当者】 display names and in @mentions.
    short_name: str


# key (the scripts' name for them), e-mail, name, role. Stylists go by their given names, as
# in 【美咲】 display names and @美咲 mentions; the owner is 店長 in display names.
SALON_MEMBERS = (
    ("owner", "owner@example.com", "中村 恵", Role.owner),
    ("misaki", "misaki@example.com", "美咲", Role.agent),
    ("shota", "shota@example.com", "翔太", Role.agent),
)

SALON_CHANNELS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    (ChannelKind.line, "ルミエール公式LINE", {}),
    (ChannelKind.instagram, "Instagram @lumiere_hair", {}),
    (
        ChannelKind.email,
        "メール info@lumiere-hair.example",
        {"address": "info@lumiere-hair.example"},
    ),
    (ChannelKind.web, "ホームページ チャット", {}),
    (ChannelKind.api, "予約フォーム（API連携）", {}),
)


async def demo_channels(ctx: Ctx) -> dict[str, Channel]:
    """A demo channel of every kind: the existing ones first, made when missing."""
    found: dict[str, Channel] = {}
    for channel in await channels.list_channels(ctx.db):
        if channel.settings.get("demo") and channel.kind not in found:
            found[channel.kind] = channel
    for kind, name, settings in SALON_CHANNELS:
        if kind not in found:
            found[kind] = await channels.create_channel(
                ctx, kind=kind, name=name, settings={**settings, "demo": True}
            )
    return found


async def demo_fields(ctx: Ctx, keys: Collection[str] | None = None) -> dict[str, Field]:
    """The salon's profile fields (``script.FIELDS``, or those of ``keys``) by key, each made
    in its folder where missing."""
    found: dict[str, Field] = {}
    for folder, key, label, kind, choices, shown in FIELDS:
        if keys is not None and key not in keys:
            continue
        field = await ctx.db.scalar(select(Field).where(Field.key == key))
        if field is None:
            field = await fields.create_field(
                ctx,
                key=key,
                label=label,
                type=kind,
                folder=folder,
                options=list(choices),
                show_in_chat=shown,
            )
        found[key] = field
    return found


async def default_status_ids(ctx: Ctx) -> dict[str, int]:
    """The default statuses (未対応, 対応中, 連絡待ち, 完了) by name, made again if missing."""
    found = {status.name: status.id for status in await statuses.list_statuses(ctx.db)}
    for name, color in DEFAULT_STATUSES:
        if name not in found:
            found[name] = (await statuses.create_status(ctx, name=name, color=color)).id
    return found
