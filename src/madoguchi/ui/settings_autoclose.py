"""Workspace settings: 自動クローズ, closing conversations left without a message."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.automation import autoclose
from madoguchi.channels import service as channels
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.settings_pages import N_, FormText, SettingsPage, act, add_page, translated

router = APIRouter()


async def _auto_close(ctx: Ctx) -> dict[str, Any]:
    workspace, own = await autoclose.settings(ctx.db)
    by_channel = {setting.channel_id: setting for setting in own}
    return {
        "workspace_close": workspace,
        "channel_closes": [
            (channel, by_channel.get(channel.id))
            for channel in await channels.list_channels(ctx.db)
        ],
        "close_message_limit": autoclose.MAX_MESSAGE,
        "close_hours_limit": autoclose.MAX_HOURS,
    }


AUTO_CLOSE = SettingsPage("auto_close", _auto_close)

add_page(router, AUTO_CLOSE)


def _hours(typed: str) -> int | None:
    """The hours as typed: empty is off."""
    typed = typed.strip()
    if not typed:
        return None
    if not typed.isdecimal() or len(typed) > 6:
        raise Invalid("Write the hours as a whole number, or leave it empty to turn it off.")
    return int(typed)


async def _save(
    request: Request,
    ctx: Ctx,
    member: Member,
    channel_id: int | None,
    hours: str,
    message: str,
) -> Response:
    """The workspace's setting (``channel_id`` None) or a channel's own, from its form."""

    async def change() -> object:
        return await autoclose.set_auto_close(
            ctx, after_hours=_hours(hours), message=message, channel_id=channel_id
        )

    return await act(
        request,
        ctx,
        member,
        AUTO_CLOSE,
        change,
        at="auto-close-workspace" if channel_id is None else f"auto-close-channel-{channel_id}",
        notice=translated(member, N_("Saved.")),
        draft={"hours": hours, "message": message},
    )


@router.post("/settings/auto-close")
async def save_workspace(
    request: Request, member: MemberDep, ctx: CtxDep, hours: FormText = "", message: FormText = ""
) -> Response:
    return await _save(request, ctx, member, None, hours, message)


@router.post("/settings/auto-close/channels/{channel_id}")
async def save_channel(
    channel_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    hours: FormText = "",
    message: FormText = "",
) -> Response:
    return await _save(request, ctx, member, channel_id, hours, message)


@router.post("/settings/auto-close/channels/{channel_id}/follow")
async def follow_workspace(
    channel_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    return await act(
        request,
        ctx,
        member,
        AUTO_CLOSE,
        lambda: autoclose.follow_workspace(ctx, channel_id=channel_id),
        at=f"auto-close-channel-{channel_id}",
        notice=translated(member, N_("This channel follows the workspace's setting again.")),
    )
