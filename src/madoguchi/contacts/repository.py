"""Reading contacts with everything kept about them, and the contact list."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Subquery

from madoguchi import search
from madoguchi.channels.models import Channel
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation
from madoguchi.crm import fields, filters, tags
from madoguchi.crm.models import Mark, Status, Tag
from madoguchi.kit.db import utcnow
from madoguchi.kit.errors import Invalid

MAX_PAGE = 500


@dataclass(frozen=True)
class ContactDetail:
    contact: Contact
    channel: Channel | None
    status: Status | None
    mark: Mark | None
    tags: list[Tag]
    values: dict[str, Any]
    conversation_ids: list[int]


async def _by_id(db: AsyncSession, model: Any, ids: set[int | None]) -> dict[int, Any]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {row.id: row for row in await db.scalars(select(model).where(model.id.in_(wanted)))}


async def details(db: AsyncSession, contacts: Sequence[Contact]) -> list[ContactDetail]:
    """Statuses, marks, tags, field values and conversations for many contacts, in a few queries."""
    if not contacts:
        return []
    ids = [c.id for c in contacts]
    channels = await _by_id(db, Channel, {c.channel_id for c in contacts})
    status_rows = await _by_id(db, Status, {c.status_id for c in contacts})
    mark_rows = await _by_id(db, Mark, {c.mark_id for c in contacts})
    tag_map = await tags.contact_tags(db, contact_ids=ids)
    value_map = await fields.contact_values(db, contact_ids=ids)
    conversations: dict[int, list[int]] = {i: [] for i in ids}
    for contact_id, conversation_id in await db.execute(
        select(Conversation.contact_id, Conversation.id)
        .where(Conversation.contact_id.in_(ids))
        .order_by(Conversation.id)
    ):
        conversations[contact_id].append(conversation_id)
    return [
        ContactDetail(
            contact=c,
            channel=channels.get(c.channel_id) if c.channel_id else None,
            status=status_rows.get(c.status_id) if c.status_id else None,
            mark=mark_rows.get(c.mark_id) if c.mark_id else None,
            tags=tag_map[c.id],
            values=value_map[c.id],
            conversation_ids=conversations[c.id],
        )
        for c in contacts
    ]


async def by_ids(db: AsyncSession, ids: set[int]) -> list[Contact]:
    if not ids:
        return []
    return list(await db.scalars(select(Contact).where(Contact.id.in_(ids))))


@dataclass(frozen=True)
class ContactPage:
    contacts: list[Contact]
    next_cursor: int | None


class ContactSort(StrEnum):
    """How a contact list is ordered: newest first, or by reading (五十音順, those without a
    reading last, then by id)."""

    newest = "newest"
    reading = "reading"


async def _after_in_reading_order(db: AsyncSession, after_id: int) -> ColumnElement[bool]:
    """What comes after the contact ``after_id`` in reading order (the cursor is the last
    contact's id: its reading is read back here)."""
    found = await db.execute(select(Contact.reading).where(Contact.id == after_id))
    row = found.first()
    if row is None:
        raise Invalid("The cursor names no contact (deleted meanwhile?): start the list again.")
    if row.reading is None:
        return and_(Contact.reading.is_(None), Contact.id > after_id)
    return or_(
        Contact.reading > row.reading,
        and_(Contact.reading == row.reading, Contact.id > after_id),
        Contact.reading.is_(None),
    )


def _reading_order(db: AsyncSession) -> tuple[Any, ...]:
    """五十音順, those without a reading last, then by id. PostgreSQL sorts NULL last in
    ascending order, as its index of (reading, id) holds them: said so, the list walks that
    index and stops after a page (at a million contacts it sorted them all: 239 ms). SQLite
    puts NULL first, so the order says ``reading IS NULL`` first (and SQLite sorts)."""
    if db.get_bind().dialect.name == "postgresql":
        return (Contact.reading.asc().nulls_last(), Contact.id)
    return (Contact.reading.is_(None), Contact.reading, Contact.id)


async def list_contacts(
    db: AsyncSession,
    *,
    conditions: Sequence[filters.Condition],
    member_id: int | None,
    timezone: str,
    limit: int = 100,
    before_id: int | None = None,
    now: datetime | None = None,
    sort: ContactSort = ContactSort.newest,
) -> ContactPage:
    """Contacts matching the conditions, newest first (page on with ``before_id``) or by
    reading (page on with the last contact's id as ``before_id``)."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid("limit must be between 1 and %(n)d.", n=MAX_PAGE)
    context = filters.Context(
        scope=filters.Scope.contact, member_id=member_id, timezone=timezone, now=now or utcnow()
    )
    # Searched for one text, newest first: the contacts that may hold it, a block at a time
    # (PostgreSQL, where the text is not common: search.contact_steps), each checked alone.
    # The steps run nothing until they are read: the conditions are checked first.
    texts = [condition.value for condition in conditions if condition.field == "text"]
    if sort == ContactSort.newest and len(texts) == 1 and isinstance(texts[0], str):
        steps = await search.contact_steps(db, texts[0], wanted=limit + 1, before_id=before_id)
        if steps is not None:
            checked = await filters.compile_conditions(db, conditions, context, text_checked=True)
            return await _stepped(db, steps, checked.where, limit)
    plan = await filters.compile_conditions(db, conditions, context)
    where = list(plan.where)
    query = select(Contact)
    if sort == ContactSort.reading:
        if before_id is not None:
            where.append(await _after_in_reading_order(db, before_id))
        query = query.order_by(*_reading_order(db))
    else:
        if before_id is not None:
            where.append(Contact.id < before_id)
        query = query.order_by(Contact.id.desc())
    rows = list(await db.scalars(query.where(*where).limit(limit + 1)))
    if len(rows) > limit:
        return ContactPage(contacts=rows[:limit], next_cursor=rows[limit - 1].id)
    return ContactPage(contacts=rows, next_cursor=None)


async def _stepped(
    db: AsyncSession,
    steps: AsyncGenerator[Subquery, int],
    where: Sequence[ColumnElement[bool]],
    limit: int,
) -> ContactPage:
    """The page newest first, from the contacts each step may hold (search.contact_steps),
    checked against the conditions, step after step until it is full or the steps end."""

    async def read(step: Subquery, wanted: int) -> list[Contact]:
        statement = (
            select(Contact)
            .select_from(step)
            .join(Contact, Contact.id == step.c.contact_id)
            .where(*where)
            .order_by(step.c.contact_id.desc())
            .limit(wanted)
        )
        return list(await db.scalars(statement))

    rows = await search.read_steps(steps, read, limit)
    if len(rows) > limit:
        return ContactPage(contacts=rows[:limit], next_cursor=rows[limit - 1].id)
    return ContactPage(contacts=rows, next_cursor=None)
