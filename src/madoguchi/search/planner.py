"""How a search for words is read from the indexes (F3, F46): the full-text planner.

A text is looked for in the contact's names and in the messages. Where few rows hold it, the
indexes give the matching ids and the list's own query starts from them; where many do, the
list is better walked newest first and each row checked. The inbox searched for words alone
walks the conversations' own entries instead (search_walk). Each answer is a plan value that
its caller reads: nothing is left in the session.
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    true,
    tuple_,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql import FromClause, Subquery, TableClause
from sqlalchemy.sql.selectable import ScalarSelect

from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, Message
from madoguchi.kit.text import like_pattern, query_grams, search_key
from madoguchi.search import entries, indexes
from madoguchi.search.indexes import dialect

# Up to this many hits in the search index, a text search sorts its matches; past it the term is
# common, and walking the list newest-first finds a page of matches sooner (after about
# 51 × conversations ÷ matches rows: at 100,000 conversations, 2,500 at the most).
SEARCH_SET_LIMIT = 2000
# Where the database can estimate a term's hits (PostgreSQL), one estimated past this many times
# the limit is taken as common without counting.
ESTIMATE_MARGIN = 4
# PostgreSQL's walk of the conversations' entries: a term it expects in more than this share of
# them is common (the list is walked and each conversation checked: a page after about
# 1 / COMMON_SHARE pages of rows): a share, not a count, so that a term takes the same path at
# every size. A rarer one is searched epoch by epoch, newest first, EPOCH_STEPS epochs per
# step, then the rest.
COMMON_SHARE = 0.05
EPOCH_STEPS = (1, 1, 2)
# A word PostgreSQL expects in no more than RARE_ESTIMATE entries is first looked for in all of
# them at once: its entries are gathered (GATHERED_AT_MOST, and one more to know) and, where
# they were all, the page is theirs. Else the epochs are stepped as for a commoner word. A rare
# name's reading then reads its grams' long lists once, not for the newest epoch and again for
# the rest (the estimate multiplies the grams' shares: a phrase of common grams may be found
# in too many entries after all, and costs a gathering more).
RARE_ESTIMATE = 200
GATHERED_AT_MOST = 200
# A view walked for a term with checks looks at each conversation's entry first where the term
# is expected in no more than this share of the entries (text_condition).
ENTRY_CHECK_SHARE = 0.2
# The contact list searched for a term PostgreSQL expects in no more than COMMON_SHARE of the
# entries looks for it in blocks of contacts, newest first (contact_steps). A step reads as
# many blocks as should hold BLOCK_MARGIN times the rows the page still wants: the first by
# the statistics' estimate, no more than FIRST_BLOCKS (an estimate may be far too low: 松本様's
# at a million, 400 for 10,000), the next by what the blocks read so far held. Where a step
# finds none, the term is rare: the rest at once.
BLOCK_MARGIN = 1.5
FIRST_BLOCKS = 8
# A step of more blocks than this, or down to the oldest, reads every match of the grams and
# keeps its blocks' own: the index would read each block's token's whole list (4,096 entries
# a block; 240 blocks for the rest at a million, 10 ms for a full name found nowhere).
TOKENS_AT_MOST = 32
# A step of the contact list starts no parallel worker: PostgreSQL expects its every match as
# many as any word's (_unplanned), and started two workers for a full name found nowhere, which
# cost 2.9 ms of a 3 ms step. A statement that calls a function marked parallel-unsafe is never
# given one, and set_config is one: each step sets a setting of ours, once (an InitPlan), in
# place of turning PostgreSQL's off and on again around the steps (two round trips).
_NO_PARALLEL_WORKER = (
    select(func.set_config(literal("madoguchi.step"), literal("on"), literal(True)))
    .scalar_subquery()
    .is_not(None)
)
# SQL for the newest contact's id.
_NEWEST_CONTACT = "(SELECT max(id) FROM contacts)"
# The contact list in 五十音順 searched (PostgreSQL) walks the reading index, passing over the
# contacts whose signature cannot hold the word (contact_may_hold): first this many of them (a
# word in one contact of three hundred fills a page of five there, at every size). Where they
# hold too few, the word is counted (text_condition): a rare one is gathered, a commoner one
# walked for to the end (contacts.repository). A full name found nowhere costs the walk: 1 ms
# at a million contacts.
READING_WALK = 2500


# PostgreSQL's conversation entries, as the walks read them (search.entries keeps them).
_ENTRIES = table(
    entries.CONVERSATIONS,
    column("conversation_id", Integer),
    column("seq", BigInteger),
    column("grams", ARRAY(Text)),
    column("signature", Text),
)


_CONTACT_NAMES = table(
    indexes.CONTACTS.name, column("owner_id", BigInteger), column("grams", ARRAY(Text))
)


class Scope(StrEnum):
    """What is being searched: the inbox's conversations (joined to their contact), or contacts."""

    conversation = "conversation"
    contact = "contact"


@dataclass(frozen=True)
class TextPlan:
    """Contacts (or conversations) holding a text, and how the list should read them:
    ``walk_with_checks`` when the text is common, and the list's query must walk its index
    newest first, checking each row, rather than gather every match and sort them."""

    condition: ColumnElement[bool]
    walk_with_checks: bool = False


@dataclass(frozen=True)
class SearchWalk:
    """The conversations' search entries, walked from the newest activity down (entries.py):
    join ``source`` to the conversations on ``conversation_id``, keep the rows ``conditions``
    hold for, in ``order``; ``after(seq, conversation id)`` is what comes after a cursor.

    On PostgreSQL, whose index answers in no order, the walk goes in ``steps`` from a cursor
    (the key and the conversation id of the last row read; None: from the newest entry): the
    recent epochs first, then all the others. Each step is the entries it holds, as a subquery
    of ``conversation_id`` and ``seq`` in the walk's order, to join to the conversations in
    place of ``source``: its entries are sorted before they are joined and checked, so a
    page's rows are checked newest first and no further than the page (PostgreSQL would check
    every entry of a step, then sort them: 65 entries in the newest epoch for 松本様 at a
    million, for a page of five). Each step is told how many rows the page has so far."""

    source: FromClause
    conversation_id: ColumnElement[int]
    order: tuple[ColumnElement[Any], ...]
    after: Callable[[int, int], ColumnElement[bool]]
    conditions: list[ColumnElement[bool]]
    steps: Callable[[tuple[int, int] | None], AsyncGenerator[Subquery, int]] | None = None
    # The matches come early in the walk, which the database cannot know: it must walk the
    # order's index, not gather every match and sort them.
    walked: bool = False


async def search_walk(db: AsyncSession, texts: Sequence[str]) -> SearchWalk | None:
    """A walk for conversations containing every text (in names or messages), or none where a
    text has no letter or digit.

    The index says which conversations hold all of a text's grams; each one walked is then
    checked for the text itself (a LIKE on its contact's names and on its messages). On
    PostgreSQL, a text expected in more conversations than a step should sort is found by
    walking the index of the entries' keys and their signatures instead (``walked``)."""
    expressions = [entries.match_expression(q) for q in texts]
    if not texts or any(expression is None for expression in expressions):
        return None
    rechecks = [_text_recheck(db, q) for q in texts]
    if dialect(db) == "sqlite":
        stored = table(entries.CONVERSATIONS, column("conversation_id"), column("seq"))
        fts = table(entries.CONVERSATIONS_FTS, column("rowid"))
        rowid: ColumnElement[int] = fts.c.rowid
        expression = " AND ".join(str(expression) for expression in expressions)
        return SearchWalk(
            source=stored.join(fts, fts.c.rowid == stored.c.seq),
            conversation_id=stored.c.conversation_id,
            order=(rowid.desc(),),
            # The rowid orders by (activity, id) itself: one column to compare.
            after=lambda seq, _id: rowid < seq,
            conditions=[
                literal_column(entries.CONVERSATIONS_FTS).op("MATCH")(expression),
                *rechecks,
            ],
        )
    stored = _ENTRIES
    seq, ident, grams_of = stored.c.seq, stored.c.conversation_id, stored.c.grams
    order = (seq.desc(), ident.desc())

    def after(at: int, conversation_id: int) -> ColumnElement[bool]:
        return tuple_(seq, ident) < tuple_(at, conversation_id)

    every_gram = sorted({gram for q in texts for gram in query_grams(q)})
    share = await indexes.estimated_share(db, entries.CONVERSATIONS, texts[0])
    hits, every = share if share is not None else (0, 1)
    if hits > every * COMMON_SHARE:
        # In many entries: the index of seq is walked newest first, and an entry is read only
        # where its signature (kept in that index) holds every gram's bits (migration 0029).
        return SearchWalk(
            source=stored,
            conversation_id=ident,
            order=order,
            after=after,
            conditions=[entries.signature_holds(stored.c.signature, texts), *rechecks],
            walked=True,
        )
    # Grams in most entries narrow nothing and make the index read their long lists (した, in
    # 88 % of a million: 11 -> 0.8 ms for a rare reading); the LIKE re-check still decides.
    grams = await indexes.selective_grams(db, entries.CONVERSATIONS, every_gram)
    holds = grams_of.contains(_unplanned(grams))
    # Gathered at once only where the phrase itself is expected in few entries: its bigrams
    # taken as chance (hits) expected 19 for 松本様, in 10,000 of a million, and each search
    # gathered 201 entries for nothing first (4.8 -> 10.2 ms for a page of five).
    few = await indexes.estimated_phrase_hits(db, entries.CONVERSATIONS, texts[0])
    gather = (few if few is not None else hits) <= RARE_ESTIMATE

    async def steps(cursor: tuple[int, int] | None) -> AsyncGenerator[Subquery, int]:
        top = cursor[0] if cursor is not None else None

        def held(condition: ColumnElement[bool]) -> Subquery:
            # OFFSET 0 keeps the subquery apart: PostgreSQL would otherwise fold it into the
            # page's query and check each entry's conversation before sorting.
            if cursor is not None:
                condition = and_(condition, after(*cursor))
            return (
                select(ident.label("conversation_id"), seq.label("seq"))
                .where(condition)
                .order_by(*order)
                .offset(0)
                .subquery("stepped")
            )

        # A rare word's entries at once: rows only where every entry holding the grams was
        # gathered, and then they are all the matches there are. None (too many, or no match
        # after all): the epochs' steps.
        if gather and (yield held(ident.in_(_every_entry_if_few(stored, grams)))):
            return
        # The newest epoch, the one before, the two before those, then the rest (seq below
        # them): a few hundred matches at most for a term in 1 % of a million conversations,
        # where four epochs at once held thousands. From a cursor (``top``) the epochs are
        # known; from the top, each statement works out the newest itself. Where an epoch holds
        # no match (the page so far is empty), the term is rare: the rest at once (each step
        # intersects the grams' lists again).
        back = 0
        for span in EPOCH_STEPS:
            if top is None:
                tokens: Any = literal_column(entries.newest_epoch_tokens(back, span), ARRAY(Text))
            else:
                newest = entries.epoch_of(top) - back
                if newest < 0:
                    return
                tokens = _unplanned(
                    [entries.epoch_token(e) for e in range(newest, max(newest - span, -1), -1)]
                )
            found = yield held(and_(holds, grams_of.overlap(tokens)))
            back += span
            if not found:
                break
        if top is None:
            below = literal_column(entries.below_newest_epochs(back), BigInteger)
            yield held(and_(holds, seq < below))
        elif entries.epoch_of(top) - back >= 0:
            yield held(and_(holds, seq < entries.epoch_start(entries.epoch_of(top) - back + 1)))

    return SearchWalk(
        source=stored,
        conversation_id=ident,
        order=order,
        after=after,
        conditions=rechecks,
        steps=steps,
    )


def _unplanned(values: Sequence[str]) -> ScalarSelect[list[str]]:
    """``values`` (grams, epoch tokens) as a subquery PostgreSQL computes before the statement
    (an InitPlan), so that its planner does not see them: it expects as many entries to hold
    them in every search, and keeps the one plan it makes for all (after five executions).
    Seeing a rare name's grams, it expected one entry, where a plan for any grams expects 0.5 %
    of them (5,000 at a million): it made a plan of that search's own at every request, whose
    planning took as long as its execution (issue 14). A step needs no such count: the search
    chose the steps, and a step's entries are sorted apart (``SearchWalk``)."""
    return select(literal(list(values), ARRAY(Text))).scalar_subquery()


def _unplanned_parameter(name: str) -> ScalarSelect[list[str]]:
    """_unplanned, of grams given when the statement is executed (parameter ``name``)."""
    return select(bindparam(name, type_=ARRAY(Text))).scalar_subquery()


def _every_entry_if_few(stored: TableClause, grams: Sequence[str]) -> Select[tuple[int]]:
    """The conversations of every entry holding these grams where there are no more than
    GATHERED_AT_MOST of them, else none: one read of the grams' lists, and no more than one
    entry past that many read (an alias: not correlated to the walk's own entries)."""
    gathered = stored.alias("gathered")
    capped = (
        select(gathered.c.conversation_id)
        .where(gathered.c.grams.contains(_unplanned(grams)))
        .limit(GATHERED_AT_MOST + 1)
        .subquery("capped")
    )
    counted = select(capped.c.conversation_id, func.count().over().label("hits")).subquery(
        "counted"
    )
    return select(counted.c.conversation_id).where(counted.c.hits <= GATHERED_AT_MOST)


def _text_recheck(db: AsyncSession, q: str) -> ColumnElement[bool]:
    """A conversation (joined to its contact) whose names or messages contain ``q``."""
    pattern = like_pattern(q)
    return or_(Contact.search_text.like(pattern, escape="\\"), _in_messages(db, pattern))


def text_check(db: AsyncSession, q: str) -> ColumnElement[bool]:
    """A contact whose names or messages contain ``q``, checked on each contact alone: for a
    list that reads few contacts (contact_steps'), where text_condition would gather every
    match of a word to compare them with each (木下 at a million: its 1,500 messages, 5 ms
    at each step)."""
    return _contact_holds(like_pattern(q), postgresql=dialect(db) == "postgresql")


def _contact_holds(pattern: str | ColumnElement[str], *, postgresql: bool) -> ColumnElement[bool]:
    """text_check, of a LIKE pattern (or an expression that gives it)."""
    return or_(
        Contact.search_text.like(pattern, escape="\\"),
        exists().where(
            Conversation.contact_id == Contact.id, _messages_like(pattern, postgresql=postgresql)
        ),
    )


def _in_messages(db: AsyncSession, pattern: str) -> ColumnElement[bool]:
    """The walked conversation has a message matching ``pattern``, checked for that
    conversation alone."""
    return _messages_like(pattern, postgresql=dialect(db) == "postgresql")


def _messages_like(pattern: str | ColumnElement[str], *, postgresql: bool) -> ColumnElement[bool]:
    checked = select(Message.id).where(
        Message.conversation_id == Conversation.id,
        Message.search_text.like(pattern, escape="\\"),
    )
    if postgresql:
        # OFFSET 0 keeps PostgreSQL from hashing every matching message up front (a "hashed
        # SubPlan" reads them all): each conversation walked is checked instead.
        checked = checked.offset(0)
    return exists(checked)


async def text_condition(db: AsyncSession, q: str, scope: Scope) -> TextPlan:
    """Contacts (or conversations) whose names or messages contain ``q``, normalised (F3, F46)."""
    if not search_key(q):
        return TextPlan(false())
    pattern = like_pattern(q)
    by_message, by_name = await _matching(
        db,
        [
            (
                indexes.MESSAGES,
                select(Message.conversation_id).where(
                    Message.search_text.like(pattern, escape="\\")
                ),
                Message.id,
            ),
            (
                indexes.CONTACTS,
                select(Contact.id).where(Contact.search_text.like(pattern, escape="\\")),
                Contact.id,
            ),
        ],
        q,
    )
    if by_message is not None and by_name is not None:
        # Both rare enough: one list of ids, which the query starts from (an OR of two would
        # make SQLite walk the whole list instead).
        if scope == Scope.conversation:
            named = select(Conversation.id).where(Conversation.contact_id.in_(by_name))
            return TextPlan(Conversation.id.in_(union(by_message, named)))
        written = select(Conversation.contact_id).where(Conversation.id.in_(by_message))
        return TextPlan(Contact.id.in_(union(written, by_name)))
    parts: list[ColumnElement[bool]] = []
    walk_with_checks = False
    if by_message is None:
        # A common term: the list is walked newest first and each conversation checked.
        walk_with_checks = True
        in_conversation = _in_messages(db, pattern)
        parts.append(
            in_conversation
            if scope == Scope.conversation
            else exists().where(Conversation.contact_id == Contact.id, in_conversation)
        )
    elif scope == Scope.conversation:
        parts.append(Conversation.id.in_(by_message))
    else:
        parts.append(
            Contact.id.in_(select(Conversation.contact_id).where(Conversation.id.in_(by_message)))
        )
    if by_name is None:
        parts.append(Contact.search_text.like(pattern, escape="\\"))
    else:
        parts.append(Contact.id.in_(by_name))
    condition = or_(*parts)
    if walk_with_checks and scope == Scope.conversation and await _rare_in_entries(db, q):
        condition = and_(_entry_may_hold(q), condition)
    return TextPlan(condition, walk_with_checks=walk_with_checks)


async def _rare_in_entries(db: AsyncSession, q: str) -> bool:
    """PostgreSQL expects ``q`` in no more than ENTRY_CHECK_SHARE of the conversations'
    entries: a walk checks many conversations for each match, and their entries first
    (_entry_may_hold). Where it is in more, most conversations walked are matches, and the
    look-up would only add to each (予約 in half of them: +0.5 ms a page)."""
    share = await indexes.estimated_share(db, entries.CONVERSATIONS, q)
    if share is None:
        return False
    hits, every = share
    return hits <= every * ENTRY_CHECK_SHARE


def _entry_may_hold(q: str) -> ColumnElement[bool]:
    """The walked conversation's search entry has the signature bits of ``q``: the entry holds
    the grams of its contact's names and of its messages, so one that lacks them is passed over
    at the cost of one look-up, before its names and messages are read. A view walked for a
    word in one conversation of a hundred checks a hundred for each match (担当: 未割り当て
    searched for 木下 at a million: 27,000 conversations walked for a page, 590 ms)."""
    return exists().where(
        _ENTRIES.c.conversation_id == Conversation.id,
        entries.signature_holds(_ENTRIES.c.signature, [q]),
    )


def contact_may_hold(signature: ColumnElement[str], q: str) -> ColumnElement[bool]:
    """A contact whose signature (``signature``: contacts.signature, read in the reading index)
    may hold ``q`` in its names or its messages; one without a signature (no conversation) is
    checked (search.entries.sign_contacts)."""
    return or_(signature.is_(None), entries.signature_holds(signature, [q]))


async def _matching(
    db: AsyncSession,
    lookups: list[tuple[indexes.SearchIndex, Select[int], InstrumentedAttribute[int]]],
    q: str,
) -> list[Select[int] | None]:
    """For each (index, recheck, owner key): a select of the ids ``recheck`` selects among the
    index's candidates, or None for a common term (more than SEARCH_SET_LIMIT hits in the index
    alone, counted without reading a row, all indexes in one query): the caller then walks the
    list instead. The selects go into the list's own query, so the matches never travel to
    Python and back as a long list of parameters."""
    found: list[Select[int] | None] = []
    counts: list[Any] = []
    for index, recheck, owner_key in lookups:
        candidates = indexes.candidates(db, index, q)
        estimate = await indexes.estimated_hits(db, index.name, q)
        if candidates is None or (
            estimate is not None and estimate > SEARCH_SET_LIMIT * ESTIMATE_MARGIN
        ):
            found.append(None)  # no grams, or surely common: not worth counting
            continue
        hits = candidates.subquery()
        counts.append(
            select(func.count())
            .select_from(select(hits.c.owner_id).limit(SEARCH_SET_LIMIT + 1).subquery())
            .scalar_subquery()
        )
        found.append(recheck.join(hits, hits.c.owner_id == owner_key))
    if counts:
        sizes = iter((await db.execute(select(*counts))).one())
        found = [
            None if item is None or int(next(sizes)) > SEARCH_SET_LIMIT else item for item in found
        ]
    return found


async def contact_steps(
    db: AsyncSession, q: str, *, wanted: int, before_id: int | None
) -> AsyncGenerator[Subquery, int] | None:
    """The contacts that may hold ``q`` (in their names or their messages), newest first
    (below ``before_id``), for the contact list to check and page through: each step a
    subquery of ``contact_id``, highest first, told how many rows the page has so far (of
    ``wanted``). None where the list is better walked (SQLite, whose index has no blocks; a
    common term, whose matches come early).

    A contact's names are in the contacts' index, and in each of their conversations' entries
    with the conversation's messages; both hold the token of the contact's block (migration
    0033). Each step reads the grams' lists where they meet its blocks' tokens, so a word in
    one contact of three hundred costs about the same at a million contacts as at a thousand
    (walked, the list checked 49,000 contacts for a page of 木下 at a million: 230 ms). A
    word rare enough that the first step's blocks hold none is read in every block at once.
    Counting a word's rows first would tell a rare one, but that count reads the grams' whole
    lists (松本様 at a million: 3.3 ms), and the statistics' estimate cannot tell it (for a
    surname's 3,200 contacts it said 25); it tells a common word, whose matches come early in
    the walk.
    """
    grams = query_grams(q)
    if dialect(db) != "postgresql" or not grams:
        return None
    share = await indexes.estimated_share(db, entries.CONVERSATIONS, q)
    if share is None:
        return None
    # The phrase's own estimate: a phrase's bigrams come together (estimated_phrase_hits).
    phrase = await indexes.estimated_phrase_hits(db, entries.CONVERSATIONS, q)
    hits, every = share
    expected = phrase if phrase is not None else hits
    if expected > every * COMMON_SHARE:
        return None  # the matches come early in the walk
    names = _CONTACT_NAMES
    named_grams = await indexes.selective_grams(db, indexes.CONTACTS.name, grams)
    entry_grams = await indexes.selective_grams(db, entries.CONVERSATIONS, grams)
    conversations = Conversation.__table__.alias("of_entry")

    def holding(tokens: ColumnElement[Any] | None) -> tuple[Select[Any], Select[Any]]:
        """The names' rows and the entries holding the grams (in these blocks' tokens)."""
        in_names = [names.c.grams.contains(_unplanned(named_grams))]
        in_entries = [_ENTRIES.c.grams.contains(_unplanned(entry_grams))]
        if tokens is not None:
            in_names.append(names.c.grams.overlap(tokens))
            in_entries.append(_ENTRIES.c.grams.overlap(tokens))
        return (
            select(names.c.owner_id.label("contact_id")).where(*in_names),
            select(_ENTRIES.c.conversation_id).where(*in_entries),
        )

    per_block = max(expected / every, 1 / every) * (1 << indexes.CONTACT_BLOCK_BITS)

    # The newest contact's id and the first step's blocks' tokens: from the cursor, or worked
    # out in the statement that starts the steps.
    newest_of: ColumnElement[Any]
    first_tokens: ColumnElement[Any]
    if before_id is not None:
        newest_of = literal(before_id - 1, BigInteger)
        top = indexes.contact_block(before_id - 1)
        first_tokens = _unplanned(
            [indexes.contact_token(b) for b in range(top, max(top - FIRST_BLOCKS, -1), -1)]
        )
    else:
        newest_of = literal_column(_NEWEST_CONTACT, BigInteger)
        first_tokens = literal_column(
            f"ARRAY(SELECT '{indexes.CONTACT_PREFIX}' || ({_NEWEST_CONTACT} >> "
            f"{indexes.CONTACT_BLOCK_BITS}) - g FROM generate_series(0, {FIRST_BLOCKS - 1}) AS g)",
            ARRAY(Text),
        )

    def held(newest: int, blocks: Sequence[int]) -> Subquery:
        tokens = None
        if len(blocks) <= TOKENS_AT_MOST and blocks[-1] > 0:
            tokens = _unplanned([indexes.contact_token(block) for block in blocks])
        named, in_entries = holding(tokens)
        entries_held = in_entries.subquery("held")
        written = select(conversations.c.contact_id).join_from(
            entries_held, conversations, conversations.c.id == entries_held.c.conversation_id
        )
        found = union(named, written).subquery("found")
        # The blocks' own ids alone: each contact in one step, in its place.
        lowest = blocks[-1] << indexes.CONTACT_BLOCK_BITS
        highest = min(newest, ((blocks[0] + 1) << indexes.CONTACT_BLOCK_BITS) - 1)
        return (
            select(found.c.contact_id)
            .where(found.c.contact_id.between(lowest, highest), _NO_PARALLEL_WORKER)
            .order_by(found.c.contact_id.desc())
            .offset(0)
            .subquery("stepped")
        )

    async def steps() -> AsyncGenerator[Subquery, int]:
        # One statement: the newest contact's id (where no cursor gives it) and, for a word the
        # statistics expect in no more than RARE_ESTIMATE entries, whether the first step's
        # blocks hold its grams at all.
        # Where they do not, the word is rare: its first step is every block at once (a full
        # name: one step, not two). The look costs a word found there 0.4 ms at a million (its
        # blocks' tokens' lists), and the statistics' few often means many (a surname's 3,200:
        # 25), but their many is many: such a word is not looked for.
        probed: ColumnElement[bool] = true()
        if expected <= RARE_ESTIMATE:
            probed_names, probed_entries = holding(first_tokens)
            probed = or_(exists(probed_names), exists(probed_entries))
        newest, recent = (await db.execute(select(newest_of, probed))).one()
        if newest is None or newest < 1:
            return
        first = top = indexes.contact_block(newest)
        span = min(FIRST_BLOCKS, max(1, math.ceil(wanted * BLOCK_MARGIN / per_block)))
        if not recent:
            span = top + 1
        while top >= 0:
            found = yield held(newest, range(top, max(top - span, -1), -1))
            if found >= wanted:
                return
            top -= span
            rate = found / (first - top)  # rows a block read so far
            span = math.ceil((wanted - found) * BLOCK_MARGIN / rate) if rate else top + 1

    return steps()


@dataclass(frozen=True)
class GatheredContacts:
    """The contacts that hold a text, gathered from the search indexes (the contacts' names'
    and the conversations' entries), each list read no further than one row past
    SEARCH_SET_LIMIT, and each contact checked (text_check): ``condition`` holds for them
    where neither list went past, and then they are every contact that holds it; ``few``
    says whether none went past (on nothing of the row: PostgreSQL checks it once, before the
    rest). A statement using either is executed with ``parameters`` (the text's grams and
    pattern, the limit)."""

    condition: ColumnElement[bool]
    few: ColumnElement[bool]
    parameters: dict[str, Any]


def _gathering() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """GatheredContacts' selection and condition, built once: the grams and the limit are
    parameters of the execution (built for each search, they took 1.3 ms of Python a
    request); the limit is written into the statement (PostgreSQL plans it once for all)."""
    limit = bindparam("gathered_limit", type_=Integer, literal_execute=True)
    at_most = bindparam("gathered_at_most", type_=Integer)
    named = (
        select(_CONTACT_NAMES.c.owner_id.label("contact_id"))
        .where(_CONTACT_NAMES.c.grams.contains(_unplanned_parameter("gathered_names")))
        .limit(limit)
        .cte("named")
    )
    written = (
        select(_ENTRIES.c.conversation_id)
        .where(_ENTRIES.c.grams.contains(_unplanned_parameter("gathered_entries")))
        .limit(limit)
        .cte("written")
    )
    conversations = Conversation.__table__.alias("of_entry")
    writers = select(conversations.c.contact_id).where(
        conversations.c.id.in_(select(written.c.conversation_id))
    )

    def counted(listed: Any) -> ColumnElement[bool]:
        return select(func.count()).select_from(listed).scalar_subquery() <= at_most

    few = and_(counted(named), counted(written))
    # Each one checked for the text (text_check), its pattern unseen by the planner too: seeing
    # it, PostgreSQL planned the statement again at every search (1.3 ms at a million).
    pattern = select(bindparam("gathered_pattern", type_=Text)).scalar_subquery()
    holds = _contact_holds(pattern, postgresql=True)
    gathered = Contact.id.in_(union(select(named.c.contact_id), writers))
    return and_(gathered, few, holds), few


_GATHERING = _gathering()


async def gathered_contacts(db: AsyncSession, q: str) -> GatheredContacts | None:
    """The contacts that hold ``q``, where the statistics expect the phrase in no more than
    RARE_ESTIMATE entries (estimated_phrase_hits: a full name's at a million 14–37, a
    surname's 428, where it has 3,200 contacts), for a list that would otherwise walk for a
    rare word (the contact list in 五十音順). None on SQLite, for a text without letters or
    digits, or for a word expected in more entries. Where they are wrong (a commoner word
    taken as rare), the gathering reads its grams' lists, goes past its limit and says so:
    about what counting it would have cost (6 ms for a surname at a million)."""
    grams = query_grams(q)
    if dialect(db) != "postgresql" or not grams:
        return None
    expected = await indexes.estimated_phrase_hits(db, entries.CONVERSATIONS, q)
    if expected is None or expected > RARE_ESTIMATE:
        return None
    condition, few = _GATHERING
    return GatheredContacts(
        condition=condition,
        few=few,
        parameters={
            "gathered_names": await indexes.selective_grams(db, indexes.CONTACTS.name, grams),
            "gathered_entries": await indexes.selective_grams(db, entries.CONVERSATIONS, grams),
            "gathered_pattern": like_pattern(q),
            "gathered_at_most": SEARCH_SET_LIMIT,
            "gathered_limit": SEARCH_SET_LIMIT + 1,
        },
    )


Row = TypeVar("Row")


async def read_steps(
    steps: AsyncGenerator[Subquery, int],
    read: Callable[[Subquery, int], Awaitable[Sequence[Row]]],
    limit: int,
) -> list[Row]:
    """A page's rows from a walk's steps (SearchWalk.steps, contact_steps): each step's rows
    as ``read(step, wanted)`` gives them (no more than the page still wants), until there are
    more than ``limit`` (the one past the page says there is a next) or the steps end; each
    step told how many rows the page has so far. The steps are closed either way."""
    rows: list[Row] = []
    try:
        step = await anext(steps)
        while True:
            rows += await read(step, limit + 1 - len(rows))
            if len(rows) > limit:
                break
            step = await steps.asend(len(rows))
    except StopAsyncIteration:
        pass
    finally:
        await steps.aclose()
    return rows
