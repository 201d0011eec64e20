"""``/api/v1/conversations``: the inbox list, messages, read state; conversation tags and
scheduled messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse
from pydantic_core import to_json

from madoguchi.automation import templates
from madoguchi.channels import service as channels
from madoguchi.conversations import export, repository, scheduled, service, workflow
from madoguchi.conversations.repository import Cursor, InboxLine, InboxQuery, View
from madoguchi.conversations.schemas import (
    AssignIn,
    CloseIn,
    ConversationDetail,
    ConversationOut,
    ConversationPage,
    ConversationTagCreate,
    ConversationTagOut,
    FollowIn,
    MemberRef,
    MemoIn,
    MessageCreate,
    MessageList,
    MessageOut,
    ScheduledIn,
    ScheduledOut,
    ScheduledUpdate,
    SnoozeIn,
    TagIdsIn,
)
from madoguchi.crm import filters, records
from madoguchi.crm.params import FilterDep
from madoguchi.files import service as files
from madoguchi.kit.errors import Invalid
from madoguchi.kit.schemas import Items
from madoguchi.kit.web import CtxDep, attachment
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.members.service import ensure_manager

router = APIRouter(prefix="/api/v1", tags=["conversations"])


def conversation_json(line: InboxLine) -> dict[str, Any]:
    """A conversation as ``ConversationOut`` has it, built as plain values: validating and
    serialising fifty models was a third of the list's time (issue 14). The shape is the
    model's (tests compare them)."""
    row = line.row
    return {
        "id": row.id,
        "contact_id": row.contact_id,
        "channel_id": row.channel_id,
        "state": row.state,
        "memo": row.memo,
        "closed_at": row.closed_at,
        "reply_until": channels.reply_until(
            row.channel_kind,
            row.last_inbound_at,
            removed=row.channel_removed,
            demo=bool(row.channel_demo),
        ),
        "assignee_id": row.assignee_id,
        "snooze_until": row.snooze_until,
        "last_activity_at": row.last_activity_at,
        "last_message_kind": row.last_message_kind,
        "last_message_preview": row.last_message_preview,
        "unread": line.unread_count > 0,
        "unread_count": line.unread_count,
        "new_for_me": line.fresh,
        "contact": {
            "id": row.contact_id,
            "display_name": row.display_name,
            "channel_name": row.channel_name,
            "avatar_url": row.avatar_url,
            "status": _label(row.status_id, row.status_name, row.status_color),
            "mark": _label(row.mark_id, row.mark_name, row.mark_color),
            "tags": [{"id": tag_id, "name": name, "color": None} for tag_id, name in line.tags],
            "hidden": row.hidden,
        },
        "channel": {"id": row.channel_id, "kind": row.channel_kind, "name": row.channel_title},
    }


def _label(ident: int | None, name: str | None, color: str | None) -> dict[str, Any] | None:
    return None if ident is None else {"id": ident, "name": name, "color": color}


@router.get("/conversations", response_model=ConversationPage)
async def list_conversations(
    member: MemberDep,
    ctx: CtxDep,
    conditions: FilterDep,
    view: View = View.all,
    assignee: Annotated[str | None, Query(description='member id, "me" or "none"')] = None,
    limit: Annotated[int, Query(ge=1, le=repository.MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> Response:
    """The inbox list, newest activity first. Page on with ``cursor`` = the last ``next_cursor``."""
    if assignee is not None:
        conditions = [*conditions, *filters.from_params(assignee=assignee)]
    page = await repository.list_conversation_ids(
        ctx.db,
        member_id=member.id,
        query=InboxQuery(
            view=view,
            conditions=tuple(conditions),
            limit=limit,
            cursor=Cursor.decode(cursor) if cursor else None,
        ),
        timezone=ctx.settings.timezone,
    )
    lines = await repository.inbox_lines(ctx.db, member_id=member.id, ids=page.ids)
    # Serialised as built: the route's model documents the page (and tests hold them equal).
    return Response(
        to_json(
            {"items": [conversation_json(line) for line in lines], "next_cursor": page.next_cursor}
        ),
        media_type="application/json",
    )


# --- export (F45) ---------------------------------------------------------------------------

ExportFormatQuery = Annotated[str, Query(description="txt, csv or pdf")]
ExportNotesQuery = Annotated[bool, Query(description="internal notes, marked as notes")]
ExportEncodingQuery = Annotated[str, Query(description="CSV: utf-8 (with a BOM) or cp932")]
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/plain": {},
            "text/csv": {},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        }
    }
}


def _export_options(
    ctx: CtxDep, member: Member, format: str, notes: bool, encoding: str
) -> export.ExportOptions:
    return export.options_for(
        format,
        notes=notes,
        encoding=encoding,
        timezone=ctx.settings.timezone,
        language=member.language,
    )


def _download(made: export.Export) -> StreamingResponse:
    return attachment(made.chunks, media_type=made.media_type, filename=made.filename)


@router.get("/conversations/export", response_class=StreamingResponse, responses=EXPORT_RESPONSES)
async def export_conversations(
    member: MemberDep,
    ctx: CtxDep,
    conditions: FilterDep,
    view: View = View.all,
    assignee: Annotated[str | None, Query(description='member id, "me" or "none"')] = None,
    format: ExportFormatQuery = "csv",
    notes: ExportNotesQuery = True,
    encoding: ExportEncodingQuery = "utf-8",
) -> StreamingResponse:
    """Every conversation of the inbox with these filters (as ``GET /conversations`` takes
    them), streamed a page at a time; owners and admins, as the other exports."""
    ensure_manager(member)
    if assignee is not None:
        conditions = [*conditions, *filters.from_params(assignee=assignee)]
    made = await export.export_inbox(
        ctx.db,
        member_id=member.id,
        query=InboxQuery(view=view, conditions=tuple(conditions)),
        options=_export_options(ctx, member, format, notes, encoding),
        now=ctx.now(),
    )
    return _download(made)


@router.get(
    "/conversations/{conversation_id}/export",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
async def export_conversation(
    conversation_id: int,
    member: MemberDep,
    ctx: CtxDep,
    format: ExportFormatQuery = "txt",
    notes: ExportNotesQuery = True,
    encoding: ExportEncodingQuery = "utf-8",
) -> StreamingResponse:
    """One conversation as text, CSV or PDF (any member: they can read it in the inbox)."""
    conversation = await service.get_conversation(ctx.db, conversation_id=conversation_id)
    made = await export.export_conversation(
        ctx.db,
        conversation=conversation,
        member_id=member.id,
        options=_export_options(ctx, member, format, notes, encoding),
    )
    return _download(made)


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: int, member: MemberDep, ctx: CtxDep) -> ConversationOut:
    return await _item(ctx, member, conversation_id)


@router.get("/conversations/{conversation_id}/messages", response_model=MessageList)
async def list_messages(
    conversation_id: int,
    _member: MemberDep,
    ctx: CtxDep,
    before: int | None = None,
    after: int | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MessageList:
    """Oldest first: the latest ``limit``, those ``before`` an id, or those ``after`` one."""
    messages = await service.list_messages(
        ctx.db, conversation_id=conversation_id, before_id=before, after_id=after, limit=limit
    )
    images = await files.message_images(ctx.db, [m.id for m in messages])
    return MessageList(items=[MessageOut.of(m, images[m.id]) for m in messages])


@router.post(
    "/conversations/{conversation_id}/messages", response_model=MessageOut, status_code=201
)
async def post_message(
    conversation_id: int, body: MessageCreate, member: MemberDep, ctx: CtxDep
) -> MessageOut:
    """A reply (goes out through the conversation's channel; up to three ``image_ids``), an
    internal note (``@name`` makes that member a follower), or a template (``template_id``)."""
    if body.template_id is not None:
        if body.kind != "reply" or body.text.strip() or body.image_ids:
            raise Invalid("A template is sent alone, as a reply.")
        message = await templates.send_template(
            ctx, conversation_id=conversation_id, template_id=body.template_id, member=member
        )
    else:
        message = await service.send_message(
            ctx,
            conversation_id=conversation_id,
            member=member,
            text=body.text,
            kind=body.kind,
            image_ids=body.image_ids,
        )
    images = await files.message_images(ctx.db, [message.id])
    return MessageOut.of(message, images[message.id])


@router.get("/conversations/{conversation_id}/detail", response_model=ConversationDetail)
async def conversation_detail(
    conversation_id: int, _member: MemberDep, ctx: CtxDep
) -> ConversationDetail:
    """Memo, followers, conversation tags and the member link (F15)."""
    conversation = await service.get_conversation(ctx.db, conversation_id=conversation_id)
    followers = await workflow.followers(ctx.db, conversation_id=conversation_id)
    tags = await workflow.conversation_tags(ctx.db, conversation_id=conversation_id)
    return ConversationDetail(
        memo=conversation.memo,
        closed_at=conversation.closed_at,
        followers=[MemberRef.model_validate(f) for f in followers],
        tags=[ConversationTagOut.model_validate(t) for t in tags],
        member_link=f"{ctx.settings.base_url.rstrip('/')}/c/{conversation_id}",
    )


async def _item(ctx: CtxDep, member: MemberDep, conversation_id: int) -> ConversationOut:
    conversation = await service.get_conversation(ctx.db, conversation_id=conversation_id)
    [line] = await repository.inbox_lines(ctx.db, member_id=member.id, ids=[conversation.id])
    return ConversationOut.model_validate(conversation_json(line))


@router.post("/conversations/{conversation_id}/assign", response_model=ConversationOut)
async def assign(
    conversation_id: int, body: AssignIn, member: MemberDep, ctx: CtxDep
) -> ConversationOut:
    """Make a member the assignee (``null``: nobody); they are notified."""
    await workflow.assign(
        ctx, conversation_id=conversation_id, member_id=body.member_id, actor=member
    )
    return await _item(ctx, member, conversation_id)


@router.post("/conversations/{conversation_id}/become-assignee", response_model=ConversationOut)
async def become_assignee(conversation_id: int, member: MemberDep, ctx: CtxDep) -> ConversationOut:
    """担当者になる: 409 when a colleague already has it (follow instead)."""
    await workflow.become_assignee(ctx, conversation_id=conversation_id, actor=member)
    return await _item(ctx, member, conversation_id)


@router.post("/conversations/{conversation_id}/follow", response_model=ConversationOut)
async def follow(
    conversation_id: int,
    member: MemberDep,
    ctx: CtxDep,
    body: Annotated[FollowIn | None, Body()] = None,
) -> ConversationOut:
    """Follow (you, or ``member_id``)."""
    target = body.member_id if body and body.member_id is not None else member.id
    await workflow.follow(ctx, conversation_id=conversation_id, member_id=target, actor=member)
    return await _item(ctx, member, conversation_id)


@router.post("/conversations/{conversation_id}/unfollow", response_model=ConversationOut)
async def unfollow(
    conversation_id: int,
    member: MemberDep,
    ctx: CtxDep,
    body: Annotated[FollowIn | None, Body()] = None,
) -> ConversationOut:
    target = body.member_id if body and body.member_id is not None else member.id
    await workflow.unfollow(ctx, conversation_id=conversation_id, member_id=target, actor=member)
    return await _item(ctx, member, conversation_id)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationOut)
async def close(
    conversation_id: int,
    member: MemberDep,
    ctx: CtxDep,
    body: Annotated[CloseIn | None, Body()] = None,
) -> ConversationOut:
    """Close, optionally with conversation tags (``tag_ids``) and the memo (≤ 500)."""
    await workflow.close(
        ctx,
        conversation_id=conversation_id,
        actor=member,
        tag_ids=body.tag_ids if body else None,
        memo=body.memo if body else None,
    )
    return await _item(ctx, member, conversation_id)


@router.post("/conversations/{conversation_id}/reopen", response_model=ConversationOut)
async def reopen(conversation_id: int, member: MemberDep, ctx: CtxDep) -> ConversationOut:
    await workflow.reopen(ctx, conversation_id=conversation_id, actor=member)
    return await _item(ctx, member, conversation_id)


@router.post("/conversations/{conversation_id}/snooze", response_model=ConversationOut)
async def snooze(
    conversation_id: int, body: SnoozeIn, member: MemberDep, ctx: CtxDep
) -> ConversationOut:
    """Snooze until ``until`` (ISO 8601; without a zone it is Japan time); it wakes then, or
    when the customer writes."""
    until = records.aware(body.until, ctx.settings.timezone)
    await workflow.snooze(ctx, conversation_id=conversation_id, until=until, actor=member)
    return await _item(ctx, member, conversation_id)


@router.put("/conversations/{conversation_id}/memo", response_model=ConversationOut)
async def set_memo(
    conversation_id: int, body: MemoIn, member: MemberDep, ctx: CtxDep
) -> ConversationOut:
    await workflow.set_memo(ctx, conversation_id=conversation_id, memo=body.memo)
    return await _item(ctx, member, conversation_id)


@router.put("/conversations/{conversation_id}/tags", response_model=Items[ConversationTagOut])
async def set_tags(
    conversation_id: int, body: TagIdsIn, _member: MemberDep, ctx: CtxDep
) -> Items[ConversationTagOut]:
    found = await workflow.set_conversation_tags(
        ctx, conversation_id=conversation_id, tag_ids=body.ids
    )
    return Items(items=[ConversationTagOut.model_validate(t) for t in found])


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete permanently (永久削除): messages, images, scheduled sends and statistics go; an
    audit entry remains. Owners and admins only."""
    await workflow.delete_conversation(ctx, conversation_id=conversation_id, actor=member)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/read", status_code=204)
async def mark_read(conversation_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    await service.mark_read(ctx, conversation_id=conversation_id, member=member)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/unread", status_code=204)
async def mark_unread(conversation_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    await service.mark_unread(ctx, conversation_id=conversation_id, member=member)
    return Response(status_code=204)


@router.get("/conversation-tags", response_model=Items[ConversationTagOut])
async def list_conversation_tags(_member: MemberDep, ctx: CtxDep) -> Items[ConversationTagOut]:
    found = await workflow.list_conversation_tags(ctx.db)
    return Items(items=[ConversationTagOut.model_validate(t) for t in found])


@router.post("/conversation-tags", response_model=ConversationTagOut, status_code=201)
async def create_conversation_tag(
    body: ConversationTagCreate, member: MemberDep, ctx: CtxDep
) -> Any:
    ensure_manager(member)
    return await workflow.create_conversation_tag(ctx, name=body.name, color=body.color)


@router.delete("/conversation-tags/{tag_id}", status_code=204)
async def delete_conversation_tag(tag_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await workflow.delete_conversation_tag(ctx, tag_id=tag_id)
    return Response(status_code=204)


@router.get("/contacts/{contact_id}/scheduled-messages", response_model=Items[ScheduledOut])
async def list_scheduled(
    contact_id: int, _member: MemberDep, ctx: CtxDep, include_done: bool = False
) -> Items[ScheduledOut]:
    """The contact's pending scheduled messages, soonest first (``include_done`` for all)."""
    found = await scheduled.list_scheduled(ctx.db, contact_id=contact_id, include_done=include_done)
    return Items(items=[ScheduledOut.model_validate(s) for s in found])


@router.post(
    "/contacts/{contact_id}/scheduled-messages", response_model=ScheduledOut, status_code=201
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


@router.patch("/scheduled-messages/{scheduled_id}", response_model=ScheduledOut)
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


@router.delete("/scheduled-messages/{scheduled_id}", status_code=204)
async def cancel_scheduled(scheduled_id: int, _member: MemberDep, ctx: CtxDep) -> Response:
    await scheduled.cancel_scheduled(ctx, scheduled_id=scheduled_id)
    return Response(status_code=204)
