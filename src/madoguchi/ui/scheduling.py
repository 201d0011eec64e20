"""送信予約 in the customer panel (F13): the pending scheduled messages (at most three), and
adding, editing and cancelling them. The panel's ``scheduled`` part shows them (``ui.panel``);
these routes change them through ``conversations.scheduled`` and answer the part again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from madoguchi.contacts import service as contacts
from madoguchi.conversations import scheduled
from madoguchi.conversations.models import ScheduledMessage
from madoguchi.crm import records
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui import forms
from madoguchi.ui.composing import image_json
from madoguchi.ui.contacts import part_response
from madoguchi.ui.panel import Place, local_input_value, place_of
from madoguchi.ui.present import SnoozePreset, snooze_time
from madoguchi.ui.render import render_for

router = APIRouter()
PART = "scheduled"


async def _form(
    request: Request,
    ctx: Ctx,
    member: Member,
    *,
    contact_id: int,
    place: Place,
    editing: ScheduledMessage | None,
) -> Response:
    await contacts.get_contact(ctx.db, contact_id=contact_id)
    if editing is not None:
        at = editing.at
        images = await files.images(ctx.db, list(editing.image_ids))
    else:
        # Tomorrow morning, the time a salon usually sends a reminder.
        zone = ZoneInfo(ctx.settings.timezone)
        at = snooze_time(SnoozePreset.tomorrow, ctx.now(), zone).replace(hour=10)
        images = []
    return render_for(
        request,
        ctx,
        member,
        "contacts/_scheduled_form.html",
        contact_id=contact_id,
        editing=editing,
        at=local_input_value(at, ctx.settings.timezone),
        earliest=local_input_value(ctx.now(), ctx.settings.timezone),
        images=[image_json(image) for image in images],
        place=place,
    )


@router.get("/ui/contacts/{contact_id}/scheduled/new")
async def new_form(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep, place: str | None = None
) -> Response:
    """「予約を追加」: the text, the date and time (Japan time), and images if wanted."""
    return await _form(
        request, ctx, member, contact_id=contact_id, place=place_of(place), editing=None
    )


@router.get("/ui/contacts/{contact_id}/scheduled/{scheduled_id}/edit")
async def edit_form(
    contact_id: int,
    scheduled_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    place: str | None = None,
) -> Response:
    editing = await scheduled.get_scheduled(
        ctx.db, contact_id=contact_id, scheduled_id=scheduled_id
    )
    return await _form(
        request, ctx, member, contact_id=contact_id, place=place_of(place), editing=editing
    )


def _at(form: FormData, ctx: Ctx) -> datetime:
    """The time to send, given in Japan time."""
    return records.aware(forms.parse_local(forms.text(form, "at")), ctx.settings.timezone)


async def _change(
    request: Request,
    ctx: Ctx,
    member: Member,
    contact_id: int,
    change: Callable[[FormData], Awaitable[object]],
) -> Response:
    """Make one change through ``conversations.scheduled`` and answer the part again."""
    form = await request.form()
    await change(form)
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part=PART,
        place=place_of(forms.text(form, "place")),
        saved=True,
    )


@router.post("/ui/contacts/{contact_id}/scheduled")
async def create(contact_id: int, request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """Schedule a message; a fourth waiting one is refused with the reason."""

    async def change(form: FormData) -> object:
        return await scheduled.schedule(
            ctx,
            contact_id=contact_id,
            text=forms.text(form, "text") or "",
            at=_at(form, ctx),
            image_ids=forms.ids(form, "image_ids"),
            author=member,
        )

    return await _change(request, ctx, member, contact_id, change)


@router.post("/ui/contacts/{contact_id}/scheduled/{scheduled_id}")
async def update(
    contact_id: int, scheduled_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """A waiting message with a new text, time or images (one already sent cannot change)."""

    async def change(form: FormData) -> object:
        await scheduled.get_scheduled(ctx.db, contact_id=contact_id, scheduled_id=scheduled_id)
        return await scheduled.update_scheduled(
            ctx,
            scheduled_id=scheduled_id,
            text=forms.text(form, "text") or "",
            at=_at(form, ctx),
            image_ids=forms.ids(form, "image_ids"),
        )

    return await _change(request, ctx, member, contact_id, change)


@router.post("/ui/contacts/{contact_id}/scheduled/{scheduled_id}/cancel")
async def cancel(
    contact_id: int, scheduled_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    async def change(_form: FormData) -> object:
        await scheduled.get_scheduled(ctx.db, contact_id=contact_id, scheduled_id=scheduled_id)
        return await scheduled.cancel_scheduled(ctx, scheduled_id=scheduled_id)

    return await _change(request, ctx, member, contact_id, change)
