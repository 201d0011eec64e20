"""Reading contacts with everything kept about them, and the contact list."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Subquery

from madoguchi import search
from madoguchi.channels.models import Channel
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation
from madoguchi.crm import fields, filters, tags
from madoguchi.crm.models import Mark, Status, Tag
from madoguchi.kit import pgstats
from madoguchi.kit.db import utcnow
from madoguchi.kit.errors import Invalid
from madoguchi.kit.text import search_key

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


async def _after_in_reading_order(
    db: AsyncSession, after_id: int
) -> Callable[[Any], ColumnElement[bool]]:
    """What comes after the contact ``after_id`` in reading order (the cursor is the last
    contact's id: its reading is read back here), said of the columns it is given (the
    contacts' table's, or an alias's)."""
    found = await db.execute(select(Contact.reading).where(Contact.id == after_id))
    row = found.first()
    if row is None:
        raise Invalid("The cursor names no contact (deleted meanwhile?): start the list again.")
    reading = row.reading

    def after(c: Any) -> ColumnElement[bool]:
        if reading is None:
            return and_(c.reading.is_(None), c.id > after_id)
        return or_(
            c.reading > reading,
            and_(c.reading == reading, c.id > after_id),
            c.reading.is_(None),
        )

    return after


def _reading_order(db: AsyncSession, columns: Any = None) -> tuple[Any, ...]:
    """五十音順, those without a reading last, then by id (of ``columns``: the contacts' table's,
    or an alias's). PostgreSQL sorts NULL last in ascending order, as its index of (reading,
    id) holds them: said so, the list walks that index and stops after a page (at a million
    contacts it sorted them all: 239 ms). SQLite puts NULL first, so the order says ``reading
    IS NULL`` first (and SQLite sorts)."""
    c = Contact.__table__.c if columns is None else columns
    postgresql = db.get_bind().dialect.name == "postgresql"
    if c is Contact.__table__.c:
        return _CONTACTS_IN_READING_ORDER[postgresql]
    return _in_reading_order(c, postgresql=postgresql)


def _in_reading_order(c: Any, *, postgresql: bool) -> tuple[Any, ...]:
    if postgresql:
        return (c.reading.asc().nulls_last(), c.id)
    return (c.reading.is_(None), c.reading, c.id)


# The contacts' own order, built once for each kind of database.
_CONTACTS_IN_READING_ORDER = {
    postgresql: _in_reading_order(Contact.__table__.c, postgresql=postgresql)
    for postgresql in (False, True)
}


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
    # In 五十音順, searched for one word: the contacts' signatures in the reading index
    # (PostgreSQL). A text without letters or digits matches nothing (search.text_condition).
    if (
        sort == ContactSort.reading
        and len(texts) == 1
        and isinstance(texts[0], str)
        and search_key(texts[0])
        and search.signed(db)
    ):
        return await _signed_in_reading_order(db, texts[0], conditions, context, limit, before_id)
    listed = replace(context, by_id=sort == ContactSort.newest)
    plan = await filters.compile_conditions(db, conditions, listed)
    return await _listed(db, plan.where, sort, limit, before_id)


async def _listed(
    db: AsyncSession,
    where: Sequence[ColumnElement[bool]],
    sort: ContactSort,
    limit: int,
    before_id: int | None,
) -> ContactPage:
    """The page of contacts matching ``where`` in the order asked, after ``before_id``."""
    where = list(where)
    query = select(Contact)
    if sort == ContactSort.reading:
        if before_id is not None:
            after = await _after_in_reading_order(db, before_id)
            where.append(after(Contact.__table__.c))
        query = query.order_by(*_reading_order(db))
    else:
        if before_id is not None:
            where.append(Contact.id < before_id)
        query = query.order_by(Contact.id.desc())
    rows = list(await db.scalars(query.where(*where).limit(limit + 1)))
    return _paged(rows, limit)


def _inline(count: int) -> BindParameter[int]:
    """A LIMIT written into the statement, not sent beside it (PostgreSQL sees it when it
    plans the statement once for all its executions)."""
    return bindparam(None, count, Integer, literal_execute=True)


def _paged(rows: list[Contact], limit: int) -> ContactPage:
    """A page of the first ``limit`` rows, with a cursor where there is one more."""
    if len(rows) > limit:
        return ContactPage(contacts=rows[:limit], next_cursor=rows[limit - 1].id)
    return ContactPage(contacts=rows, next_cursor=None)


# The contacts as the walk in 五十音順 reads them (built once: an alias's columns cost 0.3 ms).
_WALKED = Contact.__table__.alias("walked")
# One row, to which a page is joined: the page's statement answers with a row where it has
# none (search.GatheredContacts.few).
_ONE_ROW = select(literal(1).label("one")).subquery("one_row")


async def _signed_in_reading_order(
    db: AsyncSession,
    q: str,
    conditions: Sequence[filters.Condition],
    context: filters.Context,
    limit: int,
    before_id: int | None,
) -> ContactPage:
    """The page in 五十音順 of contacts holding ``q`` (PostgreSQL, where contacts keep a
    signature). A word the statistics expect in few entries is gathered from the search
    indexes, checked and sorted at once (search.gathered_contacts). Another, or one the
    gathering finds past its limit, is walked for: the next search.READING_WALK contacts in the
    reading index, each passed over there where its signature cannot hold the word, the others
    checked. Where they hold too few for the page, and more contacts follow, the word is
    counted (search.text_condition): a rare one is gathered and sorted, a commoner one walked
    for to the end of the list."""
    walked = _WALKED
    cursor = None if before_id is None else await _after_in_reading_order(db, before_id)

    def after(columns: Any) -> list[ColumnElement[bool]]:
        return [] if cursor is None else [cursor(columns)]

    # A word the statistics expect in few entries: every contact that may hold it is gathered
    # from the search indexes, checked and sorted, in one statement that says as well whether
    # the gathering read all the indexes give (a rare full name at a million: one statement,
    # where the walk, a count and a gathering took three). Past the gathering's limit (the
    # statistics took a commoner word as rare), the walk.
    gathered = await search.gathered_contacts(db, q)
    if gathered is not None:
        unsearched = await filters.compile_conditions(db, conditions, context, text_gathered=True)
        page = (
            select(Contact)
            .where(gathered.condition, *after(Contact.__table__.c), *unsearched.where)
            .order_by(*_reading_order(db))
            .limit(_inline(limit + 1))
            .subquery("gathered_page")
        )
        contact = aliased(Contact, page)
        statement = (
            select(gathered.few.label("few"), contact)
            .select_from(_ONE_ROW)
            .outerjoin(page, true())
            .order_by(*_reading_order(db, page.c))
        )
        found = (await db.execute(statement, gathered.parameters)).all()
        if found[0].few:
            return _paged([row[1] for row in found if row[1] is not None], limit)
    checked = await filters.compile_conditions(db, conditions, context, text_checked=True)
    # A list the statistics count far longer than the walk has the walk's LIMIT written into
    # the statement: PostgreSQL plans a prepared statement once for all its executions only
    # where that plan costs no more than one made for the values, and it takes a LIMIT it
    # cannot see as a tenth of the list (at a million it planned the walk again at every
    # request: 1 ms). A shorter list keeps it apart: seeing that it covers the whole list,
    # PostgreSQL sorts the list's signatures rather than read them in order (0.8 ms at a
    # thousand).
    counted = await pgstats.columns(db, [("contacts", "reading")])
    listed = counted[("contacts", "reading")].rows if counted else 0.0
    long_list = listed >= 2 * search.READING_WALK

    async def walk(contacts: int | None) -> list[Contact]:
        """The page among the next ``contacts`` in the reading index (None: all of them)."""
        window = (
            select(walked.c.id, walked.c.reading, walked.c.signature)
            .where(*after(walked.c))
            .order_by(*_reading_order(db, walked.c))
            .limit(contacts if contacts is None or not long_list else _inline(contacts))
            .subquery("next_contacts")
        )
        held = (
            select(window.c.id, window.c.reading)
            .where(search.contact_may_hold(window.c.signature, q))
            .subquery("held")
        )
        statement = (
            select(Contact)
            .join(held, held.c.id == Contact.id)
            .where(*checked.where)
            .order_by(*_reading_order(db, held.c))
            .limit(limit + 1)
        )
        return list(await db.scalars(statement))

    rows = await walk(search.READING_WALK)
    if len(rows) > limit:
        return _paged(rows, limit)
    # Fewer than a page: all there are, if the walk went to the end of the list. Asked only of
    # a list the statistics do not count far longer than the walk (at a million, the question
    # read the walk's rows of the index again to say what the count said).
    if not long_list:
        beyond = select(walked.c.id).where(*after(walked.c)).order_by(*_reading_order(db, walked.c))
        if await db.scalar(beyond.offset(search.READING_WALK).limit(1)) is None:
            return _paged(rows, limit)
    # More follow: the word is counted (search.text_condition), and a rare one gathered and
    # sorted, a commoner one walked for to the end of the list.
    plan = await filters.compile_conditions(db, conditions, context)
    if plan.walk_with_checks:
        return _paged(await walk(None), limit)
    # The cursor's reading is known already: said here, not read again.
    return await _listed(
        db, [*plan.where, *after(Contact.__table__.c)], ContactSort.reading, limit, None
    )


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

    return _paged(await search.read_steps(steps, read, limit), limit)
