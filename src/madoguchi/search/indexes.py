"""The n-gram indexes of messages and contacts: one row per message, one per contact (F3, F46).

Texts are normalised (kit.text) and cut into bigrams. SQLite keeps them in a contentless FTS5
table (a phrase of adjacent bigrams matches a substring); PostgreSQL in a GIN-indexed text array
(containment, then a LIKE re-check). Callers see one interface and never the dialect.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache

from sqlalchemy import BigInteger, Column, MetaData, Table, Text, bindparam, column, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.selectable import TextualSelect

from madoguchi.kit import pgstats
from madoguchi.kit.db import bulk_insert
from madoguchi.kit.text import gram_sequence, grams_in, query_grams, search_key

_pg_metadata = MetaData()


@dataclass(frozen=True)
class SearchIndex:
    """An index of one text per row of ``owner`` (messages, contacts). On PostgreSQL, an index
    ``by_contact`` holds each row's contact token too (contact_token)."""

    name: str
    owner: str
    by_contact: bool = False

    @property
    def pg_table(self) -> Table:
        table = _pg_metadata.tables.get(self.name)
        if table is None:
            table = Table(
                self.name,
                _pg_metadata,
                Column("owner_id", BigInteger, primary_key=True),
                # Compared byte by byte (migration 0028): cheaper GIN upkeep.
                Column("grams", ARRAY(Text(collation="C"))),
            )
        return table


MESSAGES = SearchIndex(name="message_search", owner="messages")
CONTACTS = SearchIndex(name="contact_search", owner="contacts", by_contact=True)


# PostgreSQL's contacts' index and the conversations' entries hold a token naming the contact's
# block of ids (2**CONTACT_BLOCK_BITS of them, in the order contacts were made): the contact
# list, newest first, looks for a word one block at a time, the newest first (migration 0033;
# planner.contact_steps). A token is never a gram: grams are letters and digits only.
CONTACT_BLOCK_BITS = 12
CONTACT_PREFIX = "@k"


def contact_block(contact_id: int) -> int:
    return contact_id >> CONTACT_BLOCK_BITS


def contact_token(block: int) -> str:
    """The token of a block of contacts (contact_block)."""
    return f"{CONTACT_PREFIX}{block}"


# PostgreSQL's GIN indexes of the search tables (migrations 0001, 0007, 0009).
GIN_INDEXES = ("ix_message_search_grams", "ix_contact_search_grams", "ix_conversation_search_grams")


# While a loader writes, a GIN index's pending list grows to this many kB before the writer
# whose row fills it merges it into the index, and that writer sorts this much at a time
# (work_mem, bulk_transaction): each gram's list is then reached once for many new rows rather
# than once every 4 MB (PostgreSQL's defaults), and fewer of the index's pages are written again
# after each checkpoint (docs/benchmarks.md: a million contacts).
BULK_PENDING_KB = 65_536


@asynccontextmanager
async def bulk_loading(db: AsyncSession) -> AsyncIterator[None]:
    """While many rows are written at once (a loader, in batches of its own transactions,
    each begun with ``bulk_transaction``), PostgreSQL's GIN indexes take new entries into their
    pending list and merge them BULK_PENDING_KB at a time, instead of one by one (about twice
    as fast). Searches read the pending list meanwhile; afterwards it is empty and off again,
    as migration 0007 wants it. Nothing to do on SQLite.

    The setting must outlast the loader's transactions, so this commits: enter it with nothing
    pending, and on the way out it rolls back whatever the loader left unfinished."""
    if dialect(db) != "postgresql":
        yield
        return
    await _set_fastupdate(db, on=True)
    try:
        yield
    finally:
        await db.rollback()  # whatever the loader left unfinished
        await _set_fastupdate(db, on=False)


async def bulk_transaction(db: AsyncSession) -> None:
    """Begin one of a loader's transactions under ``bulk_loading``: a pending list its rows
    fill is merged with the memory it needs (PostgreSQL; nothing on SQLite)."""
    if dialect(db) == "postgresql":
        await db.execute(_BULK_MEMORY)


_BULK_MEMORY = text(f"SELECT set_config('work_mem', '{BULK_PENDING_KB}kB', true)")


async def _set_fastupdate(db: AsyncSession, *, on: bool) -> None:
    if not on:
        # What is left is merged as the writers merged it (gin_clean_pending_list's memory).
        await db.execute(text(f"SET LOCAL maintenance_work_mem = '{BULK_PENDING_KB}kB'"))
    for name in GIN_INDEXES:
        if on:
            await db.execute(
                text(
                    f"ALTER INDEX {name} SET "
                    f"(fastupdate = on, gin_pending_list_limit = {BULK_PENDING_KB})"
                )
            )
            continue
        await db.execute(text(f"ALTER INDEX {name} SET (fastupdate = off)"))
        await db.execute(text(f"ALTER INDEX {name} RESET (gin_pending_list_limit)"))
        await db.execute(text(f"SELECT gin_clean_pending_list('{name}'::regclass)"))
    await db.commit()


def dialect(db: AsyncSession) -> str:
    """The session's database: "sqlite" or "postgresql"."""
    return db.get_bind().dialect.name


async def add(db: AsyncSession, index: SearchIndex, rows: Sequence[tuple[int, str]]) -> None:
    """Index ``(owner id, text)`` pairs; texts without letters or digits are skipped."""
    await add_grams(db, index, [(owner_id, gram_sequence(body)) for owner_id, body in rows])


async def add_grams(
    db: AsyncSession, index: SearchIndex, rows: Sequence[tuple[int, Sequence[str]]]
) -> None:
    """Index ``(owner id, kit.text.gram_sequence of its text)`` pairs: for a caller that has
    the grams already (the demo loader, whose texts repeat; a broadcast, whose copies are one
    text). PostgreSQL takes them by COPY; on SQLite, owners of the same grams are written by one
    statement that carries them once."""
    by_grams: dict[tuple[str, ...], list[int]] = {}
    for owner_id, grams in rows:
        if grams:
            by_grams.setdefault(tuple(grams), []).append(owner_id)
    if dialect(db) == "postgresql":
        # Every row in one COPY (kit.db.bulk_insert), a shared array given once per text.
        arrays = {grams: sorted(grams_in(grams)) for grams in by_grams}
        await bulk_insert(
            db,
            index.pg_table,
            [
                {
                    "owner_id": owner_id,
                    "grams": [*arrays[grams], contact_token(contact_block(owner_id))]
                    if index.by_contact
                    else arrays[grams],
                }
                for grams, ids in by_grams.items()
                for owner_id in ids
            ],
        )
        return
    single = [(ids[0], grams) for grams, ids in by_grams.items() if len(ids) == 1]
    for grams, ids in by_grams.items():
        if len(ids) > 1:
            await _add_shared_sqlite(db, index, ids, grams)
    if single:
        await db.execute(
            _sqlite_insert(index.name),
            [{"id": owner_id, "grams": " ".join(grams)} for owner_id, grams in single],
        )


@cache
def _sqlite_insert(name: str) -> TextClause:
    """An index's one-row insert on SQLite, built once (building costs more than running it)."""
    return text(f"INSERT INTO {name}(rowid, grams) VALUES (:id, :grams)")


async def _add_shared_sqlite(
    db: AsyncSession, index: SearchIndex, owner_ids: list[int], grams: Sequence[str]
) -> None:
    """The same grams for many owners, in one statement: the ids as one parameter."""
    await db.execute(
        text(f"INSERT INTO {index.name}(rowid, grams) SELECT value, :grams FROM json_each(:ids)"),
        {"ids": json.dumps(owner_ids), "grams": " ".join(grams)},
    )


async def remove(db: AsyncSession, index: SearchIndex, rows: Sequence[tuple[int, str]]) -> None:
    """Forget ``(owner id, text as indexed)`` pairs."""
    if dialect(db) == "sqlite":
        # A contentless FTS5 table forgets a row only when told what it held.
        params = [
            {"id": owner_id, "grams": " ".join(grams)}
            for owner_id, body in rows
            if (grams := gram_sequence(body))
        ]
        if params:
            await db.execute(
                text(
                    f"INSERT INTO {index.name}({index.name}, rowid, grams) "
                    "VALUES ('delete', :id, :grams)"
                ),
                params,
            )
        return
    table = index.pg_table
    ids = [owner_id for owner_id, _ in rows]
    if ids:
        await db.execute(table.delete().where(table.c.owner_id.in_(ids)))


async def replace(
    db: AsyncSession, index: SearchIndex, owner_id: int, *, old: str, new: str
) -> None:
    await remove(db, index, [(owner_id, old)])
    await add(db, index, [(owner_id, new)])


async def estimated_hits(db: AsyncSession, table: str, query: str) -> int | None:
    """The rows expected to hold the query's grams (estimated_share), or None where there is
    no estimate (SQLite: count instead).

    A GIN index answers with a bitmap of every hit before any LIMIT applies, so counting a
    common gram's hits costs as much as reading them all; the estimate costs nothing."""
    share = await estimated_share(db, table, query)
    return None if share is None else share[0]


async def estimated_share(db: AsyncSession, table: str, query: str) -> tuple[int, int] | None:
    """The rows expected to hold the query's grams and all the table's rows, as PostgreSQL's
    planner works them out (arraycontsel: each gram's share from the column's statistics, a
    gram they do not list taken as in min(0.005, the least listed share / 2) of the rows, the
    shares multiplied), from the statistics this process keeps (_statistics): no statement
    of its own, where a plan asked of PostgreSQL cost a search 0.5 ms (0.9 at a million). None
    where there are none (SQLite)."""
    grams = query_grams(query)
    if not grams or dialect(db) != "postgresql":
        return None
    statistics = await _statistics(db, table)
    share = DEFAULT_CONTAIN_SHARE
    if statistics.shares:
        share = 1.0
        for gram in set(grams):
            share *= statistics.shares.get(gram, statistics.unlisted)
    return round(share * statistics.rows), max(1, round(statistics.rows))


async def estimated_phrase_hits(db: AsyncSession, table: str, query: str) -> int | None:
    """The rows expected to hold ``query`` as the phrase it is, from the statistics
    estimated_share reads: its first bigram's share, times each next bigram's share divided by
    the share of the character it has in common with the one before (P(ab)·P(bc)/P(b)); for a
    character the statistics do not list, by the least share they list, which it cannot exceed
    (taking the bigram's share alone expected 25 entries for 松本様 at a million where ANALYZE
    did not list 本, and each search gathered 201 of its 10,000 entries first, 3 ms for
    nothing). Adjacent bigrams of a phrase come together, which estimated_share (PostgreSQL's
    own estimate) takes as chance: 松本様 at a million contacts is in ~10,000 entries, its
    bigrams in 11,689 and 51,015, and the plain product expects 19 (this: 406 where 本 is
    listed). Never fewer rows than that product. None where there are no statistics (SQLite)."""
    key = search_key(query)
    if not key or dialect(db) != "postgresql":
        return None
    statistics = await _statistics(db, table)
    if not statistics.shares:
        return round(DEFAULT_CONTAIN_SHARE * statistics.rows)

    def share(gram: str) -> float:
        return statistics.shares.get(gram, statistics.unlisted)

    if len(key) == 1:
        return round(share(key) * statistics.rows)
    estimate = share(key[:2])
    # A bigram again adds nothing, as in PostgreSQL's estimate (each gram once).
    seen = {key[:2]}
    for i in range(1, len(key) - 1):
        bigram = key[i : i + 2]
        if bigram in seen:
            continue
        seen.add(bigram)
        # A character the statistics do not list is in no more than the least share listed:
        # the bigram's share divided by that is the least P(bc)/P(b) can be.
        common = statistics.shares.get(key[i], statistics.least)
        estimate *= min(1.0, share(bigram) / common)
    return round(estimate * statistics.rows)


# A gram PostgreSQL's statistics find in more than this share of a table's rows is left out of
# the index condition (selective_grams).
COMMON_GRAM_SHARE = 0.3
# PostgreSQL's DEFAULT_CONTAIN_SEL: its share for an array containment it has no statistics for.
DEFAULT_CONTAIN_SHARE = 0.005


@dataclass(frozen=True)
class _GramStatistics:
    """What PostgreSQL's statistics say of a table's grams: the most common ones' shares of
    its rows, the share taken for any other (``unlisted``), and how many rows it has."""

    shares: dict[str, float]
    unlisted: float
    rows: float
    # The least share among those listed: any gram they do not list has no more.
    least: float = 1.0


async def _statistics(db: AsyncSession, table: str) -> _GramStatistics:
    """The table's gram statistics, as kit.pgstats keeps them."""
    read = (await pgstats.columns(db, [(table, "grams")])).get((table, "grams"))
    if read is None or not read.elements or read.least_element_share is None:
        return _GramStatistics({}, DEFAULT_CONTAIN_SHARE, max(0.0, read.rows if read else 0.0))
    least = read.least_element_share
    unlisted = min(DEFAULT_CONTAIN_SHARE, least / 2)
    return _GramStatistics(read.elements, unlisted, max(0.0, read.rows), least)


async def selective_grams(db: AsyncSession, table: str, grams: Sequence[str]) -> list[str]:
    """``grams`` without those in most of the table's rows (by PostgreSQL's statistics of the
    grams column), keeping the rarest one where all are: a superset of the matches still, for
    callers that re-check each one. Unchanged on SQLite."""
    if dialect(db) != "postgresql" or len(grams) < 2:
        return list(grams)
    shares = (await _statistics(db, table)).shares
    kept = [gram for gram in grams if shares.get(gram, 0.0) <= COMMON_GRAM_SHARE]
    return kept or [min(grams, key=lambda gram: shares.get(gram, 0.0))]


def candidates(db: AsyncSession, index: SearchIndex, query: str) -> TextualSelect | None:
    """A select of ``owner_id`` for the rows whose grams contain the query's: a superset of the
    matches, to re-check with LIKE on the owner's ``search_text``. None when the query has no
    letters or digits."""
    grams = query_grams(query)
    if not grams:
        return None
    owner_id = column("owner_id", BigInteger)
    if dialect(db) == "sqlite":
        if len(grams) == 1 and len(grams[0]) == 1:
            expression = f'"{grams[0]}"*'
        else:
            expression = '"' + " ".join(grams) + '"'
        return (
            text(f"SELECT rowid AS owner_id FROM {index.name} WHERE {index.name} MATCH :fts")
            .bindparams(fts=expression)
            .columns(owner_id)
        )
    return (
        text(f"SELECT owner_id FROM {index.name} WHERE grams @> :grams")
        .bindparams(bindparam("grams", value=grams, type_=ARRAY(Text)))
        .columns(owner_id)
    )
