"""Response marks (対応マーク, Liny's eight): renamed and recoloured by the owner."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.conversations.models import Message
from madoguchi.crm.models import Mark
from madoguchi.events.types import MarksChanged, MessageUpdated
from madoguchi.kit.clean import clean_color, clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.ids import is_id


async def list_marks(db: AsyncSession) -> list[Mark]:
    return list(await db.scalars(select(Mark).order_by(Mark.position, Mark.id)))


async def find_mark(db: AsyncSession, ref: int | str) -> Mark:
    if isinstance(ref, int):
        mark = await db.get(Mark, ref) if is_id(ref) else None
        if mark is None:
            raise NotFound("No mark with id %(id)s.", id=ref)
        return mark
    found = await db.scalar(select(Mark).where(Mark.name == ref.strip()))
    if found is None:
        raise NotFound("No mark named %(name)s.", name=ref)
    return found


async def update_mark(
    ctx: Ctx, *, mark_id: int, name: str | None = None, color: str | None = None
) -> Mark:
    mark = await find_mark(ctx.db, mark_id)
    before = {"name": mark.name, "color": mark.color}
    if name is not None and name.strip() != mark.name:
        if not mark.renamable:
            raise Invalid("The mark %(name)s cannot be renamed.", name=mark.name)
        name = clean_name(name)
        if await ctx.db.scalar(select(Mark.id).where(Mark.name == name, Mark.id != mark.id)):
            raise Conflict("A mark named %(name)s already exists.", name=name)
        mark.name = name
    if color is not None:
        mark.color = clean_color(color)
    audit.record_changes(
        ctx,
        action="mark.updated",
        subject=f"mark {mark.id}",
        name=mark.name,
        before=before,
        after={"name": mark.name, "color": mark.color},
    )
    await ctx.commit(MarksChanged(mark_id=mark.id))
    return mark


async def mark_message(ctx: Ctx, *, message_id: int, mark: int | str | None) -> Message:
    """Set (or clear, with None) the mark of one message (F17)."""
    message = await ctx.db.get(Message, message_id) if is_id(message_id) else None
    if message is None:
        raise NotFound("No message with id %(id)s.", id=message_id)
    chosen = None if mark is None else await find_mark(ctx.db, mark)
    previous = None if message.mark_id is None else await ctx.db.get(Mark, message.mark_id)
    audit.record_changes(
        ctx,
        action="message.marked",
        subject=f"message {message.id}",
        before={"mark": previous.name if previous else None},
        after={"mark": chosen.name if chosen else None},
        detail={"conversation_id": message.conversation_id},
    )
    message.mark_id = chosen.id if chosen else None
    conversation_id = message.conversation_id
    await ctx.commit(MessageUpdated(message_id=message_id, conversation_id=conversation_id))
    return message
