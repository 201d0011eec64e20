"""Ordered lists (statuses, memos, …): positions set from a list of ids."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from madoguchi.kit.errors import Invalid


class Positioned(Protocol):
    id: Any
    position: Any


async def reorder(
    db: AsyncSession, model: type[Any], ids: list[int], *where: ColumnElement[bool]
) -> list[Any]:
    """Give the rows the order of ``ids``, which must name each of them exactly once."""
    rows = {row.id: row for row in await db.scalars(select(model).where(*where))}
    if sorted(ids) != sorted(rows) or len(set(ids)) != len(ids):
        raise Invalid("The order must list each item exactly once.")
    for position, row_id in enumerate(ids):
        rows[row_id].position = position
    return [rows[row_id] for row_id in ids]


async def next_position(
    db: AsyncSession, column: InstrumentedAttribute[int], *where: ColumnElement[bool]
) -> int:
    current = await db.scalar(select(func.max(column)).where(*where))
    return 0 if current is None else int(current) + 1
