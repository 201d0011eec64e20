"""The contact list searched for a word it would walk for looks for it in blocks of contacts,
the newest first (search.planner.contact_steps, migration 0033): the same pages as the walk,
newest first, without gaps, whether the word is in a contact's names or in their messages."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import and_, func, select, text

from madoguchi import search
from madoguchi.contacts import merging, repository
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.crm import filters
from madoguchi.kit.context import Ctx
from madoguchi.search import entries, indexes, planner
from tests.fixtures import Factory, contact_pages, statements_run, steps_run


def _word() -> str:
    """A word no other test writes: kanji drawn at random."""
    return "".join(chr(0x5000 + secrets.randbelow(0x2000)) for _ in range(3))


def _stepped(run: list[str]) -> int:
    return sum(1 for sql in run if ") AS stepped JOIN contacts" in sql)


@pytest.fixture
def walked_for_every_word(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every word is walked for in the contact list, whatever the statistics make of it (no
    word of a test has two thousand matches); blocks of four contact ids."""
    monkeypatch.setattr(planner, "SEARCH_SET_LIMIT", 0)
    monkeypatch.setattr(planner, "COMMON_SHARE", 1.0)
    monkeypatch.setattr(planner, "RARE_ESTIMATE", -1)
    monkeypatch.setattr(indexes, "CONTACT_BLOCK_BITS", 2)


@pytest.mark.usefixtures("walked_for_every_word")
@pytest.mark.parametrize("rare_estimate", [-1, 10**9])
async def test_the_contact_list_searched_steps_through_blocks_as_the_walk_pages(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch, rare_estimate: int
) -> None:
    """Contacts holding the word in their names (one added by hand, who has no conversation),
    in a message of a conversation that goes on after it, or nowhere: paged by three, the
    steps give what the walk gives, newest first, and take more than one step to do it
    (whether or not the first blocks are looked in first: they hold the word, from the top
    and from each cursor)."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's contact list walks: its index has no blocks")
    monkeypatch.setattr(planner, "RARE_ESTIMATE", rare_estimate)
    channel = await factory.channel()
    word = _word()
    holding = []
    for n in range(14):
        if n % 3 == 0:
            made = await contacts.create_contact(ctx, display_name=f"{word} 様{n}")
            holding.append(made.id)
            continue
        written = await factory.inbound(
            channel,
            contact=f"{word}-{n}",
            name=f"客{n}",
            text=f"{word}の件です" if n % 3 == 1 else "こんにちは",
        )
        # The conversation goes on: its entry keeps its contact's token.
        await factory.inbound(channel, contact=f"{word}-{n}", name=f"客{n}", text="よろしく")
        if n % 3 == 1:
            holding.append(written.conversation.contact_id)
    expected = sorted(holding, reverse=True)
    with statements_run() as run:
        assert await contact_pages(ctx, word, limit=3) == expected
    assert _stepped(run) > len(expected) // 3
    monkeypatch.setattr(planner, "COMMON_SHARE", -1.0)  # the walk
    with statements_run() as run:
        assert await contact_pages(ctx, word, limit=3) == expected
    assert _stepped(run) == 0


@pytest.mark.usefixtures("walked_for_every_word")
async def test_a_merged_contact_s_conversation_is_found_under_the_kept_contact(
    ctx: Ctx, factory: Factory
) -> None:
    """A merge moves the conversation to the kept contact, an older one in another block: its
    entry holds the kept contact's block now, and the search finds them (and the merged-away
    contact no more); undone, the other contact is found again."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's contact list walks: its index has no blocks")
    channel = await factory.channel()
    word = _word()
    kept = await contacts.create_contact(ctx, display_name="残す 客")
    for n in range(8):  # the next contacts in other blocks
        await contacts.create_contact(ctx, display_name=f"間の客{n}")
    other = await factory.inbound(channel, contact=f"{word}-o", name="統合 客", text=f"{word}の件")
    assert await contact_pages(ctx, word, limit=5) == [other.conversation.contact_id]
    await merging.merge_contacts(
        ctx, contact_id=kept.id, other_id=other.conversation.contact_id, actor=None
    )
    assert await contact_pages(ctx, word, limit=5) == [kept.id]
    stored = await ctx.db.scalar(
        text(f"SELECT grams FROM {search.CONVERSATIONS} WHERE conversation_id = :id"),
        {"id": other.conversation.id},
    )
    tokens = [gram for gram in stored if gram.startswith(entries.TOKEN_PREFIX)]
    assert tokens[0] == indexes.contact_token(indexes.contact_block(kept.id))
    assert len(tokens) == 2 and tokens[1].startswith(entries.EPOCH_PREFIX)
    [undoable] = await merging.merges_into(ctx, contact_id=kept.id)
    await merging.undo_merge(ctx, merge_id=undoable.merge.id, actor=None)
    assert await contact_pages(ctx, word, limit=5) == [other.conversation.contact_id]


async def test_a_common_word_is_walked_for_and_sqlite_never_steps(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word PostgreSQL expects in more than COMMON_SHARE of the entries is walked for: its
    matches come early. SQLite never steps."""
    monkeypatch.setattr(planner, "COMMON_SHARE", -1.0)
    channel = await factory.channel()
    word = _word()
    written = await factory.inbound(channel, contact=f"{word}-c", text=f"{word}の件")
    assert await planner.contact_steps(ctx.db, word, wanted=51, before_id=None) is None
    with statements_run() as run:
        assert await contact_pages(ctx, word, limit=5) == [written.conversation.contact_id]
    assert _stepped(run) == 0


@pytest.mark.usefixtures("walked_for_every_word")
@pytest.mark.parametrize(("rare_estimate", "tokened"), [(10**9, []), (-1, [True])])
async def test_a_word_the_newest_blocks_lack_is_read_in_the_rest_at_once(
    ctx: Ctx,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    rare_estimate: int,
    tokened: list[bool],
) -> None:
    """A full name, whose grams none of the first step's blocks hold: the word is rare, and
    the rest is one step, which reads the grams' lists whole (not each block's token's list).
    Where the statistics expect it in few entries, the statement that starts the steps looks
    in those blocks first, and every block is the one step; else the first blocks are read,
    then the rest."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's contact list walks: its index has no blocks")
    monkeypatch.setattr(planner, "RARE_ESTIMATE", rare_estimate)
    word = _word()
    held = await contacts.create_contact(ctx, display_name=f"{word} 様")
    for n in range(4 * planner.FIRST_BLOCKS + 8):
        await contacts.create_contact(ctx, display_name=f"後の客{n}")
    with statements_run() as run:
        assert await contact_pages(ctx, word, limit=5) == [held.id]
    steps = [sql for sql in run if ") AS stepped JOIN contacts" in sql]
    assert ["&&" in sql for sql in steps] == [*tokened, False]


@pytest.mark.usefixtures("walked_for_every_word")
async def test_a_step_is_never_given_a_parallel_worker(ctx: Ctx, factory: Factory) -> None:
    """PostgreSQL expects a step's every match as many as any word's, and at a million it gave
    the step of a full name two parallel workers, whose start cost more than the step. Told to
    give a worker to every statement that may have one, PostgreSQL gives a step none
    (planner._NO_PARALLEL_WORKER), and its own setting is left as it was."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's contact list walks: its index has no blocks")
    word = _word()
    held = await contacts.create_contact(ctx, display_name=f"{word} 様")
    with steps_run() as steps:
        assert await contact_pages(ctx, word, limit=5) == [held.id]
    # Every statement that may run in parallel is given a worker (PostgreSQL 16 renamed it).
    version = int(await ctx.db.scalar(text("SHOW server_version_num")))
    forced = "debug_parallel_query" if version >= 160000 else "force_parallel_mode"
    await ctx.db.execute(text(f"SET LOCAL {forced} = on"))
    await ctx.db.execute(text("SET LOCAL max_parallel_workers_per_gather = 4"))
    connection = await ctx.db.connection()
    sql, parameters = steps[-1]
    assert "set_config(" in sql
    plan = await connection.exec_driver_sql(f"EXPLAIN {sql}", parameters)
    assert not any("Gather" in line for line in plan.scalars())

    async def gathered(condition: Any) -> bool:
        statement = select(func.count()).select_from(Contact).where(condition)
        compiled = statement.compile(ctx.db.get_bind(), compile_kwargs={"literal_binds": True})
        plan = await ctx.db.execute(text(f"EXPLAIN {compiled}"))
        return any("Gather" in line for line in plan.scalars())

    # The condition alone keeps workers away from a statement that gets one without it.
    assert await gathered(Contact.id > 0)
    assert not await gathered(and_(Contact.id > 0, planner._NO_PARALLEL_WORKER))
    assert await ctx.db.scalar(text("SHOW max_parallel_workers_per_gather")) == "4"


@pytest.mark.usefixtures("walked_for_every_word")
async def test_a_search_beside_a_malformed_condition_is_refused_before_any_step(
    ctx: Ctx,
) -> None:
    """The conditions are checked before the steps read anything: a malformed one beside the
    word is refused with a sentence, and the session goes on."""
    from madoguchi.kit.errors import Invalid

    word = _word()
    malformed = [filters.Condition("text", "contains", word), filters.Condition("tag", "eq", [])]
    with statements_run() as run, pytest.raises(Invalid, match="at least one tag"):
        await repository.list_contacts(
            ctx.db, conditions=malformed, member_id=None, timezone="Asia/Tokyo"
        )
    assert _stepped(run) == 0
    assert await contact_pages(ctx, word, limit=5) == []
