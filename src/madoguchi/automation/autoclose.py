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

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.automation.models import AutoClose
from madoguchi.channels.models import Channel
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
    if row is None:
        row = AutoClose(scope=_scope(channel_id))
        ctx.db.add(row)
    row.after_hours, row.message, row.updated_at = after_hours, message, ctx.now()
    await ctx.commit()
    return Setting.of(row)


async def follow_workspace(ctx: Ctx, *, channel_id: int) -> None:
    """The channel follows the workspace's auto-close again."""
    row = await ctx.db.get(AutoClose, _scope(channel_id))
    if row is None:
        raise NotFound("Channel %(id)s has no auto-close of its own.", id=channel_id)
    await ctx.db.delete(row)
    await ctx.commit()


async def _due(
    db: AsyncSession, *, channel_id: int, cutoff: datetime, limit: int, lock: bool = False
) -> list[int]:
    newer = exists().where(Message.conversation_id == Conversation.id, Message.created_at > cutoff)
    query = (
        select(Conversation.id)
        .where(
            Conversation.channel_id == channel_id,
            Conversation.state == ConversationState.open,
            Conversation.last_activity_at <= cutoff,
            ~newer,
        )
        .order_by(Conversation.last_activity_at, Conversation.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(of=Conversation, skip_locked=True)
    return list(await db.scalars(query))


async def close_idle(ctx: Ctx, *, now: datetime, limit: int = 100) -> int:
    """Close what has been idle long enough on every channel (the worker loop calls this);
    answers how many were closed."""
    workspace, own = await settings(ctx.db)
    by_channel = {s.channel_id: s for s in own}
    channel_ids = list(
        await ctx.db.scalars(
            select(Channel.id).where(Channel.removed_at.is_(None)).order_by(Channel.id)
        )
    )
    await ctx.db.rollback()
    closed = 0
    for channel_id in channel_ids:
        setting = by_channel.get(channel_id, workspace)
        if setting.after_hours is None:
            continue
        cutoff = now - timedelta(hours=setting.after_hours)
        for conversation_id in await _due(
            ctx.db, channel_id=channel_id, cutoff=cutoff, limit=limit - closed
        ):
            await ctx.db.rollback()
            if await _close_one(ctx, conversation_id, channel_id, cutoff, setting):
                closed += 1
        await ctx.db.rollback()
        if closed >= limit:
            break
    return closed


async def _close_one(
    ctx: Ctx, conversation_id: int, channel_id: int, cutoff: datetime, setting: Setting
) -> bool:
    """Close one, claimed and checked again in its own transaction: another process, or a
    customer who wrote a moment ago, may have come first."""
    async with ctx.atomic():
        claimed = await _due(ctx.db, channel_id=channel_id, cutoff=cutoff, limit=1, lock=True)
        # The oldest due one is claimed first; if it is not this one, this one is left for later.
        if claimed != [conversation_id]:
            return False
        if setting.message:
            try:
                await conversations.send_message(
                    ctx,
                    conversation_id=conversation_id,
                    member=None,
                    text=setting.message,
                    kind=MessageKind.reply,
                )
            except DomainError as error:
                # The reply window has closed, or the channel was deleted: closed all the same.
                log.info("auto-close of %s: no closing message (%s)", conversation_id, error)
        await workflow.close(
            ctx, conversation_id=conversation_id, actor=None, idle_hours=setting.after_hours
        )
    return True
