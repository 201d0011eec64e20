"""Workspace settings: 一斉配信, broadcasts to a segment now, at a time, every day or every
week at a time, or on a cron schedule; each one's status and results (sent, failed, skipped,
a progress bar while sending), with pause, resume and cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.automation import templates
from madoguchi.broadcasts import segments, service
from madoguchi.broadcasts.models import Broadcast, BroadcastStatus
from madoguchi.channels import service as channels
from madoguchi.channels.models import ChannelKind
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui.settings_pages import N_, FormText, SettingsPage, act, add_page, as_id, translated

router = APIRouter()

WHEN = (
    ("now", N_("Now")),
    ("at", N_("At a date and time")),
    ("daily", N_("Every day at")),
    ("weekly", N_("Every week on")),
    ("cron", N_("Cron schedule")),
)
# cron's day of the week: 0 is Sunday.
WEEKDAYS = (
    ("1", N_("Monday")),
    ("2", N_("Tuesday")),
    ("3", N_("Wednesday")),
    ("4", N_("Thursday")),
    ("5", N_("Friday")),
    ("6", N_("Saturday")),
    ("0", N_("Sunday")),
)
STATUS_LABELS = {
    BroadcastStatus.scheduled: N_("Scheduled"),
    BroadcastStatus.sending: N_("Sending"),
    BroadcastStatus.done: N_("Done"),
    BroadcastStatus.paused: N_("Paused"),
    BroadcastStatus.cancelled: N_("Cancelled"),
}


async def _broadcasts(ctx: Ctx) -> dict[str, Any]:
    found = await service.list_broadcasts(ctx.db)
    counted = await service.counts(ctx.db, [b.id for b in found])
    segment_list = await segments.list_segments(ctx.db)
    template_list = await templates.list_templates(ctx.db)
    return {
        "broadcasts": [(b, counted[b.id]) for b in found],
        "segment_names": {s.id: s.name for s in segment_list},
        "template_names": {t.id: t.name for t in template_list},
        "segment_list": segment_list,
        "template_list": template_list,
        "email_channels": [
            c for c in await channels.list_channels(ctx.db) if c.kind == ChannelKind.email
        ],
        "when_choices": WHEN,
        "weekdays": WEEKDAYS,
        "status_labels": STATUS_LABELS,
        "local_times": {b.id: _local_times(b) for b in found},
        "sending": any(b.status == BroadcastStatus.sending for b in found),
        "default_timezone": service.DEFAULT_TIMEZONE,
    }


def _local_times(broadcast: Broadcast) -> dict[str, str]:
    """Its times as the owner reads them: in its own zone."""
    zone = service.zone_of(broadcast.timezone)

    def shown(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else ""

    return {"at": shown(broadcast.at), "next": shown(broadcast.next_run_at)}


BROADCASTS = SettingsPage("broadcasts", _broadcasts)

add_page(router, BROADCASTS)


def _time(typed: str) -> tuple[int, int]:
    hour, _, minute = typed.strip().partition(":")
    if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60):
        raise Invalid("Give the time as 12:00.")
    return int(hour), int(minute)


def schedule_of(
    when: str, at: str, time: str, weekday: str, cron: str
) -> tuple[datetime | None, str | None]:
    """(at, cron) from the form's choice."""
    if when == "at":
        try:
            return datetime.fromisoformat(at.strip()), None
        except ValueError:
            raise Invalid("Give the date and time to send.") from None
    if when == "daily":
        hour, minute = _time(time)
        return None, f"{minute} {hour} * * *"
    if when == "weekly":
        hour, minute = _time(time)
        if weekday not in {value for value, _ in WEEKDAYS}:
            raise Invalid("Choose the day of the week.")
        return None, f"{minute} {hour} * * {weekday}"
    if when == "cron":
        return None, cron
    return None, None


@router.post("/settings/broadcasts")
async def add_broadcast(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    segment: FormText = "",
    content: FormText = "text",
    text: FormText = "",
    template: FormText = "",
    when: FormText = "now",
    at: FormText = "",
    time: FormText = "",
    weekday: FormText = "1",
    cron: FormText = "",
    timezone: FormText = service.DEFAULT_TIMEZONE,
    via: FormText = "chat",
    channel: FormText = "",
    subject: FormText = "",
) -> Response:
    async def create() -> object:
        segment_id = as_id(segment)
        if segment_id is None:
            raise Invalid("Choose the segment to send to.")
        template_id = as_id(template) if content == "template" else None
        if content == "template" and template_id is None:
            raise Invalid("Choose the template to send.")
        send_at, schedule = schedule_of(when, at, time, weekday, cron)
        return await service.create_broadcast(
            ctx,
            new=service.NewBroadcast(
                segment_id=segment_id,
                text=None if content == "template" else text,
                template_id=template_id,
                at=send_at,
                cron=schedule,
                timezone=timezone.strip() or service.DEFAULT_TIMEZONE,
                via=via,
                channel_id=as_id(channel) if via == "email" else None,
                subject=subject,
            ),
            actor=member,
        )

    return await act(
        request,
        ctx,
        member,
        BROADCASTS,
        create,
        at="new-broadcast",
        notice=translated(member, N_("The broadcast is saved.")),
        draft={
            "segment": segment,
            "content": content,
            "text": text,
            "template": template,
            "when": when,
            "at": at,
            "time": time,
            "weekday": weekday,
            "cron": cron,
            "timezone": timezone,
            "via": via,
            "subject": subject,
        },
    )


@router.post("/settings/broadcasts/{broadcast_id}/{change}")
async def change_broadcast(
    broadcast_id: int, change: str, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Pause, resume or cancel."""
    changes = {"pause": service.pause, "resume": service.resume, "cancel": service.cancel}

    async def run() -> object:
        if change not in changes:
            raise Invalid("Unknown change.")
        return await changes[change](ctx, broadcast_id=broadcast_id)

    return await act(
        request, ctx, member, BROADCASTS, run, at=f"broadcast-{broadcast_id}", quiet=True
    )
