"""``/api/v1/conversations``: the inbox list, messages, read state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from madoguchi.conversations import repository, service
from madoguchi.conversations.models import Message
from madoguchi.conversations.repository import Cursor, InboxItem, InboxQuery, View
from madoguchi.conversations.schemas import (
    ChannelSummary,
    ContactSummary,
    ConversationOut,
    ConversationPage,
    Label,
    MessageCreate,
    MessageList,
    MessageOut,
)
from madoguchi.crm import filters
from madoguchi.kit.web import CtxDep, MemberDep

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])


def conversation_out(item: InboxItem) -> ConversationOut:
    conversation, contact, channel = item.conversation, item.contact, item.channel
    return ConversationOut(
        id=conversation.id,
        contact_id=conversation.contact_id,
        channel_id=conversation.channel_id,
        state=conversation.state,
        assignee_id=conversation.assignee_id,
        snooze_until=conversation.snooze_until,
        last_activity_at=conversation.last_activity_at,
        last_message_kind=conversation.last_message_kind,
        last_message_preview=conversation.last_message_preview,
        unread=item.unread,
        unread_count=item.unread_count,
        contact=ContactSummary(
            id=contact.id,
            display_name=contact.display_name,
            channel_name=contact.channel_name,
            avatar_url=contact.avatar_url,
            status=Label(id=item.status.id, name=item.status.name, color=item.status.color)
            if item.status
            else None,
            mark=Label(id=item.mark.id, name=item.mark.name, color=item.mark.color)
            if item.mark
            else None,
            tags=[Label(id=tag.id, name=tag.name) for tag in item.tags],
        ),
        channel=ChannelSummary(id=channel.id, kind=channel.kind, name=channel.name),
    )


@router.get("", response_model=ConversationPage)
async def list_conversations(
    member: MemberDep,
    ctx: CtxDep,
    view: View = View.all,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[list[str] | None, Query(description="tag id or name (repeatable)")] = None,
    tag_mode: Annotated[str, Query(pattern="^(any|all)$")] = "any",
    status: Annotated[list[str] | None, Query(description="status id or name")] = None,
    mark: Annotated[list[str] | None, Query(description="mark id or name")] = None,
    assignee: Annotated[str | None, Query(description='member id, "me" or "none"')] = None,
    channel: int | None = None,
    filter: Annotated[
        str | None, Query(description="JSON list of {field, op, value} (see docs/api.md)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=repository.MAX_PAGE)] = 50,
    cursor: str | None = None,
) -> ConversationPage:
    """The inbox list, newest activity first. Page on with ``cursor`` = the last ``next_cursor``."""
    conditions = filters.from_params(
        q=q,
        tag=tag,
        tag_mode=tag_mode,
        status=status,
        mark=mark,
        channel=channel,
        assignee=assignee,
        filter_json=filter,
    )
    page = await repository.list_conversations(
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
    items = await repository.inbox_items(
        ctx.db, member_id=member.id, conversations=page.conversations
    )
    return ConversationPage(
        items=[conversation_out(item) for item in items], next_cursor=page.next_cursor
    )


@router.get("/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: int, member: MemberDep, ctx: CtxDep) -> ConversationOut:
    conversation = await service.get_conversation(ctx.db, conversation_id=conversation_id)
    [item] = await repository.inbox_items(ctx.db, member_id=member.id, conversations=[conversation])
    return conversation_out(item)


@router.get("/{conversation_id}/messages", response_model=MessageList)
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
    return MessageList(items=[MessageOut.model_validate(m) for m in messages])


@router.post("/{conversation_id}/messages", response_model=MessageOut, status_code=201)
async def post_message(
    conversation_id: int, body: MessageCreate, member: MemberDep, ctx: CtxDep
) -> Message:
    """A reply (goes out through the conversation's channel) or an internal note."""
    return await service.send_message(
        ctx, conversation_id=conversation_id, member=member, text=body.text, kind=body.kind
    )


@router.post("/{conversation_id}/read", status_code=204)
async def mark_read(conversation_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    await service.mark_read(ctx, conversation_id=conversation_id, member=member)
    return Response(status_code=204)


@router.post("/{conversation_id}/unread", status_code=204)
async def mark_unread(conversation_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    await service.mark_unread(ctx, conversation_id=conversation_id, member=member)
    return Response(status_code=204)
