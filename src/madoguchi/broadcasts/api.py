"""``/api/v1/segments``, ``/api/v1/broadcasts``, and the public unsubscribe link of a
broadcast's mail."""

from __future__ import annotations

import contextlib
from html import escape
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from madoguchi.broadcasts import segments, sending, service, steps
from madoguchi.broadcasts.models import Broadcast
from madoguchi.broadcasts.schemas import (
    BroadcastIn,
    BroadcastOut,
    DeliveryOut,
    DeliveryPageOut,
    EnrollmentOut,
    SegmentIn,
    SegmentOut,
    SegmentPreview,
    SegmentPreviewIn,
    SegmentUpdate,
    SequenceIn,
    SequenceOut,
    SequenceUpdate,
)
from madoguchi.contacts import repository as contacts
from madoguchi.contacts import service as contacts_service
from madoguchi.contacts.schemas import ContactOut, ContactPageOut
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import NotFound
from madoguchi.kit.i18n import gettext_for
from madoguchi.kit.ids import MAX_ID
from madoguchi.kit.schemas import Items
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager
from madoguchi.workspace.service import signing_key

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])

PREVIEW_SIZE = 20


async def _out(ctx: Ctx, segment: segments.Segment) -> SegmentOut:
    size = await segments.size(ctx.db, segment, timezone=ctx.settings.timezone, now=ctx.now())
    return SegmentOut.of(segment, size)


@router.get("", response_model=Items[SegmentOut])
async def list_segments(_member: MemberDep, ctx: CtxDep) -> Items[SegmentOut]:
    """Every segment with how many contacts it holds now."""
    return Items(items=[await _out(ctx, s) for s in await segments.list_segments(ctx.db)])


@router.post("", response_model=SegmentOut, status_code=201)
async def create_segment(body: SegmentIn, member: MemberDep, ctx: CtxDep) -> SegmentOut:
    """A segment: a name and the filter language's conditions (at least one, at most 20;
    ``assignee`` ``me`` is refused, as a segment is the same for everyone). A condition on a
    field or record book that does not exist is 422; the same name twice 409."""
    ensure_manager(member)
    segment = await segments.create_segment(ctx, name=body.name, conditions=body.conditions)
    return await _out(ctx, segment)


@router.post("/preview", response_model=SegmentPreview)
async def preview_segment(
    body: SegmentPreviewIn, _member: MemberDep, ctx: CtxDep
) -> SegmentPreview:
    """What conditions would hold now, before they are saved: the count and the first 20."""
    conditions = body.conditions
    now, zone = ctx.now(), ctx.settings.timezone
    page = await segments.members_of(ctx.db, conditions, timezone=zone, now=now, limit=PREVIEW_SIZE)
    found = await contacts.details(ctx.db, page.contacts)
    return SegmentPreview(
        count=await segments.count(ctx.db, conditions, timezone=zone, now=now),
        items=[ContactOut.of(d) for d in found],
    )


@router.get("/{segment_id}", response_model=SegmentOut)
async def get_segment(segment_id: int, _member: MemberDep, ctx: CtxDep) -> SegmentOut:
    return await _out(ctx, await segments.get_segment(ctx.db, segment_id=segment_id))


@router.patch("/{segment_id}", response_model=SegmentOut)
async def update_segment(
    segment_id: int, body: SegmentUpdate, member: MemberDep, ctx: CtxDep
) -> SegmentOut:
    ensure_manager(member)
    segment = await segments.update_segment(
        ctx, segment_id=segment_id, name=body.name, conditions=body.conditions
    )
    return await _out(ctx, segment)


@router.delete("/{segment_id}", status_code=204)
async def delete_segment(segment_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await segments.delete_segment(ctx, segment_id=segment_id, actor=member)
    return Response(status_code=204)


@router.get("/{segment_id}/contacts", response_model=ContactPageOut)
async def segment_contacts(
    segment_id: int,
    _member: MemberDep,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=contacts.MAX_PAGE)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ContactPageOut:
    """The contacts it holds now, newest first; page on with ``cursor`` (``next_cursor``)."""
    segment = await segments.get_segment(ctx.db, segment_id=segment_id)
    page = await segments.members_of(
        ctx.db,
        segment.conditions,
        timezone=ctx.settings.timezone,
        now=ctx.now(),
        limit=limit,
        before_id=cursor,
    )
    found = await contacts.details(ctx.db, page.contacts)
    return ContactPageOut(items=[ContactOut.of(d) for d in found], next_cursor=page.next_cursor)


broadcasts_router = APIRouter(prefix="/api/v1/broadcasts", tags=["broadcasts"])


async def _broadcast_out(ctx: Ctx, broadcast: Broadcast) -> BroadcastOut:
    found = await service.counts(ctx.db, [broadcast.id])
    return BroadcastOut.of(broadcast, found[broadcast.id])


@broadcasts_router.get("", response_model=Items[BroadcastOut])
async def list_broadcasts(_member: MemberDep, ctx: CtxDep) -> Items[BroadcastOut]:
    """Every broadcast, newest first, with its status and its deliveries counted."""
    found = await service.list_broadcasts(ctx.db)
    counted = await service.counts(ctx.db, [b.id for b in found])
    return Items(items=[BroadcastOut.of(b, counted[b.id]) for b in found])


@broadcasts_router.post("", response_model=BroadcastOut, status_code=201)
async def create_broadcast(body: BroadcastIn, member: MemberDep, ctx: CtxDep) -> BroadcastOut:
    """A broadcast to a segment: ``text`` or ``template`` (one of them; ``{{name}}``,
    ``{{channel_name}}``, ``{{days_since_last_visit}}`` and profile fields' keys are filled in
    for each contact, an unknown one is 422); now (neither ``at`` nor ``cron``), at ``at``, or
    on the ``cron`` schedule read in ``timezone`` (IANA, Asia/Tokyo by default). ``via``
    ``chat`` (each contact's own channel) or ``email`` (contacts who opted in, through
    ``channel`` or the first e-mail channel, with ``subject``). A missing segment or template is
    404; a bad cron, zone, field or a time in the past 422."""
    ensure_manager(member)
    broadcast = await service.create_broadcast(
        ctx,
        new=service.NewBroadcast(
            segment_id=body.segment,
            text=body.text,
            template_id=body.template,
            at=body.at,
            cron=body.cron,
            timezone=body.timezone,
            via=body.via,
            channel_id=body.channel,
            subject=body.subject,
        ),
        actor=member,
    )
    return await _broadcast_out(ctx, broadcast)


@broadcasts_router.get("/{broadcast_id}", response_model=BroadcastOut)
async def get_broadcast(broadcast_id: int, _member: MemberDep, ctx: CtxDep) -> BroadcastOut:
    return await _broadcast_out(ctx, await service.get_broadcast(ctx.db, broadcast_id=broadcast_id))


@broadcasts_router.post("/{broadcast_id}/pause", response_model=BroadcastOut)
async def pause_broadcast(broadcast_id: int, member: MemberDep, ctx: CtxDep) -> BroadcastOut:
    """Stop sending and firing until resumed (409 when done or cancelled)."""
    ensure_manager(member)
    return await _broadcast_out(ctx, await service.pause(ctx, broadcast_id=broadcast_id))


@broadcasts_router.post("/{broadcast_id}/resume", response_model=BroadcastOut)
async def resume_broadcast(broadcast_id: int, member: MemberDep, ctx: CtxDep) -> BroadcastOut:
    """Send the rest; a schedule fires next at its next time from now (409 unless paused)."""
    ensure_manager(member)
    return await _broadcast_out(ctx, await service.resume(ctx, broadcast_id=broadcast_id))


@broadcasts_router.post("/{broadcast_id}/cancel", response_model=BroadcastOut)
async def cancel_broadcast(broadcast_id: int, member: MemberDep, ctx: CtxDep) -> BroadcastOut:
    """Stop for good: what was not sent yet is skipped (409 when done or cancelled)."""
    ensure_manager(member)
    return await _broadcast_out(ctx, await service.cancel(ctx, broadcast_id=broadcast_id))


@broadcasts_router.get("/{broadcast_id}/deliveries", response_model=DeliveryPageOut)
async def broadcast_deliveries(
    broadcast_id: int,
    _member: MemberDep,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> DeliveryPageOut:
    """Each occurrence's deliveries, newest first: ``sent``, ``failed`` (``detail``: why),
    ``skipped`` (``detail``: blocked, hidden, no channel, not opted in…) or ``pending``."""
    rows, next_cursor = await service.deliveries(
        ctx.db, broadcast_id=broadcast_id, limit=limit, before_id=cursor
    )
    return DeliveryPageOut(
        items=[
            DeliveryOut(
                contact_id=r.contact_id,
                occurrence=r.occurrence,
                status=cast(Any, r.status),
                detail=r.detail,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )


# --- step sequences (ステップ配信) ----------------------------------------------------------------

sequences_router = APIRouter(prefix="/api/v1/sequences", tags=["sequences"])


@sequences_router.get("", response_model=Items[SequenceOut])
async def list_sequences(_member: MemberDep, ctx: CtxDep) -> Items[SequenceOut]:
    """Every step sequence, with how many contacts are going through it now."""
    active = await steps.active_counts(ctx.db)
    return Items(
        items=[SequenceOut.of(s, active.get(s.id, 0)) for s in await steps.list_sequences(ctx.db)]
    )


@sequences_router.post("", response_model=SequenceOut, status_code=201)
async def create_sequence(body: SequenceIn, member: MemberDep, ctx: CtxDep) -> SequenceOut:
    """A step sequence: when ``trigger`` happens to a contact (``tag.added`` with ``tag``,
    ``first_message``, ``form.answered`` with ``form``, ``record.added`` with ``book``), send
    each step ``delay_seconds`` (0 to 365 days) after the one before, as ``text`` or
    ``template`` (one of them; ``{{name}}`` and profile fields filled in as in broadcasts);
    stop when the contact replies (``stop_on_reply``) or is no longer in the segment
    ``stop_unless_segment`` when a step is due. A missing tag, form, book, segment or template
    is 404; an unknown trigger, no steps, a bad delay, an empty text or both text and template
    422; the same name twice 409."""
    ensure_manager(member)
    sequence = await steps.create_sequence(
        ctx,
        name=body.name,
        trigger=body.trigger,
        steps=body.steps,
        stop_on_reply=body.stop_on_reply,
        stop_unless_segment=body.stop_unless_segment,
        enabled=body.enabled,
        actor=member,
    )
    return SequenceOut.of(sequence, 0)


async def _sequence_out(ctx: Ctx, sequence_id: int) -> SequenceOut:
    sequence = await steps.get_sequence(ctx.db, sequence_id=sequence_id)
    active = await steps.active_counts(ctx.db)
    return SequenceOut.of(sequence, active.get(sequence.id, 0))


@sequences_router.get("/{sequence_id}", response_model=SequenceOut)
async def get_sequence(sequence_id: int, _member: MemberDep, ctx: CtxDep) -> SequenceOut:
    return await _sequence_out(ctx, sequence_id)


@sequences_router.patch("/{sequence_id}", response_model=SequenceOut)
async def update_sequence(
    sequence_id: int, body: SequenceUpdate, member: MemberDep, ctx: CtxDep
) -> SequenceOut:
    """Change what is given; everything is checked again (switching it back on too, which
    clears ``off_reason``). ``stop_unless_segment`` null stops checking a segment. Who is
    enrolled keeps their step."""
    ensure_manager(member)
    await steps.update_sequence(
        ctx,
        sequence_id=sequence_id,
        changes=steps.SequenceChanges(
            name=body.name,
            trigger=body.trigger,
            steps=body.steps,
            stop_on_reply=body.stop_on_reply,
            stop_unless_segment=(
                body.stop_unless_segment
                if "stop_unless_segment" in body.model_fields_set
                else steps.KEEP
            ),
            enabled=body.enabled,
        ),
        actor=member,
    )
    return await _sequence_out(ctx, sequence_id)


@sequences_router.delete("/{sequence_id}", status_code=204)
async def delete_sequence(sequence_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """The sequence and who was going through it: nothing more is sent."""
    ensure_manager(member)
    await steps.delete_sequence(ctx, sequence_id=sequence_id, actor=member)
    return Response(status_code=204)


@sequences_router.get("/{sequence_id}/enrollments", response_model=Items[EnrollmentOut])
async def sequence_enrollments(
    sequence_id: int, _member: MemberDep, ctx: CtxDep
) -> Items[EnrollmentOut]:
    """Who is at which step (up to 500): those going through it first, soonest next step
    first, then the latest finished. ``step`` is how many messages were done; ``state``
    ``active``, ``done`` or ``stopped`` (``detail``: why, or why the last step failed)."""
    rows = await steps.list_enrollments(ctx.db, sequence_id=sequence_id)
    return Items(
        items=[
            EnrollmentOut(
                contact_id=r.enrollment.contact_id,
                contact_name=r.contact_name,
                step=r.enrollment.step,
                state=cast(Any, r.enrollment.state),
                next_at=r.enrollment.next_at,
                detail=r.enrollment.detail,
                started_at=r.enrollment.started_at,
            )
            for r in rows
        ]
    )


# --- the public unsubscribe link ------------------------------------------------------------

public_router = APIRouter(tags=["public"], include_in_schema=False)

_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;
line-height:1.6}}button{{font-size:1rem;padding:.6rem 1.2rem}}</style></head>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""


def _page(language: str, title: str, text: str, form: str = "", status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(lang=language, title=escape(title), text=escape(text), form=form),
        status_code=status,
    )


async def _signed(ctx: Ctx, contact_id: int, signature: str) -> bool:
    key = await signing_key(ctx.db)
    return 1 <= contact_id <= MAX_ID and sending.unsubscribe_signed(key, contact_id, signature)


@public_router.get(sending.UNSUBSCRIBE_PATH + "/{contact_id}/{signature}")
async def unsubscribe_page(contact_id: int, signature: str, ctx: CtxDep) -> HTMLResponse:
    """The link in a broadcast's mail: a page with one button (a link opened by a mail
    scanner must not unsubscribe anyone)."""
    language = ctx.settings.default_language
    _ = gettext_for(language).gettext
    if not await _signed(ctx, contact_id, signature):
        return _page(language, _("Unsubscribe"), _("This link is not valid."), status=404)
    form = f'<form method="post"><button type="submit">{escape(_("Unsubscribe"))}</button></form>'
    return _page(
        language,
        _("Unsubscribe"),
        _("Press the button to stop receiving these e-mails."),
        form,
    )


@public_router.post(sending.UNSUBSCRIBE_PATH + "/{contact_id}/{signature}")
async def unsubscribe(contact_id: int, signature: str, ctx: CtxDep) -> HTMLResponse:
    """One click (RFC 8058's ``List-Unsubscribe=One-Click`` POST, or the page's button): the
    contact no longer receives broadcasts by e-mail."""
    language = ctx.settings.default_language
    _ = gettext_for(language).gettext
    if not await _signed(ctx, contact_id, signature):
        return _page(language, _("Unsubscribe"), _("This link is not valid."), status=404)
    with contextlib.suppress(NotFound):  # deleted since: nothing to send to anyway
        await contacts_service.update_contact(
            ctx,
            contact_id=contact_id,
            changes=contacts_service.ContactChanges(mail_opt_in=False),
        )
    return _page(language, _("Unsubscribe"), _("You will no longer receive these e-mails."))
