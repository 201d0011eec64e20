"""The member's own devices that get Web Push notifications, on their settings page: listed
(``/ui/push/devices``, loaded into the page) and each removable. Subscribing happens in the
browser (static/js/push.js), through the API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.notifications import push
from madoguchi.ui.render import render_for

router = APIRouter()


async def _devices(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return render_for(
        request,
        ctx,
        member,
        "settings/_push_devices.html",
        devices=await push.subscriptions_of(ctx.db, member_id=member.id),
    )


@router.get("/ui/push/devices")
async def devices(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return await _devices(request, member, ctx)


@router.post("/ui/push/devices/{subscription_id}/delete")
async def remove_device(
    subscription_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """That device gets no more notifications (another member's: not found)."""
    await push.unsubscribe(ctx, member=member, subscription_id=subscription_id)
    return await _devices(request, member, ctx)
