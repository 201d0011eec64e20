"""一斉配信: a text or a template sent to a segment now, at a time, or on a schedule
(「毎日 12:00」 = ``0 12 * * *`` in Asia/Tokyo), through each contact's chat channel or by e-mail
to those who opted in.

Schedules are cron expressions read by croniter in the broadcast's IANA time zone (zoneinfo):
the next time is worked out in local time and then turned into UTC, so a daylight saving change
is the library's business, not ours. Everything is checked when saved (the segment, the template,
each ``{{field}}`` of the text, the cron, the zone, the e-mail channel): nothing half-stored.

The worker fires what is due (broadcasts.sending): each firing is an occurrence whose delivery
rows, one per contact, are written in one statement; then they are sent in batches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter
from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation.models import Template
from madoguchi.broadcasts.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastOccurrence,
    BroadcastStatus,
    DeliveryStatus,
    Segment,
    Via,
)
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.conversations.models import MAX_TEXT_LENGTH, Delivery, Message
from madoguchi.crm.models import Field
from madoguchi.events.types import BroadcastChanged
from madoguchi.forms import links as form_links
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.i18n import N_
from madoguchi.kit.text import storable
from madoguchi.members.models import Member

DEFAULT_TIMEZONE = "Asia/Tokyo"
MAX_SUBJECT = 200
# What a text may name besides the profile fields' keys.
BUILT_IN = ("name", "channel_name", "days_since_last_visit")
# {{key}} must name something; a single-brace {key} is the templates' older form, and anything
# else in single braces is left as written.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}|\{([A-Za-z_][\w.\-]*)\}")
# A recurring broadcast must not fire more often than this (a cron of every minute is a mistake).
MIN_INTERVAL = timedelta(hours=1)

# Why a contact is skipped (msgids; the screens translate them).
SKIP_BLOCKED = N_("Blocked")
SKIP_HIDDEN = N_("Hidden")
SKIP_NO_CHANNEL = N_("No chat channel")
SKIP_NOT_OPTED_IN = N_("Not opted in to e-mail")
SKIP_NO_EMAIL = N_("No e-mail address")
SKIP_CANCELLED = N_("Cancelled")
SKIP_REPLY_WINDOW = N_("Outside the channel's reply window")
SKIP_CHANNEL_OFF = N_("The channel is turned off or deleted")


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("%(zone)s is not a time zone (e.g. Asia/Tokyo).", zone=name) from None


def next_time(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first time after ``after`` the cron names, read in ``zone``, in UTC."""
    local = after.astimezone(zone)
    following = croniter(cron, local).get_next(datetime)
    return following.astimezone(UTC)


def check_cron(cron: str, zone: ZoneInfo, now: datetime) -> str:
    cron = " ".join(cron.split())
    if len(cron.split(" ")) != 5 or not croniter.is_valid(cron):
        raise Invalid(
            "%(cron)s is not a schedule: give five fields, minute hour day month weekday "
            "(e.g. 0 12 * * * for every day at 12:00).",
            cron=cron,
        )
    try:
        first = next_time(cron, zone, now)
        second = next_time(cron, zone, first)
    except (CroniterBadCronError, CroniterBadDateError, ValueError):
        raise Invalid("%(cron)s never comes.", cron=cron) from None
    if second - first < MIN_INTERVAL:
        raise Invalid("A recurring broadcast can go out at most once an hour.")
    return cron


def placeholders(text: str) -> list[tuple[str, bool]]:
    """Each name in braces, with whether it was written in double braces."""
    # finditer, not findall: findall gives "" (not None) for the group that did not match.
    return [
        (m.group(1), True) if m.group(1) is not None else (m.group(2), False)
        for m in PLACEHOLDER.finditer(text)
    ]


async def check_placeholders(db: AsyncSession, text: str) -> None:
    """Every {{name}} is a built-in, a profile field's key, or a form's link ({{form:<id>}}
    of a form that exists: forms.links)."""
    await form_links.check(db, text)
    keys = set(await db.scalars(select(Field.key)))
    for name, double in placeholders(text):
        if double and form_links.FORM_LINK.fullmatch("{{" + name + "}}"):
            continue
        if double and name not in BUILT_IN and name not in keys:
            raise Invalid(
                "The text names {{%(name)s}}, which is not a profile field: "
                "use name, channel_name, days_since_last_visit or a field's key.",
                name=name,
            )


def personalised(text: str, field_keys: set[str]) -> bool:
    """Whether the text differs from contact to contact (a form link is each one's own)."""
    return bool(form_links.named(text)) or any(
        double or name in BUILT_IN or name in field_keys for name, double in placeholders(text)
    )


@dataclass(frozen=True)
class Schedule:
    at: datetime | None
    cron: str | None
    timezone: str
    next_run_at: datetime


def _schedule(at: datetime | None, cron: str | None, timezone: str, now: datetime) -> Schedule:
    zone = zone_of(timezone)
    if at is not None and cron is not None:
        raise Invalid("Give at or cron, not both.")
    if cron is not None:
        cron = check_cron(cron, zone, now)
        return Schedule(
            at=None, cron=cron, timezone=timezone, next_run_at=next_time(cron, zone, now)
        )
    if at is not None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=zone)  # a time without offset is the broadcast's zone's
        at = at.astimezone(UTC)
        if at < now - timedelta(minutes=1):
            raise Invalid("The time to send is in the past.")
        return Schedule(at=at, cron=None, timezone=timezone, next_run_at=max(at, now))
    return Schedule(at=None, cron=None, timezone=timezone, next_run_at=now)


async def _email_channel(db: AsyncSession, channel_id: int | None) -> Channel:
    query = select(Channel).where(Channel.kind == ChannelKind.email, Channel.removed_at.is_(None))
    if channel_id is not None:
        query = query.where(Channel.id == channel_id)
    channel = await db.scalar(query.order_by(Channel.id).limit(1))
    if channel is None:
        if channel_id is not None:
            raise NotFound("No e-mail channel with id %(id)s.", id=channel_id)
        raise Invalid("Sending by e-mail needs an e-mail channel: add one in the settings first.")
    return channel


@dataclass(frozen=True)
class NewBroadcast:
    segment_id: int
    text: str | None = None
    template_id: int | None = None
    at: datetime | None = None
    cron: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    via: str = Via.chat
    channel_id: int | None = None
    subject: str = ""


async def create_broadcast(ctx: Ctx, *, new: NewBroadcast, actor: Member | None) -> Broadcast:
    if await ctx.db.get(Segment, new.segment_id) is None:
        raise NotFound("No segment with id %(id)s.", id=new.segment_id)
    if (new.text is None) == (new.template_id is None):
        raise Invalid("Give a text or a template, one of them.")
    text = ""
    if new.template_id is not None:
        template = await ctx.db.get(Template, new.template_id)
        if template is None:
            raise NotFound("No template with id %(id)s.", id=new.template_id)
        if not template.text.strip():
            raise Invalid("The template has no text: a broadcast sends text.")
        await check_placeholders(ctx.db, template.text)
    else:
        text = storable(new.text or "").strip()
        if not text:
            raise Invalid("The message is empty.")
        if len(text) > MAX_TEXT_LENGTH:
            raise Invalid("A message can be at most %(n)d characters.", n=MAX_TEXT_LENGTH)
        await check_placeholders(ctx.db, text)
    if new.via not in (Via.chat, Via.email):
        raise Invalid("via must be chat or email.")
    channel_id = None
    if new.via == Via.email:
        channel_id = (await _email_channel(ctx.db, new.channel_id)).id
    elif new.channel_id is not None:
        raise Invalid("A channel is chosen only for e-mail: chat goes through each contact's own.")
    subject = storable(new.subject).strip()
    if len(subject) > MAX_SUBJECT:
        raise Invalid("A subject can be at most %(n)d characters.", n=MAX_SUBJECT)
    schedule = _schedule(new.at, new.cron, new.timezone, ctx.now())
    broadcast = Broadcast(
        segment_id=new.segment_id,
        text=text,
        template_id=new.template_id,
        via=new.via,
        channel_id=channel_id,
        subject=subject,
        at=schedule.at,
        cron=schedule.cron,
        timezone=schedule.timezone,
        status=BroadcastStatus.scheduled,
        next_run_at=schedule.next_run_at,
        created_by=actor.id if actor else None,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(broadcast)
    await ctx.db.flush()
    segment = await ctx.db.get(Segment, new.segment_id)
    audit.record(
        ctx,
        action="broadcast.created",
        subject=f"broadcast {broadcast.id}",
        name=segment.name if segment else "",
        after={
            "recipients": segment.name if segment else None,
            "via": str(broadcast.via),
            "text": broadcast.text[:200] if broadcast.text else None,
            "template_id": broadcast.template_id,
            "starts_at": broadcast.at,
            "cron": broadcast.cron,
        },
    )
    await ctx.commit(BroadcastChanged(broadcast_id=broadcast.id))
    return broadcast


async def list_broadcasts(db: AsyncSession) -> list[Broadcast]:
    return list(await db.scalars(select(Broadcast).order_by(Broadcast.id.desc())))


async def get_broadcast(db: AsyncSession, *, broadcast_id: int) -> Broadcast:
    broadcast = await db.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise NotFound("No broadcast with id %(id)s.", id=broadcast_id)
    return broadcast


async def _open_deliveries(db: AsyncSession, broadcast_id: int) -> bool:
    found = await db.scalar(
        select(BroadcastDelivery.id)
        .join(BroadcastOccurrence, BroadcastOccurrence.id == BroadcastDelivery.occurrence_id)
        .where(
            BroadcastOccurrence.broadcast_id == broadcast_id,
            BroadcastDelivery.status.in_((DeliveryStatus.pending, DeliveryStatus.sending)),
        )
        .limit(1)
    )
    return found is not None


async def _locked(ctx: Ctx, broadcast_id: int) -> Broadcast:
    broadcast = await ctx.db.scalar(
        select(Broadcast).where(Broadcast.id == broadcast_id).with_for_update()
    )
    if broadcast is None:
        raise NotFound("No broadcast with id %(id)s.", id=broadcast_id)
    return broadcast


async def pause(ctx: Ctx, *, broadcast_id: int) -> Broadcast:
    """Stop sending (what is left of the occurrence waits) and stop firing."""
    broadcast = await _locked(ctx, broadcast_id)
    if broadcast.status in (BroadcastStatus.done, BroadcastStatus.cancelled):
        raise Conflict("This broadcast has finished or was cancelled: it cannot be paused.")
    await _audit_status(ctx, broadcast, "broadcast.paused", BroadcastStatus.paused)
    broadcast.status = BroadcastStatus.paused
    broadcast.updated_at = ctx.now()
    await ctx.commit(BroadcastChanged(broadcast_id=broadcast.id))
    return broadcast


async def _audit_status(
    ctx: Ctx, broadcast: Broadcast, action: str, status: BroadcastStatus
) -> None:
    segment = await ctx.db.get(Segment, broadcast.segment_id)
    audit.record(
        ctx,
        action=action,
        subject=f"broadcast {broadcast.id}",
        name=segment.name if segment else "",
        before={"status": str(broadcast.status)},
        after={"status": str(status)},
    )


async def resume(ctx: Ctx, *, broadcast_id: int) -> Broadcast:
    """Go on: the rest of the occurrence is sent; a schedule's times missed meanwhile are
    skipped, it fires next at its next time from now."""
    broadcast = await _locked(ctx, broadcast_id)
    if broadcast.status != BroadcastStatus.paused:
        raise Conflict("Only a paused broadcast can be resumed.")
    now = ctx.now()
    was = broadcast.status
    if broadcast.cron is not None and (
        broadcast.next_run_at is None or broadcast.next_run_at < now
    ):
        broadcast.next_run_at = next_time(broadcast.cron, zone_of(broadcast.timezone), now)
    if await _open_deliveries(ctx.db, broadcast.id):
        broadcast.status = BroadcastStatus.sending
    elif broadcast.next_run_at is None:
        broadcast.status = BroadcastStatus.done
    else:
        broadcast.status = BroadcastStatus.scheduled
    broadcast.updated_at = now
    resumed, broadcast.status = broadcast.status, was
    await _audit_status(ctx, broadcast, "broadcast.resumed", resumed)
    broadcast.status = resumed
    await ctx.commit(BroadcastChanged(broadcast_id=broadcast.id))
    return broadcast


async def cancel(ctx: Ctx, *, broadcast_id: int) -> Broadcast:
    """Stop for good: it fires no more, and what was not sent yet is skipped as cancelled (what
    a channel has in hand is left to finish)."""
    broadcast = await _locked(ctx, broadcast_id)
    if broadcast.status in (BroadcastStatus.done, BroadcastStatus.cancelled):
        raise Conflict("This broadcast has finished or was cancelled already.")
    occurrences = select(BroadcastOccurrence.id).where(
        BroadcastOccurrence.broadcast_id == broadcast.id
    )
    await ctx.db.execute(
        update(BroadcastDelivery)
        .where(
            BroadcastDelivery.occurrence_id.in_(occurrences),
            # Not yet claimed, or claimed by a process that died before LINE answered (a call
            # still under way has its lease, and records what LINE says).
            (BroadcastDelivery.status == DeliveryStatus.pending)
            | (
                (BroadcastDelivery.status == DeliveryStatus.sending)
                & (BroadcastDelivery.locked_until < ctx.now())
            ),
        )
        .values(status=DeliveryStatus.skipped, detail=SKIP_CANCELLED, locked_until=None)
    )
    await _audit_status(ctx, broadcast, "broadcast.cancelled", BroadcastStatus.cancelled)
    broadcast.status = BroadcastStatus.cancelled
    broadcast.next_run_at = None
    broadcast.updated_at = ctx.now()
    await ctx.commit(BroadcastChanged(broadcast_id=broadcast.id))
    return broadcast


def _effective_status() -> Any:
    """A delivery's status as a user means it: a reply handed to the outbox is sent when its
    message is, failed with the channel's reason when it failed; a claimed one is pending."""
    status = BroadcastDelivery.status
    return case(
        (status == DeliveryStatus.sending, DeliveryStatus.pending),
        (
            (status == DeliveryStatus.sent) & (Message.delivery == Delivery.failed),
            DeliveryStatus.failed,
        ),
        (
            (status == DeliveryStatus.sent) & (Message.delivery == Delivery.pending),
            DeliveryStatus.pending,
        ),
        else_=status,
    )


@dataclass(frozen=True)
class Counts:
    total: int = 0
    pending: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


async def counts(db: AsyncSession, broadcast_ids: list[int]) -> dict[int, Counts]:
    """Each broadcast's deliveries over all its occurrences, by status."""
    if not broadcast_ids:
        return {}
    status = _effective_status()
    rows = await db.execute(
        select(
            BroadcastOccurrence.broadcast_id,
            func.count(),
            *(
                func.sum(case((status == wanted, 1), else_=0))
                for wanted in (
                    DeliveryStatus.pending,
                    DeliveryStatus.sent,
                    DeliveryStatus.failed,
                    DeliveryStatus.skipped,
                )
            ),
        )
        .select_from(BroadcastDelivery)
        .join(BroadcastOccurrence, BroadcastOccurrence.id == BroadcastDelivery.occurrence_id)
        .outerjoin(Message, Message.id == BroadcastDelivery.message_id)
        .where(BroadcastOccurrence.broadcast_id.in_(broadcast_ids))
        .group_by(BroadcastOccurrence.broadcast_id)
    )
    found = {row[0]: Counts(*(int(value or 0) for value in row[1:])) for row in rows}
    return {broadcast_id: found.get(broadcast_id, Counts()) for broadcast_id in broadcast_ids}


@dataclass(frozen=True)
class DeliveryRow:
    contact_id: int
    occurrence: datetime
    status: str
    detail: str


async def deliveries(
    db: AsyncSession, *, broadcast_id: int, limit: int = 100, before_id: int | None = None
) -> tuple[list[DeliveryRow], int | None]:
    """Every occurrence's deliveries, newest first; the cursor for the next page."""
    await get_broadcast(db, broadcast_id=broadcast_id)
    query = (
        select(
            BroadcastDelivery.id,
            BroadcastDelivery.contact_id,
            BroadcastOccurrence.due_at,
            _effective_status(),
            BroadcastDelivery.detail,
            Message.delivery_error,
        )
        .join(BroadcastOccurrence, BroadcastOccurrence.id == BroadcastDelivery.occurrence_id)
        .outerjoin(Message, Message.id == BroadcastDelivery.message_id)
        .where(BroadcastOccurrence.broadcast_id == broadcast_id)
        .order_by(BroadcastDelivery.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        query = query.where(BroadcastDelivery.id < before_id)
    rows = list((await db.execute(query)).all())
    page = rows[:limit]
    shown = [
        DeliveryRow(
            contact_id=contact_id,
            occurrence=due_at,
            status=status,
            detail=(error or detail) if status == DeliveryStatus.failed else detail,
        )
        for _id, contact_id, due_at, status, detail, error in page
    ]
    next_cursor = page[-1][0] if len(rows) > limit else None
    return shown, next_cursor


def describe(broadcast: Broadcast) -> dict[str, Any]:
    """What the screens show of when it goes out."""
    return {"at": broadcast.at, "cron": broadcast.cron, "timezone": broadcast.timezone}
