"""メッセージフィルター (F27): customer messages that need no one's attention arrive read.

What a rich-menu button sends (「メニューを見る」) or an auto-reply keyword (「営業時間」) is a
customer's message like any other, kept in the conversation and moving it up the list, but it
raises no unread count and no notification for any member. A filter matches the whole message
(``exact``) or a part of it (``contains``), compared as search compares: full- and half-width,
upper and lower case, katakana and hiragana alike, spaces at the ends ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation.models import FilterMatch, MessageFilter
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import loaded_objects, table_of
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.text import normalize, storable
from madoguchi.members.models import Member

MAX_FILTER_TEXT = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MATCHES = tuple(match.value for match in FilterMatch)


def _compared(text: str) -> str:
    return normalize(text).strip()


def _clean(match: str, text: str) -> tuple[str, str]:
    if match not in MATCHES:
        raise Invalid("match must be exact or contains.")
    # Control characters (a customer's message never keeps them) would never match.
    text = _CONTROL.sub("", storable(text)).strip()
    if not text:
        raise Invalid("Write the text the filter looks for.")
    if len(text) > MAX_FILTER_TEXT:
        raise Invalid("A filter's text can be at most %(n)d characters.", n=MAX_FILTER_TEXT)
    return match, text


_ALL = select(*table_of(MessageFilter).c).order_by(table_of(MessageFilter).c.id)


async def list_filters(db: AsyncSession) -> list[MessageFilter]:
    """Every filter, oldest first (read as plain columns: every inbound batch reads them)."""
    return await loaded_objects(db, MessageFilter, _ALL)


async def get_filter(db: AsyncSession, *, filter_id: int) -> MessageFilter:
    found = await db.get(MessageFilter, filter_id)
    if found is None:
        raise NotFound("No message filter with id %(id)s.", id=filter_id)
    return found


async def _refuse_twins(ctx: Ctx, match: str, text: str, filter_id: int | None = None) -> None:
    """The same filter twice is refused, as matching compares them: 「ＭＥＮＵ」 is 「menu」."""
    wanted = _compared(text)
    for other in await list_filters(ctx.db):
        if other.id != filter_id and other.match == match and _compared(other.text) == wanted:
            raise Conflict("This filter exists already: %(text)s.", text=other.text)


async def _commit_unless_twin(
    ctx: Ctx, message_filter: MessageFilter, before: dict[str, str] | None
) -> None:
    """Commit, with its audit entry (``before``: the filter as it was; None: new)."""
    text = message_filter.text
    try:
        await ctx.db.flush()
        after = {"match": message_filter.match, "text": message_filter.text}
        if before is None:
            audit.record(
                ctx,
                action="message_filter.created",
                subject=f"message_filter {message_filter.id}",
                name=text,
                after=after,
            )
        else:
            audit.record_changes(
                ctx,
                action="message_filter.updated",
                subject=f"message_filter {message_filter.id}",
                name=text,
                before=before,
                after=after,
            )
        await ctx.commit()
    except IntegrityError:
        # Another owner saved the same filter a moment ago.
        await ctx.db.rollback()
        raise Conflict("This filter exists already: %(text)s.", text=text) from None


async def create_filter(ctx: Ctx, *, match: str, text: str) -> MessageFilter:
    match, text = _clean(match, text)
    await _refuse_twins(ctx, match, text)
    message_filter = MessageFilter(match=match, text=text, created_at=ctx.now())
    ctx.db.add(message_filter)
    await _commit_unless_twin(ctx, message_filter, None)
    return message_filter


async def update_filter(
    ctx: Ctx,
    *,
    filter_id: int,
    match: str | None = None,
    text: str | None = None,
) -> MessageFilter:
    message_filter = await get_filter(ctx.db, filter_id=filter_id)
    match, text = _clean(
        message_filter.match if match is None else match,
        message_filter.text if text is None else text,
    )
    await _refuse_twins(ctx, match, text, message_filter.id)
    before = {"match": message_filter.match, "text": message_filter.text}
    message_filter.match, message_filter.text = match, text
    await _commit_unless_twin(ctx, message_filter, before)
    return message_filter


async def delete_filter(ctx: Ctx, *, filter_id: int, actor: Member | None) -> MessageFilter:
    """Delete it (kept in the audit log: it changed what members were told)."""
    message_filter = await get_filter(ctx.db, filter_id=filter_id)
    audit.record(
        ctx,
        actor=actor,
        action="message_filter.deleted",
        subject=f"message_filter {message_filter.id}",
        name=message_filter.text,
        before={"match": message_filter.match, "text": message_filter.text},
        detail={"match": message_filter.match, "text": message_filter.text},
    )
    await ctx.db.delete(message_filter)
    await ctx.commit()
    return message_filter


def matches(message_filter: MessageFilter, text: str) -> bool:
    wanted, given = _compared(message_filter.text), _compared(text)
    if message_filter.match == FilterMatch.exact:
        return given == wanted
    return bool(wanted) and wanted in given


def first_match(message_filters: Sequence[MessageFilter], text: str) -> MessageFilter | None:
    """The first of these filters (``list_filters``, read once for many messages) that a
    customer's message matches, if any (a message without text matches none)."""
    if not text.strip():
        return None
    for message_filter in message_filters:
        if matches(message_filter, text):
            return message_filter
    return None
