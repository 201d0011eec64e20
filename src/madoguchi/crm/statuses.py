"""Support statuses (対応ステータス): the workspace's list and each contact's choice."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.crm.models import Status
from madoguchi.events.types import StatusesChanged
from madoguchi.kit.clean import clean_color, clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, NotFound
from madoguchi.kit.ids import is_id
from madoguchi.kit.ordering import next_position, reorder


async def list_statuses(db: AsyncSession) -> list[Status]:
    return list(await db.scalars(select(Status).order_by(Status.position, Status.id)))


async def get_status(db: AsyncSession, *, status_id: int) -> Status:
    status = await db.get(Status, status_id) if is_id(status_id) else None
    if status is None:
        raise NotFound("No status with id %(id)s.", id=status_id)
    return status


async def find_status(db: AsyncSession, ref: int | str) -> Status:
    """A status by id, or by its name."""
    if isinstance(ref, int):
        return await get_status(db, status_id=ref)
    status = await db.scalar(select(Status).where(Status.name == ref.strip()))
    if status is None:
        raise NotFound("No status named %(name)s.", name=ref)
    return status


async def _check_unique(db: AsyncSession, name: str, exclude: int | None = None) -> None:
    query = select(Status.id).where(Status.name == name)
    if exclude is not None:
        query = query.where(Status.id != exclude)
    if await db.scalar(query) is not None:
        raise Conflict("A status named %(name)s already exists.", name=name)


async def create_status(ctx: Ctx, *, name: str, color: str = "#64748b") -> Status:
    name = clean_name(name)
    await _check_unique(ctx.db, name)
    status = Status(
        name=name, color=clean_color(color), position=await next_position(ctx.db, Status.position)
    )
    ctx.db.add(status)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="status.created",
        subject=f"status {status.id}",
        name=status.name,
        after={"name": status.name, "color": status.color},
    )
    await ctx.commit(StatusesChanged(status_id=status.id))
    return status


async def update_status(
    ctx: Ctx, *, status_id: int, name: str | None = None, color: str | None = None
) -> Status:
    status = await get_status(ctx.db, status_id=status_id)
    before = {"name": status.name, "color": status.color}
    if name is not None:
        name = clean_name(name)
        await _check_unique(ctx.db, name, exclude=status.id)
        status.name = name
    if color is not None:
        status.color = clean_color(color)
    audit.record_changes(
        ctx,
        action="status.updated",
        subject=f"status {status.id}",
        name=status.name,
        before=before,
        after={"name": status.name, "color": status.color},
    )
    await ctx.commit(StatusesChanged(status_id=status.id))
    return status


async def delete_status(ctx: Ctx, *, status_id: int) -> None:
    """Delete a status; contacts that had it are left with none."""
    status = await get_status(ctx.db, status_id=status_id)
    audit.record(
        ctx,
        action="status.deleted",
        subject=f"status {status.id}",
        name=status.name,
        before={"name": status.name, "color": status.color},
    )
    await ctx.db.delete(status)
    await ctx.commit(StatusesChanged(status_id=status_id))


async def reorder_statuses(ctx: Ctx, *, ids: list[int]) -> list[Status]:
    before = [status.name for status in await list_statuses(ctx.db)]
    statuses = await reorder(ctx.db, Status, ids)
    audit.record_changes(
        ctx,
        action="status.reordered",
        subject="status",
        before={"order": before},
        after={"order": [status.name for status in statuses]},
    )
    await ctx.commit(StatusesChanged())
    return statuses
