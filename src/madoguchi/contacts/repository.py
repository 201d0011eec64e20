"""Reading contacts with everything kept about them, and the contact list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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


@dataclass(frozen=True)
class ContactPage:
    contacts: list[Contact]
    next_cursor: int | None


async def list_contacts(
    db: AsyncSession,
    *,
    conditions: Sequence[filters.Condition],
    member_id: int | None,
    timezone: str,
    limit: int = 100,
    before_id: int | None = None,
    now: datetime | None = None,
) -> ContactPage:
    """Contacts matching the conditions, newest first; page on with ``before_id``."""
    if not 1 <= limit <= MAX_PAGE:
        raise Invalid("limit must be between 1 and %(n)d.", n=MAX_PAGE)
    context = filters.Context(
        scope=filters.Scope.contact, member_id=member_id, timezone=timezone, now=now or utcnow()
    )
    where = list((await filters.compile_conditions(db, conditions, context)).where)
    if before_id is not None:
        where.append(Contact.id < before_id)
    rows = list(
        await db.scalars(select(Contact).where(*where).order_by(Contact.id.desc()).limit(limit + 1))
    )
    if len(rows) > limit:
        return ContactPage(contacts=rows[:limit], next_cursor=rows[limit - 1].id)
    return ContactPage(contacts=rows, next_cursor=None)
