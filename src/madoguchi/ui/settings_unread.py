"""Workspace settings: 未確認の扱い, whether 未確認 is the team's or each member's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui.settings_pages import N_, FormText, SettingsPage, act, add_page, translated
from madoguchi.workspace.unread import UnreadMode, choose_unread_mode, parse_mode, unread_mode

router = APIRouter()


async def _unread(ctx: Ctx) -> dict[str, Any]:
    return {"unread_mode": await unread_mode(ctx.db), "unread_modes": list(UnreadMode)}


UNREAD = SettingsPage("unread", _unread)

add_page(router, UNREAD)


@router.post("/settings/unread")
async def save_unread(
    request: Request, member: MemberDep, ctx: CtxDep, unread: FormText = ""
) -> Response:
    async def change() -> object:
        await choose_unread_mode(ctx, parse_mode(unread))
        return None

    return await act(
        request,
        ctx,
        member,
        UNREAD,
        change,
        at="unread-mode",
        notice=translated(member, N_("Saved.")),
    )
