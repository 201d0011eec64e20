"""Scheduled messages (送信予約, F13): at most three pending per contact, sent by the worker
exactly once at their time through the contact's conversation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.contacts.models import Contact
from madoguchi.contacts.service import get_contact
from madoguchi.conversations import service
from madoguchi.conversations.models import (
    MAX_TEXT_LENGTH,
    Conversation,
    ScheduledMessage,
    ScheduleState,
)
from madoguchi.events.types import Event, ScheduledMessageChanged
from madoguchi.files import service as files
from madoguchi.kit.context import Actor, Ctx
from madoguchi.kit.errors import DomainError, Invalid, NotFound
from madoguchi.kit.i18n import translate_error
from madoguchi.members.models import Member
from madoguchi.notifications import service as notifications

log = logging.getLogger(__name__)
MAX_PENDING = 3
# The notification a member gets when one of theirs could not be sent.
SCHEDULED_FAILED = "scheduled_failed"


def _changed(scheduled: ScheduledMessage) -> Event:
    return ScheduledMessageChanged(
        scheduled_message_id=scheduled.id, contact_id=scheduled.contact_id
    )


def _audited(ctx: Ctx, scheduled: ScheduledMessage) -> dict[str, Any]:
    """What the audit log keeps of a scheduled message: its text, its time in the workspace's
    zone (as members chose it) and how many images."""
    return {
        "text": scheduled.text,
        "send_at": scheduled.at.astimezone(ZoneInfo(ctx.settings.timezone)),
        "images": len(scheduled.image_ids or []),
    }


async def _about(ctx: Ctx, scheduled: ScheduledMessage) -> dict[str, Any]:
    """The subject of an audit entry about a scheduled message, named by its contact."""
    contact = await ctx.db.get(Contact, scheduled.contact_id)
    return {
        "subject": f"scheduled_message {scheduled.id}",
        "name": contact.display_name if contact else "",
        "detail": {"contact_id": scheduled.contact_id},
    }


async def _check(
    ctx: Ctx, *, text: str, at: datetime, image_ids: Sequence[int]
) -> tuple[str, list[int]]:
    if at.tzinfo is None:
        raise Invalid("The time needs a time zone.")
    if at <= ctx.now():
        raise Invalid("The time to send must be in the future.")
    images = await files.images(ctx.db, list(image_ids))
    body = text.strip()
    if not body and not images:
        raise Invalid("The message is empty.")
    if len(body) > MAX_TEXT_LENGTH:
        raise Invalid("A message can be at most %(n)d characters.", n=MAX_TEXT_LENGTH)
    return body, [image.id for image in images]


async def _conversation_of(db: AsyncSession, contact: Contact) -> Conversation:
    conversation = await db.scalar(
        select(Conversation)
        .where(Conversation.contact_id == contact.id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        raise Invalid("This contact has no conversation to send through yet.")
    return conversation


async def pending_count(db: AsyncSession, *, contact_id: int) -> int:
    return int(
        await db.scalar(
            select(func.count()).where(
                ScheduledMessage.contact_id == contact_id,
                ScheduledMessage.state == ScheduleState.pending,
            )
        )
        or 0
    )


async def schedule(
    ctx: Ctx,
    *,
    contact_id: int,
    text: str,
    at: datetime,
    image_ids: Sequence[int] = (),
    author: Member | None,
) -> ScheduledMessage:
    """Schedule a message; a fourth pending one for the same contact is refused."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    # Counting and inserting under the contact's row lock keeps two requests from making a 4th.
    await ctx.db.scalar(select(Contact.id).where(Contact.id == contact.id).with_for_update())
    body, images = await _check(ctx, text=text, at=at, image_ids=image_ids)
    conversation = await _conversation_of(ctx.db, contact)
    if await pending_count(ctx.db, contact_id=contact.id) >= MAX_PENDING:
        raise Invalid(
            "A contact can have at most %(n)d scheduled messages waiting: cancel one first.",
            n=MAX_PENDING,
        )
    scheduled = ScheduledMessage(
        contact_id=contact.id,
        conversation_id=conversation.id,
        text=body,
        image_ids=images,
        at=at,
        state=ScheduleState.pending,
        created_by=author.id if author else None,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(scheduled)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="scheduled_message.created",
        after=_audited(ctx, scheduled),
        actor=author,
        **await _about(ctx, scheduled),
    )
    await ctx.commit(_changed(scheduled))
    return scheduled


async def list_scheduled(
    db: AsyncSession, *, contact_id: int, include_done: bool = False
) -> list[ScheduledMessage]:
    await get_contact(db, contact_id=contact_id)
    query = select(ScheduledMessage).where(ScheduledMessage.contact_id == contact_id)
    if not include_done:
        query = query.where(ScheduledMessage.state == ScheduleState.pending)
    return list(await db.scalars(query.order_by(ScheduledMessage.at, ScheduledMessage.id)))


async def get_scheduled(
    db: AsyncSession, *, contact_id: int, scheduled_id: int
) -> ScheduledMessage:
    """A scheduled message of this contact (another contact's id is not found)."""
    found = await db.get(ScheduledMessage, scheduled_id)
    if found is None or found.contact_id != contact_id:
        raise NotFound("No scheduled message with id %(id)s.", id=scheduled_id)
    return found


async def _pending(ctx: Ctx, scheduled_id: int, *, or_failed: bool = False) -> ScheduledMessage:
    """The scheduled message, locked, if it still waits (or, with ``or_failed``, failed)."""
    scheduled = await ctx.db.scalar(
        select(ScheduledMessage).where(ScheduledMessage.id == scheduled_id).with_for_update()
    )
    if scheduled is None:
        raise NotFound("No scheduled message with id %(id)s.", id=scheduled_id)
    if scheduled.state != ScheduleState.pending and not (
        or_failed and scheduled.state == ScheduleState.failed
    ):
        raise Invalid("This scheduled message was already sent or cancelled.")
    return scheduled


async def update_scheduled(
    ctx: Ctx,
    *,
    scheduled_id: int,
    text: str | None = None,
    at: datetime | None = None,
    image_ids: Sequence[int] | None = None,
) -> ScheduledMessage:
    scheduled = await _pending(ctx, scheduled_id)
    before = _audited(ctx, scheduled)
    body, images = await _check(
        ctx,
        text=scheduled.text if text is None else text,
        at=scheduled.at if at is None else at,
        image_ids=scheduled.image_ids if image_ids is None else image_ids,
    )
    scheduled.text, scheduled.image_ids = body, images
    if at is not None:
        scheduled.at = at
    scheduled.updated_at = ctx.now()
    audit.record_changes(
        ctx,
        action="scheduled_message.updated",
        before=before,
        after=_audited(ctx, scheduled),
        **await _about(ctx, scheduled),
    )
    await ctx.commit(_changed(scheduled))
    return scheduled


async def list_failed(db: AsyncSession, *, contact_id: int) -> list[ScheduledMessage]:
    """The contact's scheduled messages that could not be sent, until a member puts them away."""
    query = select(ScheduledMessage).where(
        ScheduledMessage.contact_id == contact_id, ScheduledMessage.state == ScheduleState.failed
    )
    return list(await db.scalars(query.order_by(ScheduledMessage.at, ScheduledMessage.id)))


async def cancel_scheduled(ctx: Ctx, *, scheduled_id: int) -> ScheduledMessage:
    """Cancel a pending one (it will not be sent), or put away one that failed."""
    scheduled = await _pending(ctx, scheduled_id, or_failed=True)
    failed = scheduled.state == ScheduleState.failed
    before = {"state": str(scheduled.state)}
    scheduled.state = ScheduleState.dismissed if failed else ScheduleState.cancelled
    scheduled.updated_at = ctx.now()
    audit.record(
        ctx,
        action="scheduled_message.dismissed" if failed else "scheduled_message.cancelled",
        before=before,
        after={"state": str(scheduled.state)},
        **await _about(ctx, scheduled),
    )
    await ctx.commit(_changed(scheduled))
    return scheduled


async def send_due(ctx: Ctx, *, now: datetime, limit: int = 20) -> int:
    """Send the scheduled messages whose time has come (the worker loop calls this).

    Each is claimed, sent and marked in a transaction of its own, so a crash sends nothing
    twice and skips nothing; on PostgreSQL another process skips the row this one holds.
    """
    sent = 0
    for _ in range(limit):
        scheduled = await ctx.db.scalar(
            select(ScheduledMessage)
            .where(ScheduledMessage.state == ScheduleState.pending, ScheduledMessage.at <= now)
            .order_by(ScheduledMessage.at, ScheduledMessage.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if scheduled is None:
            break
        scheduled_id = scheduled.id
        author = await ctx.db.get(Member, scheduled.created_by) if scheduled.created_by else None
        try:
            async with ctx.atomic():
                message = await service.send_message(
                    ctx,
                    conversation_id=scheduled.conversation_id or 0,
                    member=author,
                    text=scheduled.text,
                    kind="reply",
                    image_ids=scheduled.image_ids,
                )
                scheduled.state = ScheduleState.sent
                scheduled.message_id = message.id
                scheduled.updated_at = now
                await ctx.commit(_changed(scheduled))
            sent += 1
        except DomainError as error:
            log.warning("scheduled message %s could not be sent: %s", scheduled_id, error)
            # Kept in the workspace's language: it is shown to members as it is.
            reason = translate_error(error, ctx.settings.default_language)
            await _fail(ctx, scheduled_id, reason, now)
    await ctx.db.rollback()  # release a claim-less read transaction
    return sent


async def _fail(ctx: Ctx, scheduled_id: int, error: str, now: datetime) -> None:
    scheduled = await ctx.db.scalar(
        select(ScheduledMessage).where(ScheduledMessage.id == scheduled_id).with_for_update()
    )
    if scheduled is None or scheduled.state != ScheduleState.pending:
        await ctx.db.rollback()
        return
    scheduled.state = ScheduleState.failed
    scheduled.error = error
    scheduled.updated_at = now
    # Sending is a message, not an entry; a send given up is a change nobody made by hand.
    audit.record(
        ctx,
        action="scheduled_message.failed",
        before={"state": str(ScheduleState.pending)},
        after={"state": str(scheduled.state), "error": error},
        actor=Actor(kind="system", name="scheduler"),
        **await _about(ctx, scheduled),
    )
    events = [_changed(scheduled)]
    # Somebody must know it did not go: who scheduled it, else who has the conversation.
    conversation = (
        await ctx.db.get(Conversation, scheduled.conversation_id)
        if scheduled.conversation_id
        else None
    )
    told = scheduled.created_by or (conversation.assignee_id if conversation else None)
    if told is not None:
        notice = await notifications.notify(
            ctx,
            member_id=told,
            kind=SCHEDULED_FAILED,
            conversation_id=conversation.id if conversation else None,
        )
        if notice is not None:
            events.append(notice)
    await ctx.commit(*events)
