"""Conversation tags, scheduled messages, notifications and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from madoguchi.audit import service as audit
from madoguchi.conversations import scheduled, workflow
from madoguchi.conversations.schemas import (
    ConversationTagCreate,
    ConversationTagOut,
    ScheduledIn,
    ScheduledOut,
    ScheduledUpdate,
)
from madoguchi.crm import records
from madoguchi.crm.schemas import Items
from madoguchi.kit.web import CtxDep, MemberDep
from madoguchi.members.service import ensure_manager
from madoguchi.notifications import service as notifications

router = APIRouter(prefix="/api/v1")


@router.get("/conversation-tags", response_model=Items[ConversationTagOut], tags=["conversations"])
async def list_conversation_tags(_member: MemberDep, ctx: CtxDep) -> Items[ConversationTagOut]:
    found = await workflow.list_conversation_tags(ctx.db)
    return Items(items=[ConversationTagOut.model_validate(t) for t in found])


@router.post(
    "/conversation-tags", response_model=ConversationTagOut, status_code=201, tags=["conversations"]
)
async def create_conversation_tag(
    body: ConversationTagCreate, member: MemberDep, ctx: CtxDep
) -> Any:
    ensure_manager(member)
    return await workflow.create_conversation_tag(ctx, name=body.name, color=body.color)


@router.delete("/conversation-tags/{tag_id}", status_code=204, tags=["conversations"])
async def delete_conversation_tag(tag_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await workflow.delete_conversation_tag(ctx, tag_id=tag_id)
    return Response(status_code=204)


@router.get(
    "/contacts/{contact_id}/scheduled-messages",
    response_model=Items[ScheduledOut],
    tags=["conversations"],
)
async def list_scheduled(
    contact_id: int, _member: MemberDep, ctx: CtxDep, include_done: bool = False
) -> Items[ScheduledOut]:
    """The contact's pending scheduled messages, soonest first (``include_done`` for all)."""
    found = await scheduled.list_scheduled(ctx.db, contact_id=contact_id, include_done=include_done)
    return Items(items=[ScheduledOut.model_validate(s) for s in found])


@router.post(
    "/contacts/{contact_id}/scheduled-messages",
    response_model=ScheduledOut,
    status_code=201,
    tags=["conversations"],
)
async def create_scheduled(
    contact_id: int, body: ScheduledIn, member: MemberDep, ctx: CtxDep
) -> Any:
    """Schedule a message (``at`` in ISO 8601; without a zone it is Japan time); at most three
    wait per contact."""
    return await scheduled.schedule(
        ctx,
        contact_id=contact_id,
        text=body.text,
        at=records.aware(body.at, ctx.settings.timezone),
        image_ids=body.image_ids,
        author=member,
    )


@router.patch(
    "/scheduled-messages/{scheduled_id}", response_model=ScheduledOut, tags=["conversations"]
)
async def update_scheduled(
    scheduled_id: int, body: ScheduledUpdate, _member: MemberDep, ctx: CtxDep
) -> Any:
    return await scheduled.update_scheduled(
        ctx,
        scheduled_id=scheduled_id,
        text=body.text,
        at=None if body.at is None else records.aware(body.at, ctx.settings.timezone),
        image_ids=body.image_ids,
    )


@router.delete("/scheduled-messages/{scheduled_id}", status_code=204, tags=["conversations"])
async def cancel_scheduled(scheduled_id: int, _member: MemberDep, ctx: CtxDep) -> Response:
    await scheduled.cancel_scheduled(ctx, scheduled_id=scheduled_id)
    return Response(status_code=204)


@router.get("/notifications", tags=["members"])
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


@router.post("/notifications/read", status_code=204, tags=["members"])
async def read_notifications(member: MemberDep, ctx: CtxDep) -> Response:
    await notifications.mark_all_read(ctx, member=member)
    return Response(status_code=204)


@router.get("/audit", tags=["members"])
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
