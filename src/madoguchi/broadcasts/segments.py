"""セグメント: a named selection of contacts, such as 「初回来店から2日」 (the oldest 対応記録
dated two days ago), 「最終来店から30日」 or 「返信待ち」 (status), combined with tags (any, all,
none), marks, profile fields, channel and e-mail consent.

A segment keeps its conditions, not its contacts: who is in it is worked out when it is counted,
listed or sent to, by the one filter engine (crm.filters). Conditions are checked on every save
(a field or record book that does not exist is refused); one that stops making sense later (its
field was deleted) makes the segment say so instead of counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.broadcasts.models import Segment as Segment
from madoguchi.contacts import repository as contacts
from madoguchi.contacts.models import Contact
from madoguchi.crm import filters
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, DomainError, Invalid, NotFound
from madoguchi.kit.text import storable
from madoguchi.members.models import Member

MAX_NAME = 100
MAX_CONDITIONS = 20


def _context(timezone: str, now: datetime) -> filters.Context:
    return filters.Context(scope=filters.Scope.contact, member_id=None, timezone=timezone, now=now)


async def _checked(ctx: Ctx, raw: Any) -> list[dict[str, Any]]:
    """The conditions as given, once the filter engine has understood them."""
    conditions = filters.parse(raw)
    if not conditions:
        raise Invalid("A segment needs at least one condition.")
    if len(conditions) > MAX_CONDITIONS:
        raise Invalid("A segment can have at most %(n)d conditions.", n=MAX_CONDITIONS)
    for condition in conditions:
        if condition.field == "assignee" and condition.value == "me":
            raise Invalid("A segment is the same for every member: choose the member, not me.")
    await filters.compile_conditions(ctx.db, conditions, _context(ctx.settings.timezone, ctx.now()))
    return [{"field": c.field, "op": c.op, "value": c.value} for c in conditions]


def _name(name: str) -> str:
    name = storable(name).strip()
    if not name:
        raise Invalid("Give the segment a name.")
    if len(name) > MAX_NAME:
        raise Invalid("A segment's name can be at most %(n)d characters.", n=MAX_NAME)
    return name


async def _refuse_twin(ctx: Ctx, name: str, segment_id: int | None = None) -> None:
    twin = select(Segment.id).where(Segment.name == name)
    if segment_id is not None:
        twin = twin.where(Segment.id != segment_id)
    if await ctx.db.scalar(twin) is not None:
        raise Conflict("A segment named %(name)s already exists.", name=name)


async def list_segments(db: AsyncSession) -> list[Segment]:
    return list(await db.scalars(select(Segment).order_by(Segment.name, Segment.id)))


async def get_segment(db: AsyncSession, *, segment_id: int) -> Segment:
    segment = await db.get(Segment, segment_id)
    if segment is None:
        raise NotFound("No segment with id %(id)s.", id=segment_id)
    return segment


async def create_segment(ctx: Ctx, *, name: str, conditions: Any) -> Segment:
    name = _name(name)
    await _refuse_twin(ctx, name)
    segment = Segment(
        name=name,
        conditions=await _checked(ctx, conditions),
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(segment)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="segment.created",
        subject=f"segment {segment.id}",
        name=segment.name,
        after={"name": segment.name, "conditions": segment.conditions},
    )
    await ctx.commit()
    return segment


async def update_segment(
    ctx: Ctx, *, segment_id: int, name: str | None = None, conditions: Any = None
) -> Segment:
    segment = await get_segment(ctx.db, segment_id=segment_id)
    before = {"name": segment.name, "conditions": segment.conditions}
    if name is not None:
        segment.name = _name(name)
        await _refuse_twin(ctx, segment.name, segment.id)
    if conditions is not None:
        segment.conditions = await _checked(ctx, conditions)
    segment.updated_at = ctx.now()
    audit.record_changes(
        ctx,
        action="segment.updated",
        subject=f"segment {segment.id}",
        name=segment.name,
        before=before,
        after={"name": segment.name, "conditions": segment.conditions},
    )
    await ctx.commit()
    return segment


async def delete_segment(ctx: Ctx, *, segment_id: int, actor: Member | None) -> None:
    segment = await get_segment(ctx.db, segment_id=segment_id)
    audit.record(
        ctx,
        actor=actor,
        action="segment.deleted",
        subject=f"segment {segment.id}",
        name=segment.name,
        before={"name": segment.name, "conditions": segment.conditions},
        detail={"name": segment.name},
    )
    await ctx.db.delete(segment)
    await ctx.commit()


@dataclass(frozen=True)
class Size:
    """How many contacts a segment holds now, or why it cannot say."""

    count: int | None
    # Why it cannot be counted (a field or book in its conditions was deleted since).
    problem: DomainError | None = None


async def count(
    db: AsyncSession, conditions: list[dict[str, Any]], *, timezone: str, now: datetime
) -> int:
    where = (
        await filters.compile_conditions(db, filters.parse(conditions), _context(timezone, now))
    ).where
    return int(await db.scalar(select(func.count()).select_from(Contact).where(*where)) or 0)


async def size(db: AsyncSession, segment: Segment, *, timezone: str, now: datetime) -> Size:
    try:
        return Size(count=await count(db, segment.conditions, timezone=timezone, now=now))
    except DomainError as error:
        return Size(count=None, problem=error)


async def members_of(
    db: AsyncSession,
    conditions: list[dict[str, Any]],
    *,
    timezone: str,
    now: datetime,
    limit: int = 50,
    before_id: int | None = None,
) -> contacts.ContactPage:
    """The contacts it holds now, newest first (page on with ``before_id``)."""
    return await contacts.list_contacts(
        db,
        conditions=filters.parse(conditions),
        member_id=None,
        timezone=timezone,
        limit=limit,
        before_id=before_id,
        now=now,
    )


async def where_of(
    db: AsyncSession, conditions: list[dict[str, Any]], *, timezone: str, now: datetime
) -> list[ColumnElement[bool]]:
    """The conditions as a WHERE over contacts (a broadcast writes its deliveries from it)."""
    plan = await filters.compile_conditions(db, filters.parse(conditions), _context(timezone, now))
    return list(plan.where)
