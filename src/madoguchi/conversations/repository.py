"""The inbox list query (F1–F3): newest activity first, keyset-paged, index-friendly."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import FromClause, Subquery

from madoguchi import search
from madoguchi.channels.models import Channel
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import (
    Conversation,
    ConversationState,
    ConversationTeamUnread,
    ConversationUnread,
    Message,
    MessageImage,
    ScheduledMessage,
    ScheduleState,
)
from madoguchi.crm import filters, tags
from madoguchi.crm.models import ContactTag, Mark, Status, Tag
from madoguchi.kit import pgstats
from madoguchi.kit.db import AnySelect, in_ids, utcnow
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.ids import is_id
from madoguchi.workspace.unread import UnreadMode, per_member_chosen, unread_mode

MAX_PAGE = 200


class View(StrEnum):
    all = "all"
    unread = "unread"
    mine = "mine"
    unassigned = "unassigned"
    snoozed = "snoozed"
    closed = "closed"
    hidden = "hidden"


@dataclass(frozen=True)
class Cursor:
    """Where a page ended in the walked index: its activity and its row's id; and, where the
    index's rows are contacts' (a tag's, a status's...), the conversation among that contact's."""

    at: datetime
    id: int
    conversation_id: int | None = None

    def encode(self) -> str:
        parts = [self.at.isoformat(), str(self.id)]
        if self.conversation_id is not None:
            parts.append(str(self.conversation_id))
        return base64.urlsafe_b64encode("|".join(parts).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at, ident, *rest = raw.split("|")
            parsed = datetime.fromisoformat(at)
            if parsed.tzinfo is None or len(rest) > 1:
                raise ValueError(at)
            return cls(at=parsed, id=int(ident), conversation_id=int(rest[0]) if rest else None)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise Invalid("The cursor is not one this server gave out.") from None


@dataclass(frozen=True)
class InboxQuery:
    """A view, filter conditions (crm.filters), and the page. ``q``, ``channel_id`` and
    ``assignee_id`` are shorthands for the text, channel and assignee conditions."""

    view: View = View.all
    q: str | None = None
    channel_id: int | None = None
    assignee_id: int | None = None
    conditions: tuple[filters.Condition, ...] = ()
    limit: int = 50
    cursor: Cursor | None = None

    def all_conditions(self) -> list[filters.Condition]:
        shorthands = []
        if self.q and self.q.strip():
            shorthands.append(filters.Condition("text", "contains", self.q))
        if self.channel_id is not None:
            shorthands.append(filters.Condition("channel", "eq", self.channel_id))
        if self.assignee_id is not None:
            shorthands.append(filters.Condition("assignee", "eq", self.assignee_id))
        return [*shorthands, *self.conditions]

    def searching(self) -> bool:
        """Whether words are looked for (``q`` or a text condition): 一覧 then looks through
        every conversation, whatever its state (_view_conditions)."""
        return any(condition.field == "text" for condition in self.all_conditions())


@dataclass(frozen=True)
class Page:
    conversations: list[Conversation]
    next_cursor: str | None


@dataclass(frozen=True)
class IdPage:
    ids: list[int]
    next_cursor: str | None


@dataclass(frozen=True)
class _Listing:
    statement: Select[Conversation]
    activity: Any
    ident: Any
    # A common search term: walk the index newest first, checking each row (see _walked).
    walk: bool = False
    # The walked index's order and what comes after a cursor, where they are not (activity,
    # ident) themselves (the conversations' search index: see _searched).
    order: tuple[Any, ...] | None = None
    after: Callable[[Cursor], ColumnElement[bool]] | None = None
    # Entries to read one step at a time until a page is full (search.SearchWalk.steps).
    steps: _Steps | None = None
    # The walked rows are contacts' (a tag's, a status's, a mark's, a field's, a book's
    # spans): a customer's conversations (two channels, merged) share one position in them,
    # and the page is ordered and cut among them by the conversation's id as well.
    by_contact: bool = False


class _Steps(NamedTuple):
    """A walk's steps: the entries of each, and the statement of a step's rows."""

    entries: AsyncGenerator[Subquery, int]
    rows_of: Callable[[Subquery], Select[Conversation]]


async def _listing(
    db: AsyncSession,
    *,
    member_id: int,
    query: InboxQuery,
    timezone: str,
    now: datetime | None,
    walk_search: bool = True,
) -> _Listing:
    """The view and the conditions, as one select (no cursor, no order).

    The list is walked newest-first on an index and stops after a page. Which index: the team's
    unread rows on 未確認 (the member's own when the workspace keeps 未確認 per member); else,
    when the conditions name one tag or one status, that tag's or status's rows (each keeps a
    copy of the contact's latest activity), the fewest of them; else one mark's contacts, where
    no message carries it; else a profile field's values or a record book's spans (each keeps
    that copy too), where a condition asks for a value or a contact's newest or oldest record;
    else the conversations themselves. A rare filter then costs as
    little as the plain list.
    """
    conditions = query.all_conditions()
    context = filters.Context(
        scope=filters.Scope.conversation,
        member_id=member_id,
        timezone=timezone,
        now=now or utcnow(),
    )
    mode = await unread_mode(db) if query.view == View.unread else None
    if walk_search:
        searched = await _searched(db, query, conditions, context, mode)
        if searched is not None:
            return searched
    activity: Any
    ident: Any
    by_contact = False  # the rows walked are conversations' (see _Listing.by_contact)
    if query.view == View.unread and mode == UnreadMode.team:
        statement: Select[Conversation] = (
            select(Conversation)
            .join(ConversationTeamUnread, ConversationTeamUnread.conversation_id == Conversation.id)
            .join(Contact, Contact.id == Conversation.contact_id)
        )
        activity, ident = ConversationTeamUnread.activity_at, ConversationTeamUnread.conversation_id
    elif query.view == View.unread:
        statement = (
            select(Conversation)
            .join(ConversationUnread, ConversationUnread.conversation_id == Conversation.id)
            .where(ConversationUnread.member_id == member_id)
            .join(Contact, Contact.id == Conversation.contact_id)
        )
        activity, ident = ConversationUnread.activity_at, ConversationUnread.conversation_id
    else:
        driver = await _driver(db, conditions)
        if driver is None:
            mark = await filters.unmessaged_mark(db, conditions)
            driver = ("mark", mark) if mark is not None else None
        walked = None if driver is not None else await filters.walked_rows(db, conditions, context)
        if driver is not None:
            conditions = await filters.without_walked(db, conditions, *driver)
            context = replace(context, walked=True)
        if driver is not None and driver[0] == "tag":
            # A tag's rows are walked as a field's values are: each keeps the activity's copy.
            tagged = (ContactTag.tag_id == driver[1],)
            walked = filters.WalkedRows(
                ContactTag, ContactTag.activity_at, ContactTag.contact_id, tagged, conditions
            )
        if walked is not None:
            conditions = walked.left
            context = replace(context, walked=True)
            statement = (
                select(Conversation)
                .select_from(walked.rows)
                .join(Conversation, Conversation.contact_id == walked.contact_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(*walked.where, walked.activity.is_not(None))
            )
            activity, ident, by_contact = walked.activity, walked.contact_id, True
        elif driver is not None:
            held = Contact.status_id if driver[0] == "status" else Contact.mark_id
            statement = (
                select(Conversation)
                .select_from(Contact)
                .join(Conversation, Conversation.contact_id == Contact.id)
                .where(held == driver[1], Contact.activity_at.is_not(None))
            )
            activity, ident, by_contact = Contact.activity_at, Contact.id, True
        else:
            statement = select(Conversation).join(Contact, Contact.id == Conversation.contact_id)
            activity, ident = Conversation.last_activity_at, Conversation.id
    # PostgreSQL keeps statistics and picks its index by them; the guard would only blind it.
    plain = activity is Conversation.last_activity_at or db.get_bind().dialect.name == "postgresql"
    where = _view_conditions(
        query.view, member_id, walking_conversations=plain, searching=query.searching()
    )
    plan = await filters.compile_conditions(db, conditions, context)
    where += plan.where
    # Forced only where nothing else narrows the list more than its walked index does: with an
    # assignee, a channel or a field, sorting their few rows is cheaper than walking them all.
    # A view has its own index, in the list's order (the unread rows; the conversations' by
    # state, or by assignee), which the walk reads: no further than the view. Not 非表示中,
    # whose rule is the contact's: its walk would read every conversation for a few hidden.
    # A channel has its own index of the conversations too, in the list's order: where the
    # conversations are walked, the walk may read it (no further than the channel's).
    walkable = WALKABLE_WITH | ({"channel"} if activity is Conversation.last_activity_at else set())
    walk = (
        plan.walk_with_checks
        and query.view in WALKED_VIEWS
        and all(condition.field in walkable for condition in conditions)
    )
    return _Listing(
        statement=statement.where(*where),
        activity=activity,
        ident=ident,
        walk=walk,
        by_contact=by_contact,
    )


async def _searched(
    db: AsyncSession,
    query: InboxQuery,
    conditions: list[filters.Condition],
    context: filters.Context,
    mode: UnreadMode | None,
) -> _Listing | None:
    """The inbox searched for words (一覧, nothing else but text conditions) walks the
    conversations' own search index from the newest activity down, checking each entry, and
    stops after a page: as fast for a word in 1 % of conversations as for one in half of them,
    and at a million conversations as at a thousand. Other views and filters walk their own
    index and check the words there (search.text_condition).

    Another view searched for a rarer word walks the entries too where the view holds a good
    share of the conversations (PostgreSQL: 未確認, the team's; 担当: 自分, 未割り当て,
    スヌーズ中, 完了): each entry is checked for the view's rule as well, so a page reads about
    as many more entries as the view is smaller, at every size. Walking the view instead reads
    as many rows as the word is rare (松本様 in pages of five: 640 unread conversations checked
    at a million, and 26 ms; 木下 in 未割り当て: 27,000, 370 ms). A common word keeps the
    view's walk, whose matches come early."""
    if not conditions:
        return None
    searched = [
        condition
        for condition in conditions
        if condition.field == "text"
        and condition.op == "contains"
        and isinstance(condition.value, str)
        and condition.value.strip()
    ]
    texts = [str(condition.value) for condition in searched]
    others = [condition for condition in conditions if condition not in searched]
    if not texts or any(condition.field == "text" for condition in others):
        return None  # no words, or a text condition the usual path refuses
    if others and (query.view != View.all or not await _filter_is_common(db, others)):
        return None
    if query.view != View.all and not await _view_is_common(
        db, query.view, context.member_id or 0, mode
    ):
        return None
    walk = await search.search_walk(db, texts)
    if walk is None or ((query.view != View.all or others) and (walk.walked or walk.steps is None)):
        return None
    view = _view_conditions(query.view, context.member_id or 0, searching=True)
    if others:
        view += (await filters.compile_conditions(db, others, context)).where
    if query.view == View.unread:
        view.append(exists().where(ConversationTeamUnread.conversation_id == Conversation.id))

    def rows_of(entries: FromClause, conversation_id: ColumnElement[int]) -> Select[Conversation]:
        return (
            select(Conversation)
            .select_from(entries)
            .join(Conversation, Conversation.id == conversation_id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(*walk.conditions, *view)
        )

    def after(cursor: Cursor) -> ColumnElement[bool]:
        return walk.after(search.activity_seq(cursor.at, cursor.id), cursor.id)

    steps = None
    if walk.steps is not None:
        cursor = query.cursor
        position = (search.activity_seq(cursor.at, cursor.id), cursor.id) if cursor else None
        steps = _Steps(walk.steps(position), lambda held: rows_of(held, held.c.conversation_id))
    return _Listing(
        statement=rows_of(walk.source, walk.conversation_id),
        activity=Conversation.last_activity_at,
        ident=Conversation.id,
        order=walk.order,
        after=after,
        steps=steps,
        walk=walk.walked,
    )


# A view searched walks the search entries (above) where PostgreSQL's statistics count at least
# this share of the conversations in it: a page then reads at most 1 / share times the entries
# a search of 一覧 reads. Below it (a team that keeps up with 未確認, a member with few
# conversations), the view is short and walking it is cheap.
VIEW_ENTRIES_SHARE = 0.1
# The columns the state views are ruled by, whose statistics (kit.pgstats: each value's share
# among the commonest, and the share of NULL) tell a view's share; the rows of the team's
# unread marks against the conversations' tell 未確認's.
_STATE = ("conversations", "state")
_ASSIGNEE = ("conversations", "assignee_id")
_UNREAD_ROWS = ("conversation_team_unreads", "conversation_id")


async def _view_is_common(
    db: AsyncSession, view: View, member_id: int, mode: UnreadMode | None
) -> bool:
    """Whether the view holds VIEW_ENTRIES_SHARE of the conversations or more, as PostgreSQL's
    statistics count them (no count of our own: it would read the view, which grows with the
    data). False on SQLite, for a member's own 未確認 and 非表示中, for a value the statistics
    do not list among the commonest, and before the tables were first analysed."""
    if db.get_bind().dialect.name != "postgresql":
        return False
    if view == View.unread:
        if mode != UnreadMode.team:
            return False
        read = await pgstats.columns(db, [_UNREAD_ROWS, _STATE])
        unread, every = (read[key].rows if key in read else 0.0 for key in (_UNREAD_ROWS, _STATE))
        return every > 0 and unread >= 0 and unread >= every * VIEW_ENTRIES_SHARE
    if view not in WALKED_VIEWS:  # 非表示中
        return False
    read = await pgstats.columns(db, [_STATE, _ASSIGNEE])
    none = pgstats.ColumnStatistics(rows=0.0)
    state = read.get(_STATE, none).values or {}
    assigned = read.get(_ASSIGNEE, none)
    null_share, assignees = assigned.null_share, assigned.values or {}
    match view:
        case View.mine:
            share = assignees.get(str(member_id), 0.0) * state.get(ConversationState.open, 0.0)
        case View.unassigned:
            share = null_share * state.get(ConversationState.open, 0.0)
        case View.snoozed:
            share = state.get(ConversationState.snoozed, 0.0)
        case _:
            share = state.get(ConversationState.closed, 0.0)
    return share >= VIEW_ENTRIES_SHARE


async def _filter_is_common(db: AsyncSession, conditions: Sequence[filters.Condition]) -> bool:
    """Whether the conditions are each one tag, one status or one channel, and together hold
    VIEW_ENTRIES_SHARE of the conversations or more as PostgreSQL's statistics estimate them
    (their shares multiplied, as if independent): a search of 一覧 so filtered walks the search
    entries as a common view does, each checked for the filter. Walking the filter's own rows
    and checking each for the word grows with them (a tag of a fifth of the contacts with 松本様,
    in pages of five: 200,000 rows at a million, 2.6 times the time at a thousand; the busiest
    channel's conversations, 2.1 times). False on SQLite, and for any other condition."""
    if db.get_bind().dialect.name != "postgresql" or not conditions:
        return False
    share = 1.0
    for condition in conditions:
        if condition.field == "channel":
            channel = filters.only_value(condition)
            if not channel or not is_id(channel[0]):
                return False
            kind, ident = "channel", channel[0]
        else:
            chosen = await filters.single_valued(db, [condition], count_cap=DRIVER_COUNT_CAP)
            if len(chosen) != 1:
                return False
            kind, ident, _size = chosen[0]
        found = await filters.estimated_share(db, kind, ident)
        if found is None:
            return False
        share *= found
    return share >= VIEW_ENTRIES_SHARE


# The views whose own index a forced walk reads (担当: 自分 at a million, searched for 予約:
# PostgreSQL hashed every contact and checked each of 166,000 assigned conversations before
# sorting them, 1.7 s; walked, 14 ms).
WALKED_VIEWS = frozenset(
    {View.all, View.unread, View.mine, View.unassigned, View.snoozed, View.closed}
)

# The conditions a forced walk may carry besides the text: their own index is walked.
WALKABLE_WITH = frozenset({"text", "tag", "status"})

# Counting a driver's rows stops here: past it, either is a fine index to walk.
DRIVER_COUNT_CAP = 2000


async def _driver(db: AsyncSession, conditions: list[filters.Condition]) -> tuple[str, int] | None:
    """The single tag or status among the conditions with the fewest rows, if any."""
    candidates = await filters.single_valued(db, conditions, count_cap=DRIVER_COUNT_CAP)
    if not candidates:
        return None
    kind, ident, _size = min(candidates, key=lambda candidate: candidate[2])
    return kind, ident


async def list_conversations(
    db: AsyncSession,
    *,
    member_id: int,
    query: InboxQuery,
    timezone: str = "Asia/Tokyo",
    now: datetime | None = None,
) -> Page:
    rows, next_cursor = await _page(
        db, member_id=member_id, query=query, timezone=timezone, now=now, only=None
    )
    return Page(conversations=[row[0] for row in rows], next_cursor=next_cursor)


async def list_conversation_ids(
    db: AsyncSession,
    *,
    member_id: int,
    query: InboxQuery,
    timezone: str = "Asia/Tokyo",
    now: datetime | None = None,
) -> IdPage:
    """The same page as ``list_conversations``, as ids: for ``inbox_lines`` (no ORM objects)."""
    rows, next_cursor = await _page(
        db, member_id=member_id, query=query, timezone=timezone, now=now, only=Conversation.id
    )
    return IdPage(ids=[row[0] for row in rows], next_cursor=next_cursor)


async def _page(
    db: AsyncSession,
    *,
    member_id: int,
    query: InboxQuery,
    timezone: str,
    now: datetime | None,
    only: Any,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """A page's rows (the conversation, or the column ``only``; then the walked index's
    position) and the cursor after it."""
    if not 1 <= query.limit <= MAX_PAGE:
        raise Invalid("limit must be between 1 and %(n)d.", n=MAX_PAGE)
    # Plain columns (``only``) are read on the connection: the session's execute would set up
    # an ORM result for them.
    reader: AsyncSession | AsyncConnection = db if only is None else await _plain_reader(db)
    # A cursor's position is given as parameters: the statement is the same for every page.
    cursor = query.cursor
    params: dict[str, Any] = {} if cursor is None else {"at": cursor.at, "id": cursor.id}
    key = await _plain_page_key(db, member_id=member_id, query=query, only=only)
    kept = _PLAIN_PAGES.get(key) if key is not None else None
    if kept is not None:
        found = [tuple(row) for row in await reader.execute(kept, params)]
        return found[: query.limit], _cursor_after(found, query.limit)
    listing = await _listing(db, member_id=member_id, query=query, timezone=timezone, now=now)

    # A contact's conversations follow one another in its row's position (Listing.by_contact).
    within = [Conversation.id] if listing.by_contact else []

    def finished(
        statement: AnySelect, order: Sequence[Any], limit: int | ColumnElement[int]
    ) -> AnySelect:
        if only is not None:
            statement = statement.with_only_columns(only, maintain_column_froms=True)
        columns = (listing.activity, listing.ident, *within)
        return statement.add_columns(*columns).order_by(*order).limit(limit)

    rows: list[Any] = []
    if listing.steps is None:
        statement: AnySelect = listing.statement
        if cursor is not None and listing.after is not None:
            statement = statement.where(listing.after(cursor))
        elif cursor is not None:
            walked = tuple_(listing.activity, listing.ident)
            position = tuple_(
                bindparam("at", type_=listing.activity.type), bindparam("id", type_=Integer)
            )
            if within and cursor.conversation_id is not None:
                # The index is walked from the cursor's row on (<=, its bound), and of that
                # row's conversations those after the cursor's are left.
                params["conversation"] = cursor.conversation_id
                statement = statement.where(
                    walked <= position,
                    or_(walked < position, Conversation.id < bindparam("conversation")),
                )
            else:
                statement = statement.where(walked < position)
        order = listing.order or (
            listing.activity.desc(),
            listing.ident.desc(),
            *(column.desc() for column in within),
        )
        # The page's size written into the statement (page_size_sql), not a parameter.
        statement = finished(statement, order, page_size_sql(query.limit + 1))
        rows = [
            tuple(row)
            for row in await _page_rows(reader, statement, walk=listing.walk, params=params)
        ]
        if key is not None and not listing.walk:
            if len(_PLAIN_PAGES) >= PLAIN_PAGES_KEPT:
                _PLAIN_PAGES.clear()
            _PLAIN_PAGES[key] = statement
    else:
        # Each step holds its entries after the cursor, in the walk's order; it is told how
        # many rows the page has so far (it may skip what is left).
        steps, rows_of = listing.steps

        async def read(step: Subquery, wanted: int) -> list[tuple[Any, ...]]:
            order = (step.c.seq.desc(), step.c.conversation_id.desc())
            statement = finished(rows_of(step), order, wanted)
            return [tuple(row) for row in await reader.execute(statement)]

        rows = await search.read_steps(steps, read, query.limit)
    return rows[: query.limit], _cursor_after(rows, query.limit)


def _cursor_after(rows: list[tuple[Any, ...]], limit: int) -> str | None:
    """The cursor after a page of ``limit`` rows, where more were read (one more is asked
    for): the walked index's own position of the last (its activity and its row's id)."""
    if len(rows) <= limit:
        return None
    _last, at, ident, *conversation = rows[limit - 1]
    return Cursor(
        at=at, id=ident, conversation_id=conversation[0] if conversation else None
    ).encode()


# The unfiltered list's statement, built once for each view, page size and dialect (and
# member, where the view is theirs; and 未確認's meaning): building it and the key SQLAlchemy
# finds its SQL by cost 190 µs of the 300 µs the page's read took at 1,000 contacts, where a
# statement kept has its key already (issue 14). Filtered lists are built each time: their
# statements hold the filter's values, and a search its plan.
PLAIN_PAGES_KEPT = 512
_PLAIN_PAGES: dict[tuple[Any, ...], AnySelect] = {}


async def _plain_page_key(
    db: AsyncSession, *, member_id: int, query: InboxQuery, only: Any
) -> tuple[Any, ...] | None:
    """What the unfiltered list's statement depends on (_PLAIN_PAGES); None for a filter."""
    if query.all_conditions():
        return None
    mode = await unread_mode(db) if query.view == View.unread else None
    return (
        db.get_bind().dialect.name,
        query.view,
        mode,
        member_id if query.view in (View.mine, View.unread) else None,
        query.limit,
        None if only is None else str(only),
        query.cursor is not None,
    )


def column_query(
    query: InboxQuery, status_id: int | None, *, limit: int, cursor: Cursor | None = None
) -> InboxQuery:
    """One column of the board (F44): the inbox's query narrowed to one support status, or to
    none (``status_id`` None). The column is a page of the inbox list itself: the same view,
    the same filters, the same keyset paging (a single status walks that status's own index)."""
    column = (
        filters.Condition("status", "empty", None)
        if status_id is None
        else filters.Condition("status", "eq", status_id)
    )
    return replace(query, conditions=(*query.conditions, column), limit=limit, cursor=cursor)


def page_size_sql(limit: int) -> ColumnElement[int]:
    """A page's LIMIT as SQL of its own (an int, checked: 1 to MAX_PAGE and one more). As a
    parameter, PostgreSQL's plan for the statement that all requests share (after five) does
    not know it, expects a tenth of the rows, and at a million contacts is a parallel walk
    costing 8 ms; so it planned each request's statement again, knowing the limit: 0.6 ms of
    planning a page for a tag's list (1.53 -> 0.91 ms in process). Written in, the shared
    plan walks as each request's did. A few page sizes, a few statements. Not a search's
    steps: each asks for what the page still wants, any number, and a statement for each
    number was one more to plan (their plans know no value anyway: planner._unplanned)."""
    return literal_column(str(int(limit)), Integer)


async def _plain_reader(db: AsyncSession) -> AsyncConnection:
    """The session's connection, for statements of plain columns: the session's own execute
    sets up ORM results even for those (a fifth of the inbox page's time, issue 14). What the
    session holds unflushed is flushed first, as its execute would."""
    await db.flush()
    return await db.connection()


# A walk's settings, for its one statement: sorting off, and each row the walk finds joined by
# looking up its keys. Where PostgreSQL expects few matches it may rather check the words on
# every conversation first and join the walk to those (さとう at 1,000: 10.4 ms against 0.65).
# One statement sets them all and answers what they were (read first: OFFSET 0 keeps that
# subquery apart), one puts them back.
# No parallel workers either: a check's subquery that PostgreSQL expects to be dear (its
# estimate of a walk is far above what a page reads) was given one, and starting it cost more
# than the whole page (未確認 searched for 予約 at a million: 3.5 ms of 7).
_WALK_VALUES = {
    "enable_sort": "off",
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "enable_material": "off",
    "max_parallel_workers_per_gather": "0",
}
_WALK_SETTINGS = tuple(_WALK_VALUES)
_WALKING = text(
    "SELECT "
    + ", ".join(
        f"was.{name}, set_config('{name}', '{value}', true)" for name, value in _WALK_VALUES.items()
    )
    + " FROM (SELECT "
    + ", ".join(f"current_setting('{name}') AS {name}" for name in _WALK_SETTINGS)
    + " OFFSET 0) AS was"
)
_WALKED = text(
    "SELECT " + ", ".join(f"set_config('{name}', :{name}, true)" for name in _WALK_SETTINGS)
)


async def _page_rows(
    db: AsyncSession | AsyncConnection, statement: Any, *, walk: bool, params: Any = None
) -> Sequence[Any]:
    """The page's rows. For a common search term on PostgreSQL the planner cannot know that
    matches come early in the walk: it would gather them all and sort. With sorting off for
    this one statement it walks the index and stops after a page (300 ms -> 4 ms at 100,000),
    and with the other joins off it looks up each row it walks (_WALK_SETTINGS)."""
    bind = db if isinstance(db, AsyncConnection) else db.get_bind()
    if not walk or bind.dialect.name != "postgresql":
        return (await db.execute(statement, params)).all()
    was = (await db.execute(_WALKING)).one()
    rows = (await db.execute(statement, params)).all()
    # (Were the statement refused, the transaction is over and the settings with it.)
    await db.execute(_WALKED, dict(zip(_WALK_SETTINGS, was[::2], strict=True)))
    return rows


async def in_view(
    db: AsyncSession,
    *,
    member_id: int,
    query: InboxQuery,
    conversation_id: int,
    timezone: str = "Asia/Tokyo",
    now: datetime | None = None,
) -> bool:
    """Whether one conversation belongs in this view and filter now (for live updates). A
    search is checked on the conversation itself, not by walking the search index to it."""
    listing = await _listing(
        db, member_id=member_id, query=query, timezone=timezone, now=now, walk_search=False
    )
    found = await db.scalar(
        listing.statement.where(Conversation.id == conversation_id).with_only_columns(
            Conversation.id
        )
    )
    return found is not None


def _view_conditions(
    view: View, member_id: int, *, walking_conversations: bool = True, searching: bool = False
) -> list[ColumnElement[bool]]:
    """一覧 is the open work; snoozed and closed conversations wait in their own views; the
    未確認 view is what this member has not read, whatever its state. Hidden contacts leave
    every view but their own (非表示中). A search for words in 一覧 (``searching``) looks
    through every conversation, whatever its state and whether its contact is hidden: the
    customer asked for is found; a state view chosen on purpose keeps its own rule.

    When another index is walked, the conversations' own columns are written so that no index
    of theirs is chosen instead (``state || ''``, ``assignee_id + 0``): a database without
    statistics would otherwise walk them and sort.
    """
    state: Any = Conversation.state
    assignee: Any = Conversation.assignee_id
    if not walking_conversations:
        state = Conversation.state.concat("")
        assignee = Conversation.assignee_id + 0
    if view == View.hidden:
        return [Contact.hidden.is_(True)]
    if view == View.all and searching:
        return []
    shown = Contact.hidden.is_(False)
    is_open = state == ConversationState.open
    match view:
        case View.unread:
            return [shown]
        case View.mine:
            return [shown, is_open, assignee == member_id]
        case View.unassigned:
            return [shown, is_open, assignee.is_(None)]
        case View.snoozed:
            return [shown, state == ConversationState.snoozed]
        case View.closed:
            return [shown, state == ConversationState.closed]
        case _:
            return [shown, is_open]


@dataclass(frozen=True)
class InboxItem:
    """A conversation with what the list shows beside it, for one member."""

    conversation: Conversation
    contact: Contact
    channel: Channel
    unread_count: int
    status: Status | None = None
    mark: Mark | None = None
    tags: tuple[Tag, ...] = ()
    # New to this member since they last opened it (the team's 未確認 aside): shown in bold.
    fresh: bool = False

    @property
    def unread(self) -> bool:
        return self.unread_count > 0


@cache
def _rows_of(model: Any) -> AnySelect:
    """The rows of ``model`` with the ``ids`` given, built once: a page's few reads cost less
    than building them did (issue 14)."""
    return select(model).where(in_ids(model.id, "ids"))


async def _by_id(db: AsyncSession, model: Any, ids: set[Any]) -> dict[int, Any]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {row.id: row for row in await db.scalars(_rows_of(model), {"ids": wanted})}


_CONTACTS_LABELLED = (
    select(Contact, Status, Mark)
    .outerjoin(Status, Status.id == Contact.status_id)
    .outerjoin(Mark, Mark.id == Contact.mark_id)
    .where(in_ids(Contact.id, "ids"))
)
# This member's unread count of a conversation, the team's, and whether the workspace keeps
# 未確認 per member (as ``unread_mode`` reads it: workspace.unread.per_member_chosen): columns of
# a statement of the conversations, read with ``_unread``.
_UNREAD_COLUMNS = (
    select(ConversationUnread.count)
    .where(
        ConversationUnread.conversation_id == Conversation.id,
        ConversationUnread.member_id == bindparam("member_id"),
    )
    .scalar_subquery(),
    select(ConversationTeamUnread.count)
    .where(ConversationTeamUnread.conversation_id == Conversation.id)
    .scalar_subquery(),
    exists().where(per_member_chosen()),
)
_UNREADS = select(Conversation.id, *_UNREAD_COLUMNS).where(in_ids(Conversation.id, "ids"))


def _unread(own: int | None, team: int | None, per_member: bool) -> tuple[int, bool]:
    """A conversation's unread count as the workspace counts it, and whether it is new to this
    member since they last opened it: per member, their own count (nothing is new beside it);
    for the team, the team's count, and new where this member has a count of their own."""
    if per_member:
        return own or 0, False
    return team or 0, own is not None


async def _page_unreads(
    db: AsyncSession | AsyncConnection, *, member_id: int, ids: list[int]
) -> dict[int, tuple[int, bool]]:
    """Each conversation's ``_unread``."""
    found = await db.execute(_UNREADS, {"member_id": member_id, "ids": ids})
    return {ident: _unread(own, team, per_member) for ident, own, team, per_member in found}


async def inbox_items(
    db: AsyncSession, *, member_id: int, conversations: list[Conversation]
) -> list[InboxItem]:
    """Contacts, channels, CRM labels and unread counts for a page, in a few queries whatever
    its size."""
    if not conversations:
        return []
    # Each contact with its status and mark, in one statement.
    labelled = {
        contact.id: (contact, status, mark)
        for contact, status, mark in await db.execute(
            _CONTACTS_LABELLED, {"ids": list({c.contact_id for c in conversations})}
        )
    }
    channels = await _by_id(db, Channel, {c.channel_id for c in conversations})
    tag_map = await tags.contact_tags(db, contact_ids=list(labelled))
    unread = await _page_unreads(db, member_id=member_id, ids=[c.id for c in conversations])
    items = []
    for conversation in conversations:
        contact, status, mark = labelled[conversation.contact_id]
        unread_count, fresh = unread.get(conversation.id, (0, False))
        items.append(
            InboxItem(
                conversation=conversation,
                contact=contact,
                channel=channels[conversation.channel_id],
                unread_count=unread_count,
                status=status,
                mark=mark,
                tags=tuple(tag_map[contact.id]),
                fresh=fresh,
            )
        )
    return items


class LineRow(NamedTuple):
    """A conversation's own values in the list, its contact's, its status's, its mark's and
    its channel's."""

    id: int
    contact_id: int
    channel_id: int
    state: str
    memo: str
    closed_at: datetime | None
    last_inbound_at: datetime | None
    assignee_id: int | None
    snooze_until: datetime | None
    last_activity_at: datetime
    last_message_kind: str | None
    last_message_preview: str
    display_name: str
    channel_name: str
    avatar_url: str | None
    hidden: bool
    status_id: int | None
    status_name: str | None
    status_color: str | None
    mark_id: int | None
    mark_name: str | None
    mark_color: str | None
    channel_kind: str
    # The channel's own name (``channel_name`` is the contact's name on it).
    channel_title: str
    channel_removed: bool
    channel_demo: bool | None
    # The contact's tags (crm.tags.tags_json), this member's unread count and the team's, and
    # whether the workspace keeps 未確認 per member (workspace.unread.per_member_chosen).
    tags_json: str | list[Any] | None
    own_unread: int | None
    team_unread: int | None
    per_member: bool


# A page's lines, in ``LineRow``'s order (a named tuple reads ten times faster than a Row).
# The channel comes with each line: of its settings only ``demo`` (the reply window's).
_LINES: AnySelect = (
    select(
        Conversation.id,
        Conversation.contact_id,
        Conversation.channel_id,
        Conversation.state,
        Conversation.memo,
        Conversation.closed_at,
        Conversation.last_inbound_at,
        Conversation.assignee_id,
        Conversation.snooze_until,
        Conversation.last_activity_at,
        Conversation.last_message_kind,
        Conversation.last_message_preview,
        Contact.display_name,
        Contact.channel_name,
        Contact.avatar_url,
        Contact.hidden,
        Status.id,
        Status.name,
        Status.color,
        Mark.id,
        Mark.name,
        Mark.color,
        Channel.kind,
        Channel.name,
        Channel.removed_at.is_not(None),
        Channel.settings["demo"].as_boolean(),
        tags.tags_json(Conversation.contact_id),
        *_UNREAD_COLUMNS,
    )
    .join(Contact, Contact.id == Conversation.contact_id)
    .join(Channel, Channel.id == Conversation.channel_id)
    .outerjoin(Status, Status.id == Contact.status_id)
    .outerjoin(Mark, Mark.id == Contact.mark_id)
    .where(in_ids(Conversation.id, "ids"))
)


@dataclass(frozen=True, slots=True)
class InboxLine:
    """An inbox item as plain values, for the API's lists: building a page of ORM objects and
    models cost more than the rest of the request (issue 14). ``tags`` are (id, name)."""

    row: LineRow
    tags: list[tuple[int, str]]
    unread_count: int
    fresh: bool


async def inbox_lines(db: AsyncSession, *, member_id: int, ids: list[int]) -> list[InboxLine]:
    """What ``inbox_items`` gathers, for the conversations ``ids`` in that order, in one
    statement whatever the page's size: each line with its contact's tags and its unread
    counts as columns (three statements cost the page a third more, issue 14)."""
    if not ids:
        return []
    plain = await _plain_reader(db)
    found = await plain.execute(_LINES, {"ids": ids, "member_id": member_id})
    rows = {row[0]: LineRow._make(row) for row in found}
    return [
        InboxLine(
            row,
            tags.tag_pairs(row.tags_json),
            *_unread(row.own_unread, row.team_unread, row.per_member),
        )
        for conversation_id in ids
        if (row := rows.get(conversation_id)) is not None
    ]


# The unread count shown (the tab title, the 未確認 tab) stops here: past it a page shows
# "999+". Every page and every refresh of the list counts it; counted whole, 300,000 unread
# conversations at a million contacts cost each page 10 ms.
UNREAD_SHOWN_AT_MOST = 999


async def unread_total(db: AsyncSession, *, member_id: int) -> int:
    """How many conversations are unread (the tab title, the 未確認 tab): for the team, or for
    this member when the workspace keeps 未確認 per member; counted no further than one past
    UNREAD_SHOWN_AT_MOST."""
    if await unread_mode(db) == UnreadMode.team:
        rows = select(ConversationTeamUnread.conversation_id)
    else:
        rows = select(ConversationUnread.conversation_id).where(
            ConversationUnread.member_id == member_id
        )
    capped = rows.limit(UNREAD_SHOWN_AT_MOST + 1).subquery()
    count = await db.scalar(select(func.count()).select_from(capped))
    return int(count or 0)


def unread_label(total: object) -> str:
    """The unread count as a page shows it: "999+" past UNREAD_SHOWN_AT_MOST (nothing for a
    page that has no count: an error page, the sign-in form)."""
    if not isinstance(total, int):
        return ""
    return f"{UNREAD_SHOWN_AT_MOST}+" if total > UNREAD_SHOWN_AT_MOST else str(total)


async def get_message(db: AsyncSession, *, message_id: int) -> Message:
    message = await db.get(Message, message_id) if is_id(message_id) else None
    if message is None:
        raise NotFound("No message with id %(id)s.", id=message_id)
    return message


async def customer_names(db: AsyncSession, conversation_ids: set[int]) -> dict[int, str]:
    """The contact's display name of each conversation (the notification list's)."""
    if not conversation_ids:
        return {}
    rows = await db.execute(
        select(Conversation.id, Contact.display_name)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.id.in_(conversation_ids))
    )
    return {conversation_id: name for conversation_id, name in rows}


@dataclass(frozen=True)
class Holdings:
    """What deleting a conversation for good takes with it (the dialog that asks first)."""

    messages: int
    images: int
    scheduled: int


async def holdings(db: AsyncSession, *, conversation_id: int) -> Holdings:
    messages = select(func.count(Message.id)).where(Message.conversation_id == conversation_id)
    images = (
        select(func.count())
        .select_from(MessageImage)
        .join(Message, Message.id == MessageImage.message_id)
        .where(Message.conversation_id == conversation_id)
    )
    pending = select(func.count(ScheduledMessage.id)).where(
        ScheduledMessage.conversation_id == conversation_id,
        ScheduledMessage.state == ScheduleState.pending,
    )
    return Holdings(
        messages=int(await db.scalar(messages) or 0),
        images=int(await db.scalar(images) or 0),
        scheduled=int(await db.scalar(pending) or 0),
    )
