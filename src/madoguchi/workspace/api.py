"""``/api/v1/workspace``: settings of the whole workspace (whose 未確認 the lists show)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager
from madoguchi.workspace.unread import UnreadMode, choose_unread_mode, unread_mode

router = APIRouter(prefix="/api/v1", tags=["workspace"])


class WorkspaceOut(BaseModel):
    # ``team``: one 未確認 per conversation for everyone; ``member``: each member's own.
    unread: UnreadMode


class WorkspacePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unread: UnreadMode | None = None


@router.get("/workspace")
async def get_workspace(member: MemberDep, ctx: CtxDep) -> WorkspaceOut:
    """The workspace's settings (every member may read them)."""
    return WorkspaceOut(unread=await unread_mode(ctx.db))


@router.patch("/workspace")
async def update_workspace(body: WorkspacePatch, member: MemberDep, ctx: CtxDep) -> WorkspaceOut:
    """Change what is given (owners and admins): ``unread`` is ``team`` (the default) or
    ``member``."""
    ensure_manager(member)
    if body.unread is not None:
        await choose_unread_mode(ctx, body.unread)
    return WorkspaceOut(unread=await unread_mode(ctx.db))
