"""``/api/v1/notifications``: a member's own notifications."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.notifications import service as notifications

router = APIRouter(prefix="/api/v1", tags=["members"])


@router.get("/notifications")
async def list_notifications(
    member: MemberDep, ctx: CtxDep, unread_only: bool = False
) -> dict[str, Any]:
    """Your notifications, newest first: ``assigned`` and ``mentioned``."""
    found = await notifications.list_notifications(
        ctx.db, member_id=member.id, unread_only=unread_only
    )
    return {
        "items": [
            {
                "id": n.id,
                "kind": n.kind,
                "conversation_id": n.conversation_id,
                "message_id": n.message_id,
                "actor_id": n.actor_id,
                "created_at": n.created_at.isoformat(),
                "read": n.read_at is not None,
            }
            for n in found
        ]
    }


@router.post("/notifications/read", status_code=204)
async def read_notifications(member: MemberDep, ctx: CtxDep) -> Response:
    await notifications.mark_all_read(ctx, member=member)
    return Response(status_code=204)
