"""A contact's signature (PostgreSQL, migration 0034): its conversations' entries' together, kept
by every writer of entries and by the changes of a contact's names that write none, and read in
the reading index by the contact list in 五十音順 searched: the same pages as the list read
any other way, whether the word is in a contact's names or messages, or in none."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi import demo, search
from madoguchi.contacts import merging, repository
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations import workflow
from madoguchi.crm import filters
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database, insert_objects
from madoguchi.kit.errors import Invalid
from madoguchi.kit.text import grams_of, search_key
from madoguchi.search import entries, planner
from tests.fixtures import Factory, contact_pages, statements_run

# Each contact's signature as sign_contacts works it out from the entries stored.
WORKED_OUT = f"""
SELECT k.id, k.signature::text, (
    SELECT set_bit(bit_or(e.signature), 0, min(get_bit(e.signature, 0)))::text
    FROM conversations AS c JOIN {search.CONVERSATIONS} AS e ON e.conversation_id = c.id
    WHERE c.contact_id = k.id
) FROM contacts AS k WHERE k.id = ANY(:ids)
"""


def _word() -> str:
    """A word no other test writes: kanji drawn at random."""
    return "".join(chr(0x5000 + secrets.randbelow(0x2000)) for _ in range(3))


@pytest.fixture(autouse=True)
def _signed(ctx: Ctx) -> None:
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite's contacts keep no signature: its list walks its own index")


async def _signatures(ctx: Ctx, *ids: int) -> dict[int, tuple[int | None, int | None]]:
    """By contact: (its signature as stored, as worked out from its entries), as ints."""
    rows = await ctx.db.execute(text(WORKED_OUT), {"ids": list(ids)})
    return {
        contact_id: (
            None if stored is None else entries.read_signature(stored),
            None if worked_out is None else entries.read_signature(worked_out),
        )
        for contact_id, stored, worked_out in rows
    }


async def _kept(ctx: Ctx, *ids: int) -> None:
    """Each contact's signature holds every bit its entries give it (and may hold more, of
    texts gone since), its runs bit only where theirs is; None where they give none."""
    for contact_id, (stored, worked_out) in (await _signatures(ctx, *ids)).items():
        if worked_out is None:
            assert stored is None, contact_id
            continue
        assert stored is not None and stored & worked_out == worked_out, contact_id
        assert not stored & entries.RUNS_HELD or worked_out & entries.RUNS_HELD, contact_id


def _holds(signature: int | None, texts: list[str]) -> bool:
    """The signature has every bit each text gives an entry's (text_signature)."""
    if signature is None:
        return False
    bits = 0
    for body in texts:
        bits |= entries.text_signature(body)
    return signature & bits == bits


async def test_every_writer_of_a_contact_s_texts_keeps_its_signature(
    ctx: Ctx, factory: Factory
) -> None:
    """A first message (a new contact and conversation), the next ones and a reply, a new name
    with conversations and without, a merge and its undo, a deleted conversation: after each
    the contact's signature holds its entries' together, so its names and messages."""
    channel = await factory.channel()
    word, other_word = _word(), _word()
    first = await factory.inbound(channel, contact="s-1", name="署名 一", text=f"{word}の件")
    one = first.conversation.contact_id
    await _kept(ctx, one)
    await factory.inbound(channel, contact="s-1", name="署名 一", text=f"{other_word}も")
    await _kept(ctx, one)
    [(stored, _)] = (await _signatures(ctx, one)).values()
    assert _holds(stored, ["署名 一", f"{word}の件", f"{other_word}も"])

    renamed = _word()
    await contacts.rename_contact(ctx, contact_id=one, display_name=renamed)
    await _kept(ctx, one)
    [(stored, _)] = (await _signatures(ctx, one)).values()
    assert _holds(stored, [renamed])

    # Added by hand: no conversation, no signature; a new name keeps it so.
    by_hand = await contacts.create_contact(ctx, display_name="手入力 客")
    assert await _signatures(ctx, by_hand.id) == {by_hand.id: (None, None)}

    # Merged: the kept contact's signature holds the other's messages.
    second = await factory.inbound(channel, contact="s-2", name="署名 二", text="別の話")
    two = second.conversation.contact_id
    await merging.merge_contacts(ctx, contact_id=by_hand.id, other_id=two, actor=None)
    await _kept(ctx, by_hand.id)
    [(stored, _)] = (await _signatures(ctx, by_hand.id)).values()
    assert _holds(stored, ["手入力 客", "別の話"])
    [undoable] = await merging.merges_into(ctx, contact_id=by_hand.id)
    await merging.undo_merge(ctx, merge_id=undoable.merge.id, actor=None)
    # Each is signed again: the kept contact has no conversation left.
    await _kept(ctx, by_hand.id, two)

    # Its only conversation deleted, then renamed: no entry holds its names, and the
    # signature says nothing (None: checked) rather than the old names.
    owner = await factory.member(role="owner")
    await workflow.delete_conversation(ctx, conversation_id=second.conversation.id, actor=owner)
    await contacts.rename_contact(ctx, contact_id=two, display_name=_word())
    assert await _signatures(ctx, two) == {two: (None, None)}


async def test_a_loader_stores_its_contacts_with_their_signatures(ctx: Ctx) -> None:
    """The scale loader writes each contact once, its signature with it (no UPDATE of the
    contacts), exactly as its entry's."""
    with statements_run() as written:
        await demo.load_scale(ctx, contacts=30, processes=1)
    assert not [sql for sql in written if sql.startswith("UPDATE contacts")]
    ids = list(await ctx.db.scalars(text("SELECT id FROM contacts")))
    signatures = await _signatures(ctx, *ids)
    assert len(signatures) == 30
    for stored, worked_out in signatures.values():
        assert stored is not None and stored == worked_out


def _walked(run: list[str]) -> int:
    return sum(1 for sql in run if "AS walked" in sql and "JOIN (SELECT" in sql)


@pytest.mark.parametrize(
    ("walk", "gathered_first", "common"),
    [(3, True, False), (3, True, True), (3, False, False), (1000, False, False)],
)
async def test_the_list_in_reading_order_searched_passes_over_contacts_by_their_signature(
    ctx: Ctx,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
    walk: int,
    gathered_first: bool,
    common: bool,
) -> None:
    """Contacts holding the word in their names (one added by hand, without a signature), in a
    message, or nowhere, their readings in another order than their ids: paged by two, the
    list gives them in 五十音順, the same pages whichever way: a word the statistics take as
    rare is gathered from the indexes, checked and sorted in one statement; past the
    gathering's limit (or a word not taken as rare), the reading index is walked, and where
    three contacts walked hold too few for the page, the word is counted, then gathered (rare)
    or walked for to the end (common)."""
    monkeypatch.setattr(search, "READING_WALK", walk)
    if not gathered_first:
        monkeypatch.setattr(planner, "RARE_ESTIMATE", -1)
    if common:
        monkeypatch.setattr(planner, "SEARCH_SET_LIMIT", 0)
    channel = await factory.channel()
    word = _word()
    holding: list[tuple[str, int]] = []
    kana = "アイウエオカキクケコサシスセソ"
    for n in range(15):
        reading = kana[(n * 7) % len(kana)] * 2
        if n % 4 == 0:
            made = await contacts.create_contact(ctx, display_name=f"{word} 様{n}")
            await contacts.set_names(ctx, made, made.display_name, reading)
            holding.append((reading, made.id))
            continue
        written = await factory.inbound(
            channel,
            contact=f"{word}-{n}",
            name=f"客{n}",
            text=f"{word}の件です" if n % 4 == 1 else "こんにちは",
        )
        contact = await ctx.db.get_one(Contact, written.conversation.contact_id)
        await contacts.set_names(ctx, contact, contact.display_name, reading)
        if n % 4 == 1:
            holding.append((reading, contact.id))
    expected = [contact_id for _, contact_id in sorted(holding)]
    with statements_run() as run:
        assert (
            await contact_pages(ctx, word, limit=2, sort=repository.ContactSort.reading) == expected
        )
    gathered = [sql for sql in run if "WITH named AS" in sql and "ORDER BY contacts.reading" in sql]
    listed = [
        sql
        for sql in run
        if "ORDER BY contacts.reading ASC NULLS LAST" in sql
        and "walked" not in sql
        and "WITH named" not in sql
    ]
    unbounded = [
        sql
        for sql in run
        if "AS walked" in sql and "LIMIT" not in sql.split(") AS next_contacts")[0]
    ]
    pages = -(-len(expected) // 2)
    if gathered_first and not common:  # every page gathered at once
        assert len(gathered) == pages and not listed and not unbounded and not _walked(run)
    elif gathered_first:  # gathered past its limit, walked, counted, walked to the end
        assert len(gathered) == pages and not listed
        assert len(unbounded) == pages and _walked(run) == 2 * pages
    elif walk == 3:  # walked, counted, then gathered
        assert not gathered and len(listed) == pages and not unbounded
        assert _walked(run) == pages
    else:  # every page from the walk, the last known to be the end of the list
        assert not gathered and not listed and not unbounded and _walked(run) == pages


async def test_a_word_found_nowhere_is_gathered_once(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A word nobody wrote, in 五十音順, with more contacts than a walk reads: the gathering
    finds nobody and says in the same statement that it read every contact the indexes give:
    the list is empty, without walking, counting the word or looking again."""
    monkeypatch.setattr(search, "READING_WALK", 2)
    channel = await factory.channel()
    for n in range(5):
        await factory.inbound(channel, contact=f"nowhere-{n}", text="こんにちは")
    with statements_run() as run:
        assert await contact_pages(ctx, _word(), limit=2, sort=repository.ContactSort.reading) == []
    unbounded = [
        sql
        for sql in run
        if "AS walked" in sql and "LIMIT" not in sql.split(") AS next_contacts")[0]
    ]
    assert sum(1 for sql in run if "WITH named AS" in sql) == 1
    searched = [sql for sql in run if "pg_stats" not in sql]  # the statistics read: not the list's
    assert not unbounded and not _walked(run) and len(searched) == 1


async def test_a_text_without_letters_finds_nobody_in_reading_order(
    ctx: Ctx, factory: Factory
) -> None:
    """Searched for marks alone, the list in 五十音順 finds nobody, as the list newest first
    does (no word to look for: not every contact)."""
    channel = await factory.channel()
    await factory.inbound(channel, contact="marks-1", text="!!!")
    await contacts.create_contact(ctx, display_name="記号 客")
    for sort in repository.ContactSort:
        assert await contact_pages(ctx, "!!!", limit=5, sort=sort) == []


async def test_contacts_written_together_leave_their_signature_to_its_writer(ctx: Ctx) -> None:
    """New contacts written in one statement (the intake's batch: kit.db.insert_objects; the
    ORM's flush of several) leave the signature out, as the database's own: PostgreSQL took
    it bound as text in a batched INSERT … RETURNING, and refused the batch."""
    flushed = [Contact(display_name=f"同時{n}", channel_name=f"同時{n}") for n in range(3)]
    ctx.db.add_all(flushed)
    await ctx.db.flush()
    rows = [{"display_name": f"一括{n}", "channel_name": f"一括{n}"} for n in range(3)]
    batch = await insert_objects(ctx.db, Contact, rows)
    ids = [contact.id for contact in [*batch, *flushed]]
    assert await _signatures(ctx, *ids) == {contact_id: (None, None) for contact_id in ids}


async def test_two_writers_at_once_lose_none_of_each_other_s_bits(
    ctx: Ctx, factory: Factory, database: Database
) -> None:
    """Two transactions write entries of one contact's two conversations at once (a broadcast
    starting a conversation holds no lock on the contact): the second to sign waits for the
    first, then adds its bits to what the first wrote. Set rather than added, it wrote what it
    had read before the first committed, and the first one's bits were lost."""
    channel = await factory.channel()
    written = await factory.inbound(channel, contact="race-1", text="最初の件")
    contact_id = written.conversation.contact_id
    other = await conversations.new_conversation(
        ctx, contact=await ctx.db.get_one(Contact, contact_id), channel_id=channel.id
    )
    await ctx.db.commit()
    texts = {written.conversation.id: _word(), other.id: _word()}

    async def write(db: AsyncSession, conversation_id: int) -> None:
        entry = search.ConversationEntry(
            conversation_id=conversation_id,
            seq=search.activity_seq(datetime.now(UTC), conversation_id),
            grams=frozenset(grams_of([texts[conversation_id]])),
            signature=entries.text_signature(texts[conversation_id]) | entries.RUNS_HELD,
            contact_id=contact_id,
        )
        await search.write_conversations(db, [entry], new=False)

    async with database.write_sessions() as first, database.write_sessions() as second:
        await write(first, written.conversation.id)  # signed: the contact's row is locked
        waiting = asyncio.create_task(write(second, other.id))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # waits for the first's lock
        await first.commit()
        await waiting
        await second.commit()
    [(stored, _)] = (await _signatures(ctx, contact_id)).values()
    assert _holds(stored, list(texts.values()))


def _kana() -> str:
    """A reading no other test writes: four katakana drawn at random (no small ヵ or ヶ)."""
    drawn = (chr(0x30A2 + secrets.randbelow(0x50)) for _ in range(4))
    return "".join(drawn).translate({ord("ヵ"): "カ", ord("ヶ"): "ケ"})


def _hiragana(katakana: str) -> str:
    return katakana.translate({code: code - 0x60 for code in range(0x30A1, 0x30F7)})


# Every contact holding a text, in 五十音順, by plain LIKEs over all of them.
_EVERY_HOLDER = """
SELECT k.id FROM contacts AS k WHERE k.merged_into_id IS NULL {hidden}
AND (k.search_text LIKE :pattern OR EXISTS (
    SELECT 1 FROM conversations AS c JOIN messages AS m ON m.conversation_id = c.id
    WHERE c.contact_id = k.id AND m.search_text LIKE :pattern
)) ORDER BY k.reading ASC NULLS LAST, k.id
"""


@pytest.mark.parametrize("limit", [1, 3])
async def test_the_pages_gathered_and_walked_are_every_contact_holding_the_text(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """Each way a contact holds a word or held it: its names (without a conversation, readings
    none or tied across pages), its reading alone, its messages alone, renamed away from it or
    to it, merged away (its names: out; its messages, now the kept contact's: in), hidden. In
    五十音順 the pages gathered first and the pages walked (the statistics' estimate set
    aside) are the contacts plain LIKEs over all of them find, in their order, for the word,
    the reading in katakana and in hiragana, a part of the word, with and without a filter
    beside it (the review's test)."""
    monkeypatch.setattr(search, "READING_WALK", 2)
    channel = await factory.channel()
    word, reading = _word(), _kana()
    await contacts.create_contact(ctx, display_name=f"{word}一")
    for n in ("二", "三"):
        tied = await contacts.create_contact(ctx, display_name=f"{word}{n}")
        await contacts.set_names(ctx, tied, tied.display_name, "アア")
    read = await contacts.create_contact(ctx, display_name="山田")
    await contacts.set_names(ctx, read, read.display_name, f"ア{reading}")
    await factory.inbound(channel, contact="e", name="客E", text=f"{word}の件 {reading}")
    await factory.inbound(channel, contact="f", name="客F", text="ほかの件")
    await factory.inbound(channel, contact="f", name="客F", text=f"また{word}")
    away = await contacts.create_contact(ctx, display_name=f"{word}四")
    await contacts.rename_contact(ctx, contact_id=away.id, display_name="別名")
    to = await factory.inbound(channel, contact="h", name="客H", text="こんにちは")
    await contacts.rename_contact(
        ctx, contact_id=to.conversation.contact_id, display_name=f"新{word}"
    )
    for n, (name, said) in enumerate([(f"{word}旧", "こんにちは"), ("旧", f"{word}!")]):
        kept = await contacts.create_contact(ctx, display_name=f"残る人{n}")
        other = await factory.inbound(channel, contact=f"o{n}", name=name, text=said)
        await merging.merge_contacts(
            ctx, contact_id=kept.id, other_id=other.conversation.contact_id, actor=None
        )
    hidden = await contacts.create_contact(ctx, display_name=f"{word}隠")
    await contacts.update_contact(
        ctx, contact_id=hidden.id, changes=contacts.ContactChanges(hidden=True)
    )
    for n in range(6):
        await factory.inbound(channel, contact=f"x{n}", name=f"他{n}", text="こんにちは")
    await ctx.db.commit()
    for q in (word, reading, _hiragana(reading), word[1:]):
        for also in ([], [filters.Condition("hidden", "eq", False)]):
            sql = _EVERY_HOLDER.format(hidden="AND NOT k.hidden" if also else "")
            found = await ctx.db.scalars(text(sql), {"pattern": f"%{search_key(q)}%"})
            every = list(found)
            assert every
            with statements_run() as run:
                gathered = await contact_pages(
                    ctx, q, limit=limit, sort=repository.ContactSort.reading, also=also
                )
            assert any("WITH named AS" in sql for sql in run)
            monkeypatch.setattr(planner, "RARE_ESTIMATE", -1)
            walked = await contact_pages(
                ctx, q, limit=limit, sort=repository.ContactSort.reading, also=also
            )
            monkeypatch.undo()
            monkeypatch.setattr(search, "READING_WALK", 2)
            assert (gathered, walked) == (every, every), (q, also)


async def test_a_text_asked_for_otherwise_than_contained_is_refused_in_every_order(
    ctx: Ctx, factory: Factory
) -> None:
    """Only "contains" is asked of a text: the list in 五十音順 refuses another op before it
    gathers, as the list newest first does (the review found it answered)."""
    channel = await factory.channel()
    word = _word()
    await factory.inbound(channel, contact="op-1", name=f"{word} 様", text="こんにちは")
    for sort in repository.ContactSort:
        with pytest.raises(Invalid):
            await repository.list_contacts(
                ctx.db,
                conditions=[filters.Condition("text", "eq", word)],
                member_id=None,
                timezone="Asia/Tokyo",
                sort=sort,
            )


async def test_signature_checks_of_as_many_bits_share_a_statement_not_its_values(
    ctx: Ctx, factory: Factory
) -> None:
    """Two words whose checks have as many bits: one compiled statement, and each finds its own
    entry; a check of another shape, or of another column, is another statement."""
    signature = planner._ENTRIES.c.signature

    def checked(word: str) -> Select[tuple[int]]:
        condition = entries.signature_holds(signature, [word])
        return select(planner._ENTRIES.c.conversation_id).where(condition)

    first, second = _word(), _word()
    while checked(first)._generate_cache_key() != checked(second)._generate_cache_key():
        second = _word()
    channel = await factory.channel()
    written = [
        await factory.inbound(channel, contact=f"bits-{n}", name=f"客{n}", text=f"{word}です")
        for n, word in enumerate((first, second))
    ]
    with statements_run() as run:
        found = [list(await ctx.db.scalars(checked(word))) for word in (first, second)]
    assert run[0] == run[1]
    assert found == [[message.conversation.id] for message in written]
    shaped = select(entries._BitsSet(signature, [1, 2], unset=(3,)))._generate_cache_key()
    others = [
        entries._BitsSet(signature, [1, 2, 3]),
        entries._BitsSet(planner._ENTRIES.c.seq, [1, 2], unset=(3,)),
    ]
    assert all(select(other)._generate_cache_key() != shaped for other in others)
    # A statement checking the signature alone selects from its table (the review's).
    counted = select(func.count()).where(entries.signature_holds(signature, [first]))
    assert f"FROM {search.CONVERSATIONS}" in str(counted)
