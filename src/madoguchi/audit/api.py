"""``/api/v1/audit``: who changed what (owners and admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from madoguchi.audit import service as audit
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager

router = APIRouter(prefix="/api/v1", tags=["members"])


@router.get("/audit")
async def audit_log(
    member: MemberDep,
    ctx: CtxDep,
    member_id: Annotated[str | None, Query(alias="member", max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=50)] = None,
    start: Annotated[str | None, Query(alias="from", max_length=20)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=audit.MAX_PAGE_SIZE)] = audit.PAGE_SIZE,
) -> dict[str, Any]:
    """Who changed what, newest first (owners and admins): ``member`` (an id), ``kind`` (e.g.
    ``status.updated``), ``from``/``to`` (days, YYYY-MM-DD, in the workspace's zone, both
    included); ``cursor`` is the previous page's ``next_cursor``."""
    ensure_manager(member)
    query = await audit.parse_query(
        ctx.db,
        member=member_id,
        kind=kind,
        start=start,
        end=end,
        zone=ctx.settings.timezone,
    )
    page = await audit.list_page(ctx.db, query, cursor=cursor, limit=limit)
    return {
        "items": [audit.as_json(entry) for entry in page.entries],
        "next_cursor": page.next_cursor,
    }
