"""Notifications: made inside the change that causes them, pushed to that member only."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.events.types import NotificationCreated, NotificationsRead
from madoguchi.kit.context import Ctx
from madoguchi.members.models import Member
from madoguchi.notifications import push
from madoguchi.notifications.models import Notification


async def notify(
    ctx: Ctx,
    *,
    member_id: int,
    kind: str,
    conversation_id: int | None,
    message_id: int | None = None,
    actor: Member | None = None,
) -> NotificationCreated | None:
    """Add a notification (nothing committed); the event to publish, None for oneself."""
    if actor is not None and actor.id == member_id:
        return None
    notification = Notification(
        member_id=member_id,
        kind=kind,
        conversation_id=conversation_id,
        message_id=message_id,
        actor_id=actor.id if actor else None,
        created_at=ctx.now(),
    )
    ctx.db.add(notification)
    await ctx.db.flush()
    # Told on the member's phone too when no tab of theirs is open (the worker decides).
    await push.queue(
        ctx,
        member_id=member_id,
        kind=kind,
        conversation_id=conversation_id,
        message_id=message_id,
        actor_name=actor.name if actor else "",
    )
    return NotificationCreated(
        notification_id=notification.id,
        kind=kind,
        conversation_id=conversation_id,
        message_id=message_id,
        actor_name=actor.name if actor else "",
        member_id=member_id,
    )


async def list_notifications(
    db: AsyncSession, *, member_id: int, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    query = select(Notification).where(Notification.member_id == member_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(await db.scalars(query.order_by(Notification.id.desc()).limit(limit)))


async def unread_count(db: AsyncSession, *, member_id: int) -> int:
    count = await db.scalar(
        select(func.count(Notification.id)).where(
            Notification.member_id == member_id, Notification.read_at.is_(None)
        )
    )
    return int(count or 0)


async def mark_all_read(ctx: Ctx, *, member: Member) -> None:
    await ctx.db.execute(
        update(Notification)
        .where(Notification.member_id == member.id, Notification.read_at.is_(None))
        .values(read_at=ctx.now())
    )
    await ctx.commit(NotificationsRead(member_id=member.id))
