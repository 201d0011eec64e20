"""``/api/v1/segments``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from madoguchi.broadcasts import segments
from madoguchi.broadcasts.schemas import (
    SegmentIn,
    SegmentOut,
    SegmentPreview,
    SegmentPreviewIn,
    SegmentUpdate,
)
from madoguchi.contacts import repository as contacts
from madoguchi.contacts.schemas import ContactOut, ContactPageOut
from madoguchi.kit.context import Ctx
from madoguchi.kit.ids import MAX_ID
from madoguchi.kit.schemas import Items
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager

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
