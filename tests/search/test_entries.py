"""Each conversation's search entry (search.entries, filled by search.conversations): kept in
step with its messages, its contact's names and its activity, and walked newest first by the
inbox search."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from madoguchi import search
from madoguchi.config import Settings
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import repository, workflow
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Conversation, Message
from madoguchi.conversations.repository import Cursor, InboxQuery
from madoguchi.crm import filters, tags
from madoguchi.crm.statuses import list_statuses
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.text import grams_of
from madoguchi.search import conversations as searching
from madoguchi.search import entries, indexes, planner
from tests.conftest import RecordingBus
from tests.fixtures import Factory, statements_run, steps_run

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _word() -> str:
    """A word no other test writes: kanji drawn at random."""
    return "".join(chr(0x5000 + secrets.randbelow(0x2000)) for _ in range(3))


async def _found(ctx: Ctx, q: str, *, limit: int = 50) -> list[int]:
    """Every conversation the inbox search finds, page after page."""
    return await _pages(ctx, InboxQuery(q=q, limit=limit))


async def _pages(ctx: Ctx, query: InboxQuery, *, member_id: int = 0) -> list[int]:
    """Every conversation of the list ``query`` asks for, page after page."""
    ids: list[int] = []
    cursor: Cursor | None = None
    while True:
        page = await repository.list_conversations(
            ctx.db, member_id=member_id, query=replace(query, cursor=cursor)
        )
        ids += [conversation.id for conversation in page.conversations]
        if page.next_cursor is None:
            return ids
        cursor = Cursor.decode(page.next_cursor)


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A JSON plan's node and every node under it."""
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


async def _fts_is_whole(ctx: Ctx) -> None:
    if ctx.dialect == "sqlite":
        # FTS5 compares its index with the entries it was built from; a mismatch raises.
        await ctx.db.execute(
            text(
                f"INSERT INTO {search.CONVERSATIONS_FTS}({search.CONVERSATIONS_FTS}, rank) "
                "VALUES ('integrity-check', 1)"
            )
        )


async def test_entry_follows_messages_names_and_activity(ctx: Ctx, factory: Factory) -> None:
    channel = await factory.channel()
    member = await factory.member(role="owner")
    first, reply, name = _word(), _word(), _word()
    ingested = await factory.inbound(
        channel, contact=f"c-{first}", name=f"{name} 様", text=f"{first}の件です"
    )
    conversation = ingested.conversation
    entry = await search.conversation_entry(ctx.db, conversation.id)
    assert entry is not None
    assert {first[:2], first[1:], name[:2]} <= entry.grams
    assert entry.seq == search.activity_seq(conversation.last_activity_at, conversation.id)

    ctx.clock = lambda: START + timedelta(days=30)
    await conversations.send_message(
        ctx,
        conversation_id=conversation.id,
        member=member,
        text=f"{reply}でお待ちしています",
        kind="reply",
    )
    moved = await search.conversation_entry(ctx.db, conversation.id)
    assert moved is not None and {reply[:2], first[:2]} <= moved.grams
    assert moved.seq == search.activity_seq(START + timedelta(days=30), conversation.id)
    assert await _found(ctx, first) == [conversation.id]
    assert await _found(ctx, reply) == [conversation.id]
    assert await _found(ctx, name) == [conversation.id]

    # The display name changes twice: the first one is forgotten (the channel's name stays).
    renamed, again = _word(), _word()
    await contacts.rename_contact(ctx, contact_id=conversation.contact_id, display_name=renamed)
    await contacts.rename_contact(ctx, contact_id=conversation.contact_id, display_name=again)
    await ctx.commit()
    assert await _found(ctx, again) == [conversation.id]
    assert await _found(ctx, renamed) == []
    assert await _found(ctx, name) == [conversation.id]
    assert await _found(ctx, first) == [conversation.id]  # its messages are still there
    await _fts_is_whole(ctx)

    await workflow.delete_conversation(ctx, conversation_id=conversation.id, actor=member)
    assert await search.conversation_entry(ctx.db, conversation.id) is None
    assert await _found(ctx, first) == []
    await _fts_is_whole(ctx)


async def test_blocked_contacts_messages_are_found_where_they_are(
    ctx: Ctx, factory: Factory
) -> None:
    channel = await factory.channel()
    word = _word()
    ingested = await factory.inbound(channel, contact=f"b-{word}", text="はじめまして")
    await contacts.update_contact(
        ctx,
        contact_id=ingested.conversation.contact_id,
        changes=contacts.ContactChanges(blocked=True),
    )
    await factory.inbound(channel, contact=f"b-{word}", text=f"{word}です")
    assert await _found(ctx, word) == [ingested.conversation.id]


@pytest.mark.parametrize(
    ("epoch_steps", "common_share", "rare_estimate", "gathered"),
    [
        (planner.EPOCH_STEPS, 1.0, -1, 200),
        ((), 1.0, -1, 200),
        ((1,) * 8, 1.0, -1, 200),
        (planner.EPOCH_STEPS, -1.0, -1, 200),  # every word common: the signatures' walk
        (planner.EPOCH_STEPS, 1.0, 10**9, 200),  # every word rare: its entries gathered at once
        (planner.EPOCH_STEPS, 1.0, 10**9, 5),  # too many to gather: the epochs after all
    ],
)
async def test_search_pages_newest_first_without_gaps_or_lookalikes(
    ctx: Ctx,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    epoch_steps: tuple[int, ...],
    common_share: float,
    rare_estimate: int,
    gathered: int,
) -> None:
    """Conversations weeks and months apart, paged three at a time: every match once, newest
    activity first; one holding the word's grams in two different messages is not a match.
    PostgreSQL gathers a rare word's entries at once where they are few, else searches a few
    epochs of the newest entries at a time, then the rest, and a common word by walking the
    entries' signatures: gathered, in one step or in many, or by the signatures, the pages are
    the same."""
    monkeypatch.setattr(planner, "EPOCH_STEPS", epoch_steps)
    monkeypatch.setattr(planner, "COMMON_SHARE", common_share)
    monkeypatch.setattr(planner, "RARE_ESTIMATE", rare_estimate)
    monkeypatch.setattr(planner, "GATHERED_AT_MOST", gathered)
    channel = await factory.channel()
    word = _word()
    expected = []
    for n in range(11):
        ctx.clock = lambda n=n: START + timedelta(days=5 * n * n)
        ingested = await factory.inbound(channel, contact=f"p-{word}-{n}", text=f"{word} {n}")
        if n % 4 == 3:
            # Another conversation a moment later, without the word: never in the results.
            ctx.clock = lambda n=n: START + timedelta(days=5 * n * n, minutes=1)
            await factory.inbound(channel, contact=f"q-{word}-{n}", text="ほかの話")
        expected.append(ingested.conversation.id)
    # The word's first two characters in one message, its last two in another.
    ctx.clock = lambda: START + timedelta(days=600)
    await factory.inbound(channel, contact=f"x-{word}", text=f"{word[:2]}について")
    await factory.inbound(channel, contact=f"x-{word}", text=f"それと{word[1:]}")
    assert await _found(ctx, word, limit=3) == expected[::-1]
    assert await _found(ctx, word, limit=50) == expected[::-1]


@pytest.mark.parametrize(("rare_estimate", "statements"), [(-1, 2), (10**9, 1)])
async def test_a_rare_word_is_found_in_one_step_or_two_on_postgresql(
    ctx: Ctx,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    rare_estimate: int,
    statements: int,
) -> None:
    """A word expected in few entries is found in one statement, its entries gathered at once.
    One expected in more: where the newest epoch holds no match the word is rare, and the rest
    of the entries are searched at once (each step intersects its grams' lists again), not
    epoch after epoch."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's FTS5 index answers newest first in one statement")
    # The entries are walked whatever PostgreSQL's statistics (of every test's entries so far)
    # make of a word it has never seen: the walk itself is what is tested.
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)
    monkeypatch.setattr(planner, "RARE_ESTIMATE", rare_estimate)
    channel = await factory.channel()
    word = _word()
    ctx.clock = lambda: START
    found = await factory.inbound(channel, contact=f"r-{word}", text=f"{word}の件")
    ctx.clock = lambda: START + timedelta(days=120)
    await factory.inbound(channel, contact=f"n-{word}", text="こんにちは")
    with statements_run() as run:
        assert await _found(ctx, word) == [found.conversation.id]
    walked = [sql for sql in run if ") AS stepped JOIN" in sql]
    assert len(walked) == statements, walked
    # A step asks for what the page still wants as a parameter: one statement for any number
    # (repository.page_size_sql writes a page's own size in, not a step's).
    assert all(re.search(r"LIMIT \$\d+::INTEGER$", sql) for sql in walked), walked


async def test_a_step_checks_its_entries_newest_first_and_no_further_than_the_page_on_postgresql(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step's entries are sorted before their conversations are joined and checked for the
    word, so a page of three reads four of the twelve conversations holding the word's grams,
    not all twelve (PostgreSQL would check each entry, then sort them: 65 for 5 rows of 松本様
    in the newest epoch at a million). The word is in messages alone: each conversation
    checked looks in its messages once. The step is planned as at a million, the entries
    first and each joined by its keys (nested loops in the statement's order): with a few
    rows in every table PostgreSQL may as well join everything first."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's FTS5 index answers newest first in one statement")
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)
    monkeypatch.setattr(planner, "RARE_ESTIMATE", -1)
    monkeypatch.setattr(planner, "EPOCH_STEPS", ())  # one step: every entry at once
    channel = await factory.channel()
    word = _word()
    expected = []
    for n in range(12):
        ctx.clock = lambda n=n: START + timedelta(hours=n)
        ingested = await factory.inbound(
            channel, contact=f"c-{word}-{n}", name=f"客{n}", text=f"{word}の件"
        )
        expected.append(ingested.conversation.id)
    with steps_run() as steps:
        page = await repository.list_conversations(
            ctx.db, member_id=0, query=InboxQuery(q=word, limit=3)
        )
    assert [c.id for c in page.conversations] == expected[::-1][:3]
    assert len(steps) == 1, steps
    sql, parameters = steps[0]
    for setting in ("enable_hashjoin", "enable_mergejoin", "enable_material"):
        await ctx.db.execute(text(f"SET LOCAL {setting} = off"))
    await ctx.db.execute(text("SET LOCAL join_collapse_limit = 1"))
    connection = await ctx.db.connection()
    explained = await connection.exec_driver_sql(
        f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", parameters
    )
    plan = explained.scalar_one()[0]["Plan"]
    # (The other read of the entries is the newest key's, for where the epochs begin.)
    entries_read = [n for n in _nodes(plan) if n.get("Relation Name") == search.CONVERSATIONS]
    assert 12 in [n["Actual Rows"] for n in entries_read], plan
    messages_read = [n for n in _nodes(plan) if n.get("Relation Name") == "messages"]
    assert sum(n["Actual Loops"] for n in messages_read) == 4, plan


async def test_every_word_s_step_is_planned_alike_on_postgresql(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL plans a step of the walk the same whichever word is searched: its planner is
    not shown the grams (planner._unplanned), so the one plan it keeps after five searches
    serves them all. Shown the grams, it expected the entries its statistics gave each word
    (one for a rare name), a plan for any grams expected 0.5 % of the entries, and at a million
    every search was planned again at each request (issue 14). Here one word is in thirty
    entries and the other in one, and each is searched for its first step (gathered) and for a
    step of every entry."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's FTS5 index answers newest first in one statement")
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)
    channel = await factory.channel()
    common, rare = _word(), _word()
    for n in range(30):
        await factory.inbound(channel, contact=f"c-{common}-{n}", text=f"{common}の件")
    alone = await factory.inbound(channel, contact=f"r-{rare}", text=f"{rare}の件")
    await ctx.db.execute(text(f"ANALYZE {search.CONVERSATIONS}"))

    async def planned(q: str) -> list[tuple[str, int]]:
        with steps_run() as steps:
            found = await _found(ctx, q)
        assert len(found) == (30 if q == common else 1)
        sql, parameters = steps[0]
        connection = await ctx.db.connection()
        explained = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", parameters)
        plan = explained.scalar_one()[0]["Plan"]
        return [(node["Node Type"], node["Plan Rows"]) for node in _nodes(plan)]

    for gathered in (True, False):
        monkeypatch.setattr(planner, "RARE_ESTIMATE", 10**9 if gathered else -1)
        monkeypatch.setattr(planner, "EPOCH_STEPS", ())  # the step of every entry
        assert await planned(rare) == await planned(common), gathered
    assert alone.conversation.id in await _found(ctx, rare)


async def test_a_phrase_whose_bigrams_come_together_is_not_gathered_on_postgresql(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a word's entries are gathered at once goes by the phrase's own estimate: each
    bigram after the first divided by the share of the character it shares with the one before,
    where the statistics list that character. 松本様 at a million: its bigrams taken as chance
    expect 25 entries (PostgreSQL's estimate), the phrase 417, and it is in ~10,000; a rare
    name of unlisted characters stays rare. The statistics are a million entries' as a process
    keeps them."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's FTS5 index answers newest first in one statement")
    kept = indexes._GramStatistics({"本": 0.06, "様": 0.78}, 0.005, 1_000_000.0, least=0.06)

    async def statistics(db: object, table: str) -> indexes._GramStatistics:
        assert table == search.CONVERSATIONS
        return kept

    monkeypatch.setattr(indexes, "_statistics", statistics)
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)

    async def estimates(q: str) -> tuple[int | None, int | None]:
        product = await indexes.estimated_share(ctx.db, search.CONVERSATIONS, q)
        phrase = await indexes.estimated_phrase_hits(ctx.db, search.CONVERSATIONS, q)
        return (product[0] if product else None), phrase

    assert await estimates("松本様") == (25, 417)  # 0.005 · (0.005 / 0.06) of a million
    # No character listed: each at most the least listed share, 0.005 · (0.005 / 0.06)².
    assert await estimates("木下綾香") == (0, 35)
    assert await estimates("様") == (780_000, 780_000)
    assert await estimates("様様様") == (5_000, 5_000)  # a bigram again: counted once, as there
    assert await estimates("本様様") == (25, 32)  # 様 listed: 0.005 · (0.005 / 0.78)
    # ANALYZE's sample may leave 本 out (it did at a million, listing down to 1 %): 本様 is then
    # taken as in at least half of 本's entries, not as chance (25, and gathered for nothing).
    kept = indexes._GramStatistics({"様": 0.78}, 0.005, 1_000_000.0, least=0.01)
    assert await estimates("松本様") == (25, 2_500)
    kept = indexes._GramStatistics({"本": 0.06, "様": 0.78}, 0.005, 1_000_000.0, least=0.06)
    channel = await factory.channel()
    word = _word()
    found = await factory.inbound(channel, contact=f"g-{word}", text=f"{word}様")
    for q, gathered in ((f"{word}様", True), ("松本様", False)):
        with statements_run() as run:
            ids = await _found(ctx, q)
        assert (found.conversation.id in ids) == (q != "松本様")
        assert any("gathered" in sql for sql in run) == gathered, (q, run)


async def test_a_common_word_is_walked_in_the_index_of_keys_alone_on_postgresql(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word in many entries is found by walking the index of their keys, newest first, where
    each entry's signature is kept: the entries' rows are read only for those whose signature
    holds the word (the planner's own choice, with sorting off; docs/benchmarks.md), and each
    conversation is looked up by its key as the walk reaches it. The settings the walk's
    statement needed are put back as they were, for the rest of the transaction."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's FTS5 index answers newest first in one statement")
    monkeypatch.setattr(planner, "COMMON_SHARE", -1.0)
    channel = await factory.channel()
    word = _word()
    found = await factory.inbound(channel, contact=f"w-{word}", text=f"{word}の件")
    await factory.inbound(channel, contact=f"w-{word}-2", text="こんにちは")
    await ctx.db.execute(text("SET LOCAL enable_mergejoin = off"))
    await ctx.db.execute(text("SET LOCAL max_parallel_workers_per_gather = 3"))
    with statements_run() as run:
        assert await _found(ctx, word) == [found.conversation.id]
    walks = [sql for sql in run if f"FROM {search.CONVERSATIONS} JOIN" in sql]
    assert len(walks) == 1, walks
    # The walk's own: no sorting, no hash, merge or material join, no parallel worker.
    assert "set_config('max_parallel_workers_per_gather', '0', true)" in "\n".join(run)
    settings = "SELECT current_setting('enable_sort'), current_setting('enable_hashjoin'), "
    settings += "current_setting('enable_mergejoin'), current_setting('enable_material'), "
    settings += "current_setting('max_parallel_workers_per_gather')"
    assert tuple((await ctx.db.execute(text(settings))).one()) == ("on", "on", "off", "on", "3")
    # The same statement, planned as the page's was (in its settings).
    await ctx.db.execute(repository._WALKING)
    listing = await repository._listing(
        ctx.db, member_id=0, query=InboxQuery(q=word), timezone="Asia/Tokyo", now=None
    )
    statement = listing.statement.order_by(*(listing.order or ())).limit(51)
    compiled = statement.compile(ctx.db.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(row[0] for row in await ctx.db.execute(text(f"EXPLAIN {compiled}")))
    assert "Index Only Scan Backward using ix_conversation_search_seq" in plan, plan
    assert "Materialize" not in plan and "Hash" not in plan and "Merge" not in plan, plan
    await ctx.db.rollback()


async def _signature(ctx: Ctx, conversation_id: int) -> int:
    stored = await ctx.db.scalar(
        text(f"SELECT signature::text FROM {search.CONVERSATIONS} WHERE conversation_id = :id"),
        {"id": conversation_id},
    )
    return entries.read_signature(stored)


async def _texts_signature(ctx: Ctx, conversation_id: int) -> int:
    """The signature of what a conversation holds now: its contact's names and its messages."""
    conversation = await ctx.db.get(Conversation, conversation_id)
    assert conversation is not None
    contact = await ctx.db.get(Contact, conversation.contact_id, populate_existing=True)
    assert contact is not None
    texts = [searching.names_text(contact)]
    texts += await ctx.db.scalars(
        select(Message.text).where(Message.conversation_id == conversation_id, searching.SEARCHED)
    )
    bits = 0
    for held in texts:
        bits |= search.text_signature(held)
    return bits


async def test_an_entry_signature_follows_its_texts(ctx: Ctx, factory: Factory) -> None:
    """PostgreSQL's entries keep the signature of their texts (grams and runs of three
    characters) as messages and names come and go."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's entries have no signature")
    channel = await factory.channel()
    member = await factory.member(role="owner")
    word, later, name = _word(), _word(), _word()
    ingested = await factory.inbound(channel, contact=f"g-{word}", name=name, text=word)
    conversation_id = ingested.conversation.id
    assert await _signature(ctx, conversation_id) == await _texts_signature(ctx, conversation_id)
    await conversations.send_message(
        ctx, conversation_id=conversation_id, member=member, text=later, kind="reply"
    )
    assert await _signature(ctx, conversation_id) == await _texts_signature(ctx, conversation_id)
    contact_id = ingested.conversation.contact_id
    await contacts.rename_contact(ctx, contact_id=contact_id, display_name=_word())
    await ctx.commit()
    assert await _signature(ctx, conversation_id) == await _texts_signature(ctx, conversation_id)


async def test_an_entry_without_its_runs_is_judged_by_its_grams(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry as migration 0029 leaves it (its grams' bits, no runs) is found by the walk of
    a common word all the same, and a new message does not make it claim runs it lacks."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's entries have no signature")
    monkeypatch.setattr(planner, "COMMON_SHARE", -1.0)  # the signatures' walk
    channel = await factory.channel()
    member = await factory.member(role="owner")
    word, later = _word(), _word()
    ingested = await factory.inbound(channel, contact=f"m-{word}", text=f"{word}です")
    conversation_id = ingested.conversation.id
    entry = await search.conversation_entry(ctx.db, conversation_id)
    assert entry is not None
    await search.write_conversations(
        ctx.db, [search.ConversationEntry(conversation_id, entry.seq, entry.grams)], new=False
    )
    await ctx.commit()
    assert await _signature(ctx, conversation_id) == entries.signature(entry.grams)
    assert await _found(ctx, word) == [conversation_id]
    await conversations.send_message(
        ctx, conversation_id=conversation_id, member=member, text=f"{later}で", kind="reply"
    )
    bits = await _signature(ctx, conversation_id)
    assert not bits & entries.RUNS_HELD  # no runs claimed
    assert await _found(ctx, later) == [conversation_id]
    assert await _found(ctx, word) == [conversation_id]


async def test_conversations_in_the_same_millisecond_with_ids_far_apart(
    ctx: Ctx, factory: Factory
) -> None:
    """Two entries asking for one seq (activity in the same millisecond, ids 2**20 apart) are
    both kept; SQLite's index gives the second the next free seq below."""
    channel = await factory.channel()
    word = _word()
    ids = []
    for n in range(2):
        ingested = await factory.inbound(channel, contact=f"s-{word}-{n}", text=f"{word}")
        ids.append(ingested.conversation.id)
    seq = search.activity_seq(START, ids[0])
    for conversation_id in ids:
        await search.write_conversations(
            ctx.db,
            [search.ConversationEntry(conversation_id, seq, grams_of([word]))],
            new=False,
        )
    await ctx.commit()
    seqs = [(await search.conversation_entry(ctx.db, i)).seq for i in ids]  # type: ignore[union-attr]
    assert seqs[0] == seq
    assert seqs[1] == (seq - 1 if ctx.dialect == "sqlite" else seq)
    assert sorted(await _found(ctx, word)) == sorted(ids)
    await _fts_is_whole(ctx)


@pytest.mark.parametrize(("share", "walks_entries"), [(0.0, True), (2.0, False)])
async def test_unread_searched_walks_the_entries_where_it_holds_many_on_postgresql(
    ctx: Ctx,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    share: float,
    walks_entries: bool,
) -> None:
    """未確認 searched for a rarer word walks the search entries, each checked for being unread,
    where PostgreSQL counts many conversations in the view; else it walks the view. Either way
    the pages hold the unread matches alone, newest first: not a read one, not a hidden
    customer's, not an unread one without the word."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite walks the view (its statistics are not read for this)")
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)  # the word is walked in steps
    monkeypatch.setattr(repository, "VIEW_ENTRIES_SHARE", share)
    member = await factory.member(role="owner")
    channel = await factory.channel()
    word = _word()
    expected = []
    for n in range(5):
        ctx.clock = lambda n=n: START + timedelta(days=3 * n)
        ingested = await factory.inbound(channel, contact=f"u-{word}-{n}", text=f"{word} {n}")
        expected.append(ingested.conversation.id)
    ctx.clock = lambda: START + timedelta(days=20)
    read = await factory.inbound(channel, contact=f"r-{word}", text=f"{word}、読みました")
    await conversations.mark_read(ctx, conversation_id=read.conversation.id, member=member)
    hidden = await factory.inbound(channel, contact=f"h-{word}", text=f"{word}です")
    await contacts.update_contact(
        ctx,
        contact_id=hidden.conversation.contact_id,
        changes=contacts.ContactChanges(hidden=True),
    )
    await factory.inbound(channel, contact=f"o-{word}", text="ほかの話")
    await ctx.commit()
    # The share is read from the statistics: there are some.
    await ctx.db.execute(text("ANALYZE conversations, conversation_team_unreads"))

    with statements_run() as run:
        found = await _pages(
            ctx, InboxQuery(view=repository.View.unread, q=word, limit=2), member_id=member.id
        )
    assert found == expected[::-1]
    assert any(") AS stepped JOIN" in sql for sql in run) is walks_entries


@pytest.mark.parametrize(("share", "walks_entries"), [(0.0, True), (2.0, False)])
@pytest.mark.parametrize("fields", ["tag", "status", "channel", "tag+channel"])
async def test_a_search_filtered_by_a_common_tag_walks_the_entries_on_postgresql(
    ctx: Ctx,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    fields: str,
    share: float,
    walks_entries: bool,
) -> None:
    """一覧 searched for a rarer word and filtered by a tag, a status or a channel (or more)
    that PostgreSQL's statistics find on many contacts (conversations) walks the search
    entries, each checked for the filter, as a common view does; else it walks the filter's
    rows and checks each for the word. Either way the pages hold the filtered matches alone,
    newest first: not one outside the filter, not one inside it without the word."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite walks the filter's rows (its statistics are not read for this)")
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)  # the word is walked in steps
    monkeypatch.setattr(repository, "VIEW_ENTRIES_SHARE", share)
    chosen_channel = await factory.channel()
    other_channel = await factory.channel(name="ほかのAPI")
    tag = await tags.create_tag(ctx, actor=None, name=f"常連{_word()}")
    status = (await list_statuses(ctx.db))[-1]
    word = _word()
    expected = []
    for n in range(9):
        ctx.clock = lambda n=n: START + timedelta(days=2 * n)
        chosen = n % 3 != 2
        ingested = await factory.inbound(
            chosen_channel if chosen else other_channel,
            contact=f"t-{word}-{n}",
            text=f"{word} {n}" if n != 4 else "ほかの話",
        )
        if chosen:
            contact_id = ingested.conversation.contact_id
            await factory.tag_and_status(contact_id, tag_id=tag.id, status_id=status.id)
            if n != 4:
                expected.append(ingested.conversation.id)
    await ctx.commit()
    await ctx.db.execute(text("ANALYZE contacts, contact_tags, conversations"))
    ids = {"tag": tag.id, "status": status.id, "channel": chosen_channel.id}
    conditions = tuple(filters.Condition(field, "eq", ids[field]) for field in fields.split("+"))

    with statements_run() as run:
        found = await _pages(ctx, InboxQuery(q=word, conditions=conditions, limit=2))
    assert found == expected[::-1]
    assert any(") AS stepped JOIN" in sql for sql in run) is walks_entries


@pytest.mark.parametrize("entry_check", [1.0, -1.0])
@pytest.mark.parametrize("view", [repository.View.mine, repository.View.unassigned, "channel"])
async def test_a_view_searched_for_a_common_word_walks_its_own_index(
    ctx: Ctx,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    view: repository.View | str,
    entry_check: float,
) -> None:
    """担当: 自分 (or 未割り当て, or a channel) searched for a word in many conversations walks
    the view's own index newest first and checks each conversation, where PostgreSQL would
    check every one of the view's conversations and sort them (1.7 s at a million; 3 s for a
    channel). On PostgreSQL a word rare among the entries has each walked conversation's entry
    looked at first (``entry_check``: always, or never). Walked or not, checked first or not,
    the pages are the same, a customer found by name alone among them."""
    monkeypatch.setattr(planner, "ENTRY_CHECK_SHARE", entry_check)
    monkeypatch.setattr(repository, "VIEW_ENTRIES_SHARE", 2.0)  # the view's walk, not the entries'
    me = await factory.member(role="owner")
    other = await factory.member()
    channel = await factory.channel()
    elsewhere = await factory.channel(name="もう一つ")
    word = _word()
    wanted = []
    for n in range(9):
        ctx.clock = lambda n=n: START + timedelta(days=2 * n)
        text_ = f"{word} {n}" if n not in (3, 7) else "ほかの話"
        name = f"{word}様" if n == 7 else None  # found by name alone
        ingested = await factory.inbound(
            elsewhere if view == "channel" and n % 3 == 2 else channel,
            contact=f"v-{n}-{secrets.token_hex(4)}",  # the word only where it is meant
            name=name,
            text=text_,
        )
        assignee = (me.id, None, other.id)[n % 3]
        if assignee is not None:
            await workflow.assign(
                ctx, conversation_id=ingested.conversation.id, member_id=assignee, actor=None
            )
        matches = n != 3
        if view == repository.View.mine:
            matches = matches and assignee == me.id
        elif view == repository.View.unassigned:
            matches = matches and assignee is None
        else:
            matches = matches and n % 3 != 2
        if matches:
            wanted.append(ingested.conversation.id)
    await ctx.commit()
    conditions = tuple(filters.from_params(q=word, channel=channel.id)) if view == "channel" else ()

    query = (
        InboxQuery(conditions=conditions, limit=1)
        if view == "channel"
        else InboxQuery(view=repository.View(view), q=word, limit=1)
    )

    async def pages() -> list[int]:
        return await _pages(ctx, query, member_id=me.id)

    expected = wanted[::-1]
    assert await pages() == expected  # the word's few matches, sorted
    monkeypatch.setattr(planner, "SEARCH_SET_LIMIT", 0)  # the word is common: walked
    with statements_run() as run:
        assert await pages() == expected
    walked = any("set_config('enable_sort', 'off', true)" in sql for sql in run)
    assert walked is (ctx.dialect == "postgresql")
    entries_read = any(f"FROM {search.CONVERSATIONS}" in sql for sql in run)
    assert entries_read is (ctx.dialect == "postgresql" and entry_check > 0)


@pytest.mark.parametrize(
    "view", [repository.View.mine, repository.View.unassigned, repository.View.closed]
)
async def test_a_view_holding_many_conversations_searched_walks_the_entries_on_postgresql(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch, view: repository.View
) -> None:
    """担当: 自分, 未割り当て or 完了 searched for a rarer word walks the search entries, each
    checked for the view's rule, where PostgreSQL's statistics count many conversations in the
    view (here: any share will do): the view's matches alone, newest first, page after page."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite walks the view (its statistics are not read for this)")
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)  # the word is walked in steps
    monkeypatch.setattr(repository, "VIEW_ENTRIES_SHARE", 0.0)
    me = await factory.member(role="owner")
    other = await factory.member()
    channel = await factory.channel()
    word = _word()
    wanted = []
    for n in range(9):
        ctx.clock = lambda n=n: START + timedelta(days=2 * n)
        ingested = await factory.inbound(
            channel, contact=f"e-{n}-{secrets.token_hex(4)}", text=f"{word} {n}"
        )
        conversation_id = ingested.conversation.id
        assignee = (me.id, None, other.id)[n % 3]
        if assignee is not None:
            await workflow.assign(
                ctx, conversation_id=conversation_id, member_id=assignee, actor=None
            )
        closed = n % 4 == 0
        if closed:
            await workflow.close(ctx, conversation_id=conversation_id, actor=me)
        if view == repository.View.closed:
            matches = closed
        elif view == repository.View.mine:
            matches = not closed and assignee == me.id
        else:
            matches = not closed and assignee is None
        if matches:
            wanted.append(conversation_id)
    await ctx.commit()
    await ctx.db.execute(text("ANALYZE conversations"))

    with statements_run() as run:
        found = await _pages(ctx, InboxQuery(view=view, q=word, limit=1), member_id=me.id)
    assert wanted and found == wanted[::-1]
    assert any(") AS stepped JOIN" in sql for sql in run)


@pytest.mark.parametrize("renamed", ["before it starts", "while it writes"])
async def test_a_conversation_started_for_a_contact_renamed_meanwhile_is_found_by_the_new_name(
    ctx: Ctx, factory: Factory, database: Database, settings: Settings, renamed: str
) -> None:
    """A broadcast starts a conversation (on its e-mail channel) for a contact it read before a
    member renamed them, or while the rename is under way (PostgreSQL: SQLite's writers take
    turns): the entry holds the name as it is once both have committed. Written with the name
    read, it was found by neither name, the rename having rewritten only the entries it saw."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's writers take turns")
    channel = await factory.channel()
    mail = await factory.channel(kind="email", name="メール")
    old, new = _word(), _word()
    written = await factory.inbound(channel, contact="rename-race", text="こんにちは")
    contact_id = written.conversation.contact_id
    await contacts.rename_contact(ctx, contact_id=contact_id, display_name=old)
    async with database.write_sessions() as session:
        broadcast = Ctx(db=session, bus=RecordingBus(), settings=settings)
        read = await session.get_one(Contact, contact_id)  # as a broadcast reads its batch
        assert read.display_name == old
        if renamed == "before it starts":
            await contacts.rename_contact(ctx, contact_id=contact_id, display_name=new)
            started = await conversations.conversation_for(
                broadcast, contact=read, channel_id=mail.id
            )
            await broadcast.commit()
        else:
            started = await conversations.conversation_for(
                broadcast, contact=read, channel_id=mail.id
            )
            renaming = asyncio.create_task(
                contacts.rename_contact(ctx, contact_id=contact_id, display_name=new)
            )
            await asyncio.sleep(0.3)
            assert not renaming.done()  # it waits for the new conversation's lock
            await broadcast.commit()
            await renaming
    assert sorted(await _found(ctx, new)) == sorted([written.conversation.id, started.id])
    assert await _found(ctx, old) == []
