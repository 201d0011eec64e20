"""``/api/v1/audit``: who changed what (owners and admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from madoguchi.audit import service as audit
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager

router = APIRouter(prefix="/api/v1", tags=["members"])


@router.get("/audit")
async def audit_log(member: MemberDep, ctx: CtxDep) -> dict[str, Any]:
    """Who changed what (owners and admins)."""
    ensure_manager(member)
    entries = await audit.list_entries(ctx.db)
    return {
        "items": [
            {
                "id": e.id,
                "member_id": e.member_id,
                "member_name": e.member_name,
                "action": e.action,
                "subject": e.subject,
                "detail": e.detail,
                "at": e.at.isoformat(),
            }
            for e in entries
        ]
    }
