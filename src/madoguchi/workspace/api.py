"""``/api/v1/workspace``: settings of the whole workspace (whose 未確認 the lists show, the
shop's opening hours)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager
from madoguchi.workspace.hours import choose_opening_hours, opening_hours, parse_hours
from madoguchi.workspace.unread import UnreadMode, choose_unread_mode, unread_mode

router = APIRouter(prefix="/api/v1", tags=["workspace"])


class SpanOut(BaseModel):
    open: str
    close: str


class WorkspaceOut(BaseModel):
    # ``team``: one 未確認 per conversation for everyone; ``member``: each member's own.
    unread: UnreadMode
    # Per weekday (mon…sun), a span or null (closed); null as a whole: not set (every hour counts).
    opening_hours: dict[str, SpanOut | None] | None
    # The zone opening hours and statistics' days are read in (IANA name).
    time_zone: str


class WorkspacePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: UnreadMode | None = None
    # Given as null: clear the opening hours.
    opening_hours: dict[str, Any] | None = None


async def _out(ctx: Ctx) -> WorkspaceOut:
    hours = await opening_hours(ctx.db)
    return WorkspaceOut.model_validate(
        {
            "unread": await unread_mode(ctx.db),
            "opening_hours": hours.as_dict() if hours else None,
            "time_zone": ctx.settings.timezone,
        }
    )


@router.get("/workspace")
async def get_workspace(member: MemberDep, ctx: CtxDep) -> WorkspaceOut:
    """The workspace's settings (every member may read them)."""
    return await _out(ctx)


@router.patch("/workspace")
async def update_workspace(body: WorkspacePatch, member: MemberDep, ctx: CtxDep) -> WorkspaceOut:
    """Change what is given (owners and admins): ``unread`` is ``team`` (the default) or
    ``member``; ``opening_hours`` is ``{"mon": {"open": "09:00", "close": "18:00"}, "tue": null,
    …}`` (a day left out or null: closed; ``"24:00"`` closes at midnight), or null to clear them.
    Statistics count response and resolution times in these hours from now on; ``madoguchi
    stats rebuild`` counts the past again with them."""
    ensure_manager(member)
    if "opening_hours" in body.model_fields_set:
        hours = parse_hours(body.opening_hours)
        if body.unread is not None:
            await choose_unread_mode(ctx, body.unread, commit=False)
        await choose_opening_hours(ctx, hours)
    elif body.unread is not None:
        await choose_unread_mode(ctx, body.unread)
    return await _out(ctx)
