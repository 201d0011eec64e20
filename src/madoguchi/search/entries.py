"""Each conversation's search entry: the inbox's index, newest activity first (F3).

The inbox searches conversations and lists them newest activity first. Indexes of messages and
names find every match, which must then be sorted: a word in 1 % of a million conversations
would sort ten thousand of them for a page of fifty. So each conversation also has one entry
holding every gram of its contact's names and of its messages, keyed by ``seq``: its last
activity (milliseconds) with the low bits of its id. Reading that index from the highest key
down yields the newest matching conversations first, and a page stops after fifty.

SQLite keeps the entries in ``conversation_search`` (grams as text) with an FTS5 index over
them (``conversation_search_fts``, rowid = seq, kept in step by triggers); PostgreSQL keeps a
text array with a GIN index, plus a token naming the entry's period of activity (an "epoch")
so that one period can be searched at a time, newest first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.kit.db import bulk_insert
from madoguchi.kit.text import query_grams
from madoguchi.search.indexes import dialect

CONVERSATIONS = "conversation_search"
CONVERSATIONS_FTS = "conversation_search_fts"
# seq = milliseconds since 1970 << ID_BITS | the id's low bits: unique but for two conversations
# whose ids differ by a multiple of 2**20 and whose activity falls in the same millisecond.
ID_BITS = 20
# An epoch is 2**EPOCH_BITS milliseconds of activity (about six days).
EPOCH_BITS = 29
EPOCH_PREFIX = "@e"  # never a gram: grams are letters and digits only


_NEWEST_EPOCH = f"((SELECT max(seq) FROM {CONVERSATIONS}) >> {ID_BITS + EPOCH_BITS})"


def newest_epoch_tokens(back: int, span: int) -> str:
    """SQL for the tokens of ``span`` epochs, ``back`` epochs before the newest entry's, worked
    out inside the query that searches them (PostgreSQL uses a value computed first in an
    index condition): no statement of its own to find the newest."""
    return (
        f"ARRAY(SELECT '{EPOCH_PREFIX}' || ({_NEWEST_EPOCH} - g) "
        f"FROM generate_series({back}, {back + span - 1}) AS g)"
    )


def below_newest_epochs(back: int) -> str:
    """SQL for the lowest seq of the epoch ``back - 1`` epochs before the newest entry's: what
    is below it is older than the ``back`` newest epochs."""
    return f"(({_NEWEST_EPOCH} - {back - 1}) << {ID_BITS + EPOCH_BITS})"


def epoch_start(epoch: int) -> int:
    """The lowest seq of an epoch."""
    return epoch << (ID_BITS + EPOCH_BITS)


def match_expression(query: str) -> str | None:
    """An FTS5 query for the entries holding every gram of ``query`` (each gram quoted: grams
    are letters and digits, never a quote), or None without letters or digits."""
    grams = query_grams(query)
    if not grams:
        return None
    return " AND ".join(f'"{gram}"' for gram in dict.fromkeys(grams))


def activity_seq(at: datetime, conversation_id: int) -> int:
    """The key of a conversation's entry: ordered as (last activity, id) to the millisecond."""
    milliseconds = max(0, int(at.timestamp() * 1000))
    return milliseconds << ID_BITS | conversation_id & ((1 << ID_BITS) - 1)


def epoch_of(seq: int) -> int:
    return seq >> (ID_BITS + EPOCH_BITS)


def epoch_token(epoch: int) -> str:
    return f"{EPOCH_PREFIX}{epoch}"


# PostgreSQL's table of entries (migration 0009), as bulk_insert writes it.
_PG_ENTRIES = Table(
    CONVERSATIONS,
    MetaData(),
    Column("conversation_id", Integer, primary_key=True),
    Column("seq", BigInteger),
    # Compared byte by byte (migration 0028).
    Column("grams", ARRAY(Text(collation="C"))),
)


@dataclass(frozen=True)
class ConversationEntry:
    conversation_id: int
    seq: int
    grams: frozenset[str]


def stored_grams(grams: frozenset[str], seq: int, *, sqlite: bool) -> str | list[str]:
    """An entry's grams as its table holds them: text for SQLite's FTS5 index, an array with
    the entry's epoch token for PostgreSQL's GIN index (conversation_entry reads either)."""
    if sqlite:
        return " ".join(sorted(grams))
    return [*sorted(grams), epoch_token(epoch_of(seq))]


async def conversation_entry(db: AsyncSession, conversation_id: int) -> ConversationEntry | None:
    return (await conversation_entries(db, [conversation_id])).get(conversation_id)


async def conversation_entries(
    db: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, ConversationEntry]:
    """The entries these conversations have (a conversation without one is left out)."""
    if not conversation_ids:
        return {}
    rows = await db.execute(
        text(
            f"SELECT conversation_id, seq, grams FROM {CONVERSATIONS} WHERE conversation_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": list(conversation_ids)},
    )
    found: dict[int, ConversationEntry] = {}
    for conversation_id, seq, stored in rows:
        if isinstance(stored, str):  # SQLite's: grams only
            grams = frozenset(stored.split())
        else:
            grams = frozenset(g for g in stored if not g.startswith(EPOCH_PREFIX))
        found[int(conversation_id)] = ConversationEntry(int(conversation_id), int(seq), grams)
    return found


async def conversations_with_entries(db: AsyncSession, ids: Sequence[int]) -> set[int]:
    if not ids:
        return set()
    rows = await db.scalars(
        text(
            f"SELECT conversation_id FROM {CONVERSATIONS} WHERE conversation_id IN :ids"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": list(ids)},
    )
    return {int(row) for row in rows}


# The statements of a message's way in, built once: building one costs more than running it.
_ENTRIES_OF = text(
    f"SELECT conversation_id, seq, grams FROM {CONVERSATIONS} WHERE conversation_id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_HOLDERS_OF = text(
    f"SELECT seq, conversation_id FROM {CONVERSATIONS} WHERE seq IN :seqs"
).bindparams(bindparam("seqs", expanding=True))
# By (new, on SQLite): the grams are SQLite's text or PostgreSQL's array (new entries on
# PostgreSQL go by COPY, kit.db.bulk_insert).
_WRITES = {
    (new, sqlite): text(
        f"INSERT INTO {CONVERSATIONS} (conversation_id, seq, grams) VALUES (:id, :seq, :grams)"
        if new
        else f"UPDATE {CONVERSATIONS} SET seq = :seq, grams = :grams WHERE conversation_id = :id"
    ).bindparams(bindparam("grams", type_=Text() if sqlite else ARRAY(Text)))
    for new in (True, False)
    for sqlite in (True, False)
    if sqlite or not new
}


async def write_conversations(
    db: AsyncSession, entries: Sequence[ConversationEntry], *, new: bool
) -> None:
    """Store entries: ``new`` ones are inserted, the others replace what their conversation had."""
    sqlite = dialect(db) == "sqlite"
    await _write(
        db,
        [
            (entry.conversation_id, entry.seq, stored_grams(entry.grams, entry.seq, sqlite=sqlite))
            for entry in entries
        ],
        new=new,
    )


async def extend_conversations(
    db: AsyncSession, additions: Mapping[int, tuple[int | None, frozenset[str]]]
) -> set[int]:
    """Add grams to these conversations' entries and move each to its new seq (None: it stays),
    as reading them, merging and :func:`write_conversations` would. An entry keeps its grams
    sorted, so the new ones are merged into the stored list rather than the whole set taken
    apart and sorted again (a broadcast extends hundreds of entries with one text's grams).
    Answers the conversations that have an entry; the others are the caller's to start."""
    if not additions:
        return set()
    sqlite = dialect(db) == "sqlite"
    rows = await db.execute(_ENTRIES_OF, {"ids": list(additions)})
    found: set[int] = set()
    changed: list[tuple[int, int, str | list[str]]] = []
    for conversation_id, seq, stored in rows:
        conversation_id, seq = int(conversation_id), int(seq)
        found.add(conversation_id)
        moved, grams = additions[conversation_id]
        moved = seq if moved is None else moved
        held = stored.split() if isinstance(stored, str) else list(stored)
        # PostgreSQL's epoch token is the last element (stored_grams); SQLite's text has none.
        if held and held[-1].startswith(EPOCH_PREFIX):
            held.pop()
        missing = grams.difference(held)
        if not missing and moved == seq:
            continue
        if missing:
            # Two sorted runs: merged in one pass.
            held = sorted([*held, *sorted(missing)])
        if sqlite:
            changed.append((conversation_id, moved, " ".join(held) if missing else stored))
        else:
            changed.append((conversation_id, moved, [*held, epoch_token(epoch_of(moved))]))
    await _write(db, changed, new=False)
    return found


async def _write(
    db: AsyncSession, rows: Sequence[tuple[int, int, str | list[str]]], *, new: bool
) -> None:
    """(conversation id, seq, grams as stored) rows: inserted, or replacing what was there."""
    if not rows:
        return
    sqlite = dialect(db) == "sqlite"
    if new and not sqlite:
        # Many new entries at once (a loader's) by COPY (kit.db.bulk_insert).
        await bulk_insert(
            db, _PG_ENTRIES, [{"conversation_id": c, "seq": s, "grams": g} for c, s, g in rows]
        )
        return
    if sqlite:
        rows = await _free_seqs(db, rows)
    params = [{"id": cid, "seq": seq, "grams": stored} for cid, seq, stored in rows]
    await db.execute(_WRITES[(new, sqlite)], params)


async def _free_seqs(
    db: AsyncSession, rows: Sequence[tuple[int, int, str | list[str]]]
) -> list[tuple[int, int, str | list[str]]]:
    """SQLite's index needs each seq once: a seq another conversation holds already (their
    activity in the same millisecond, their ids 2**20 apart) goes one lower, and so on.
    Writers take turns on SQLite, so what is free now is still free when written."""
    wanted = [seq for _, seq, _ in rows]
    taken_rows = await db.execute(_HOLDERS_OF, {"seqs": wanted})
    taken = {int(seq): int(owner) for seq, owner in taken_rows}
    if len(set(wanted)) == len(wanted) and not taken:
        return list(rows)
    mine = {cid for cid, _, _ in rows}
    # Seqs that stay taken: held by conversations not written now.
    held = {seq for seq, owner in taken.items() if owner not in mine}
    result = []
    for cid, wanted_seq, stored in rows:
        seq = wanted_seq
        while seq in held or (
            seq != wanted_seq
            and await db.scalar(
                text(f"SELECT 1 FROM {CONVERSATIONS} WHERE seq = :seq"), {"seq": seq}
            )
        ):
            seq -= 1
        held.add(seq)
        result.append((cid, seq, stored))
    return result
