"""Writing and reading the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit.models import AuditEntry
from madoguchi.kit.context import Ctx
from madoguchi.members.models import Member


def record(
    ctx: Ctx, *, actor: Member | None, action: str, subject: str, detail: dict[str, Any]
) -> AuditEntry:
    """Add an entry to the caller's transaction: it is kept exactly when the change is."""
    entry = AuditEntry(
        member_id=actor.id if actor else None,
        member_name=actor.name if actor else "",
        action=action,
        subject=subject,
        detail=detail,
        at=ctx.now(),
    )
    ctx.db.add(entry)
    return entry


async def list_entries(db: AsyncSession, *, limit: int = 100) -> list[AuditEntry]:
    return list(await db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
