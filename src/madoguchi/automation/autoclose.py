"""自動クローズ: open conversations without a message for some hours are closed.

Off by default. The workspace's setting holds for every channel; a channel may have its own
instead (another number of hours, another closing message, or off). When a closing message is
written it is sent first, as a reply; where the channel no longer lets us answer (LINE's and
Instagram's reply windows) the conversation is closed without it, and its system line says so.

"Without a message" counts every line of the thread, system lines too: a conversation someone
reopened, assigned or that woke from a snooze is not closed at once. The worker claims each
conversation in a transaction of its own (``SKIP LOCKED`` on PostgreSQL, the one writer on
SQLite), so two processes never close one twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation.models import AutoClose
from madoguchi.channels.models import Channel
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations import workflow
from madoguchi.conversations.models import Conversation, ConversationState, Message, MessageKind
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, Invalid, NotFound
from madoguchi.kit.text import storable

log = logging.getLogger(__name__)

WORKSPACE = "workspace"
MAX_HOURS = 24 * 365
MAX_MESSAGE = 1000


def _scope(channel_id: int | None) -> str:
    return WORKSPACE if channel_id is None else f"channel:{channel_id}"


@dataclass(frozen=True)
class Setting:
    """One scope's auto-close: ``channel_id`` None for the workspace's."""

    channel_id: int | None
    after_hours: int | None
    message: str

    @classmethod
    def of(cls, row: AutoClose) -> Setting:
        channel_id = None if row.scope == WORKSPACE else int(row.scope.split(":", 1)[1])
        return cls(channel_id=channel_id, after_hours=row.after_hours, message=row.message)


OFF = Setting(channel_id=None, after_hours=None, message="")


async def settings(db: AsyncSession) -> tuple[Setting, list[Setting]]:
    """The workspace's setting (off when never set) and each channel's own, by channel id."""
    rows = [Setting.of(row) for row in await db.scalars(select(AutoClose))]
    workspace = next((s for s in rows if s.channel_id is None), OFF)
    channels = sorted(
        (s for s in rows if s.channel_id is not None), key=lambda s: s.channel_id or 0
    )
    return workspace, channels


def _clean(after_hours: int | None, message: str) -> tuple[int | None, str]:
    if after_hours is not None and not 1 <= after_hours <= MAX_HOURS:
        raise Invalid("after_hours must be 1 to %(n)d hours, or null for off.", n=MAX_HOURS)
    message = storable(message).strip()
    if len(message) > MAX_MESSAGE:
        raise Invalid("The closing message can be at most %(n)d characters.", n=MAX_MESSAGE)
    return after_hours, message


async def set_auto_close(
    ctx: Ctx, *, after_hours: int | None, message: str = "", channel_id: int | None = None
) -> Setting:
    """Set the workspace's auto-close, or with ``channel_id`` that channel's own."""
    after_hours, message = _clean(after_hours, message)
    if channel_id is not None:
        channel = await ctx.db.get(Channel, channel_id)
        if channel is None or channel.removed:
            raise NotFound("No channel with id %(id)s.", id=channel_id)
    row = await ctx.db.get(AutoClose, _scope(channel_id), with_for_update=True)
    before: dict[str, Any] = {"after_hours": None, "message": ""}
    if row is None:
        row = AutoClose(scope=_scope(channel_id))
        ctx.db.add(row)
    else:
        before = {"after_hours": row.after_hours, "message": row.message}
    row.after_hours, row.message, row.updated_at = after_hours, message, ctx.now()
    await _audit(ctx, channel_id, before, {"after_hours": after_hours, "message": message})
    await ctx.commit()
    return Setting.of(row)


async def _audit(
    ctx: Ctx, channel_id: int | None, before: dict[str, Any], after: dict[str, Any]
) -> None:
    channel = None if channel_id is None else await ctx.db.get(Channel, channel_id)
    audit.record_changes(
        ctx,
        action="settings.changed",
        subject="setting" if channel is None else f"channel {channel.id}",
        name=channel.name if channel else "auto_close",
        before=before,
        after=after,
    )


async def follow_workspace(ctx: Ctx, *, channel_id: int) -> None:
    """The channel follows the workspace's auto-close again."""
    row = await ctx.db.get(AutoClose, _scope(channel_id))
    if row is None:
        raise NotFound("Channel %(id)s has no auto-close of its own.", id=channel_id)
    workspace, _own = await settings(ctx.db)
    await _audit(
        ctx,
        channel_id,
        {"after_hours": row.after_hours, "message": row.message},
        {"after_hours": workspace.after_hours, "message": workspace.message},
    )
    await ctx.db.delete(row)
    await ctx.commit()


def _idle_since(cutoff: datetime) -> ColumnElement[bool]:
    """Open, and no line of it (system lines too) newer than ``cutoff``: its newest line, by
    id on the conversation's index, is older."""
    newest = (
        select(Message.created_at)
        .where(Message.conversation_id == Conversation.id)
        .order_by(Message.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return and_(
        Conversation.state == ConversationState.open,
        Conversation.last_activity_at <= cutoff,
        newest <= cutoff,
    )


async def _due(
    db: AsyncSession, *, channel_ids: list[int], cutoff: datetime, limit: int
) -> list[tuple[int, int]]:
    """(conversation id, channel id) of what is due, oldest first."""
    query = (
        select(Conversation.id, Conversation.channel_id)
        .where(Conversation.channel_id.in_(channel_ids), _idle_since(cutoff))
        .order_by(Conversation.last_activity_at, Conversation.id)
        .limit(limit)
    )
    return [
        (conversation_id, channel_id) for conversation_id, channel_id in await db.execute(query)
    ]


async def close_idle(ctx: Ctx, *, now: datetime, limit: int = 100) -> int:
    """Close what has been idle long enough on every channel (the worker loop calls this);
    answers how many were closed. With auto-close off everywhere it is one read."""
    workspace, own = await settings(ctx.db)
    if workspace.after_hours is None and all(s.after_hours is None for s in own):
        await ctx.db.rollback()
        return 0
    by_channel = {s.channel_id: s for s in own}
    channels = list(
        await ctx.db.execute(
            select(Channel.id, Channel.enabled).where(Channel.removed_at.is_(None))
        )
    )
    # One scan per number of hours, over the channels that have it.
    by_setting: dict[tuple[int, str], list[int]] = {}
    for channel_id, _enabled in channels:
        setting = by_channel.get(channel_id, workspace)
        if setting.after_hours is not None:
            by_setting.setdefault((setting.after_hours, setting.message), []).append(channel_id)
    enabled = {channel_id for channel_id, on in channels if on}
    closed = 0
    for (hours, message), channel_ids in by_setting.items():
        cutoff = now - timedelta(hours=hours)
        due = await _due(ctx.db, channel_ids=channel_ids, cutoff=cutoff, limit=limit - closed)
        await ctx.db.rollback()
        for conversation_id, in_channel in due:
            try:
                done = await _close_one(
                    ctx, conversation_id, cutoff, hours, message if in_channel in enabled else ""
                )
            except Exception:
                # One conversation that cannot be closed must not stop the others.
                log.exception("auto-close of conversation %s failed", conversation_id)
                await ctx.db.rollback()
                continue
            closed += done
        if closed >= limit:
            break
    await ctx.db.rollback()
    return closed


async def _close_one(
    ctx: Ctx, conversation_id: int, cutoff: datetime, hours: int, message: str
) -> bool:
    """Close one, claimed and checked again in its own transaction: another process, or a
    customer who wrote a moment ago, may have come first. The closing message goes only where
    the customer can be answered (a channel turned on, a contact not blocked, within the
    channel's reply window); otherwise it is closed without it."""
    async with ctx.atomic():
        claimed = await ctx.db.scalar(
            select(Conversation)
            .where(Conversation.id == conversation_id, _idle_since(cutoff))
            .with_for_update(skip_locked=True)
        )
        if claimed is None:
            return False
        blocked = await ctx.db.scalar(
            select(Contact.blocked).where(Contact.id == claimed.contact_id)
        )
        if message and not blocked:
            try:
                async with ctx.db.begin_nested():
                    await conversations.send_message(
                        ctx,
                        conversation_id=conversation_id,
                        member=None,
                        text=message,
                        kind=MessageKind.reply,
                    )
            except DomainError as error:
                # The reply window has closed, or the channel was deleted: closed all the same.
                log.info("auto-close of %s: no closing message (%s)", conversation_id, error)
        await workflow.close(ctx, conversation_id=conversation_id, actor=None, idle_hours=hours)
    return True
