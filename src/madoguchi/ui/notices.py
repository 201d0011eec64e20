"""The member's notifications (F41): the bell in the top bar lists who assigned them a
conversation or mentioned them in an internal note; the browser's own notifications are the
page script's (``notification.created``), asked for only from a button."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from madoguchi.conversations import repository as conversation_repository
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.notifications import service as notifications
from madoguchi.ui.render import render_for
from madoguchi.ui.threads import member_names

router = APIRouter()
SHOWN = 20


@dataclass(frozen=True)
class NoticeItem:
    kind: str
    actor: str
    customer: str
    conversation_id: int | None
    at: datetime
    read: bool


@router.get("/ui/notifications")
async def notification_list(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """The bell's list, newest first (opening it marks them read: see the POST below)."""
    found = await notifications.list_notifications(ctx.db, member_id=member.id, limit=SHOWN)
    conversation_ids = {n.conversation_id for n in found if n.conversation_id}
    customers = await conversation_repository.customer_names(ctx.db, conversation_ids)
    names = await member_names(ctx)
    items = [
        NoticeItem(
            kind=n.kind,
            actor=names.get(n.actor_id or 0, ""),
            customer=customers.get(n.conversation_id or 0, ""),
            conversation_id=n.conversation_id,
            at=n.created_at,
            read=n.read_at is not None,
        )
        for n in found
    ]
    return render_for(request, ctx, member, "inbox/_notifications.html", notices=items)


@router.get("/ui/notifications/unread")
async def unread_count(member: MemberDep, ctx: CtxDep) -> Response:
    """How many notifications the member has not seen (the bell's badge)."""
    count = await notifications.unread_count(ctx.db, member_id=member.id)
    return PlainTextResponse(str(count))


@router.post("/ui/notifications/read")
async def mark_read(member: MemberDep, ctx: CtxDep) -> Response:
    await notifications.mark_all_read(ctx, member=member)
    return Response(status_code=204)
