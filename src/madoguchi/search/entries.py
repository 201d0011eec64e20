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
so that one period can be searched at a time, newest first; and a signature of the entry's
texts (2,048 bits: two a gram, two a run of three characters) in the index of ``seq`` itself, so
that a word in many entries is found by walking that index alone, newest first, and reading
only the entries whose signature holds the word's bits (migration 0029). A contact keeps its
conversations' entries' signatures together (migration 0034), in the index of its reading, for
the contact list in 五十音順: written by whatever writes their entries (sign_contacts).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    or_,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import FromClause
from sqlalchemy.sql.visitors import InternalTraversal, _TraverseInternalsType

from madoguchi.kit.db import Bits, bulk_insert
from madoguchi.kit.text import grams_in, key_sequence, query_grams, search_key
from madoguchi.search.indexes import contact_block, contact_token, dialect

CONVERSATIONS = "conversation_search"
CONVERSATIONS_FTS = "conversation_search_fts"
# seq = milliseconds since 1970 << ID_BITS | the id's low bits: unique but for two conversations
# whose ids differ by a multiple of 2**20 and whose activity falls in the same millisecond.
ID_BITS = 20
# An epoch is 2**EPOCH_BITS milliseconds of activity (about six days).
EPOCH_BITS = 29
EPOCH_PREFIX = "@e"  # never a gram: grams are letters and digits only
TOKEN_PREFIX = "@"  # an epoch's or a contact's (indexes.contact_token)


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


# A signature is this many bits (PostgreSQL's bit(2048)). Each gram of an entry's texts sets two
# of them, and so does each run of three characters; the leftmost bit says that the runs are
# there (every entry written since migration 0029, which could only give the entries before it
# their grams'). An entry of ~200 grams and ~250 runs has about a third of its bits set, so a
# gram or run it lacks looks held about one time in eight, a word of three characters (two
# grams, one run) about one in five hundred.
SIGNATURE_BITS = 2048
RUNS_HELD = 1 << (SIGNATURE_BITS - 1)


@lru_cache(maxsize=1 << 14)  # ~6 MB at most: an item's bits are a 2,048-bit int
def _bits(item: str) -> int:
    """A gram's or run's two bits, counted from the left as PostgreSQL counts a bit string's:
    with v the first 32 bits of its md5, bits 1 + (v & 65535) % 2047 and 1 + (v >> 16) % 2047
    (never the leftmost; migration 0029 computes the same in SQL)."""
    v = int.from_bytes(hashlib.md5(item.encode()).digest()[:4], "big")
    top = SIGNATURE_BITS - 1
    return _bit_at(1 + (v & 0xFFFF) % top) | _bit_at(1 + (v >> 16) % top)


def _bit_at(position: int) -> int:
    return 1 << (SIGNATURE_BITS - 1 - position)


def signature(items: Iterable[str], start: int = 0) -> int:
    """The bits of these grams or runs (added to ``start``'s)."""
    bits = start
    for item in items:
        bits |= _bits(item)
    return bits


def text_signature(text: str) -> int:
    """The bits a text gives an entry's signature: its grams' and its runs', and the bit that
    says the runs are there (an entry's signature is that of its texts together)."""
    return key_signature(search_key(text))


@lru_cache(maxsize=1 << 16)  # as many as conversations.recording keeps texts' grams
def key_signature(key: str) -> int:
    """``text_signature`` of a text whose search key (kit.text.search_key) is ``key``, for a
    caller that has the key at hand. A loader's texts repeat: each is worked out once."""
    return unkept_key_signature(key)


def unkept_key_signature(key: str, grams: Iterable[str] | None = None) -> int:
    """``key_signature`` worked out and not kept, for a key seen once (a new conversation's
    names: kept, a million of them would push out the texts that repeat); ``grams`` are the
    key's (kit.text.grams_in) where the caller has them."""
    if grams is None:
        grams = grams_in(key_sequence(key))
    return signature(_runs(key), signature(grams, RUNS_HELD))


def _runs(key: str) -> set[str]:
    """The runs of three characters of a search key (kit.text.search_key)."""
    return {key[i : i + 3] for i in range(len(key) - 2)}


def signed(db: AsyncSession) -> bool:
    """Whether the entries keep a signature (PostgreSQL's; SQLite walks its FTS5 index)."""
    return dialect(db) == "postgresql"


def stored_signature(bits: int) -> str:
    """A signature as PostgreSQL reads a bit string in text: X and its hex digits."""
    return f"X{bits:0{SIGNATURE_BITS // 4}x}"


def read_signature(stored: str) -> int:
    """A signature as PostgreSQL writes a bit string in text (its 0s and 1s)."""
    return int(stored, 2)


def signature_holds(column: ColumnElement[str], texts: Sequence[str]) -> ColumnElement[bool]:
    """Entries whose signature (``column``) has every bit of these texts' grams and runs: a
    superset of the entries holding the texts, checked in the index of seq without reading the
    entry. An entry whose signature has no runs (the leftmost bit unset) is judged by the
    grams alone. Each bit is read alone, and the first one unset answers: an AND of the whole
    signature with a mask made a new one for each row (five times the cost, 0.4 µs a row)."""
    grams = signature(gram for q in texts for gram in query_grams(q))
    every = signature((run for q in texts for run in _runs(search_key(q))), grams)
    if every == grams:
        return _BitsSet(column, _positions(grams))
    return or_(
        _BitsSet(column, _positions(every)),
        _BitsSet(column, _positions(grams), unset=(0,)),
    )


def _positions(bits: int) -> list[int]:
    """The bits set in ``bits``, as PostgreSQL counts them (from the left), lowest first:
    each found by its lowest set bit (shifting a 2,048-bit number for each of its positions
    took 0.4 ms)."""
    positions = []
    while bits:
        lowest = bits & -bits
        positions.append(SIGNATURE_BITS - lowest.bit_length())
        bits ^= lowest
    return positions


class _BitsSet(ColumnElement[bool]):
    """``column`` (a bit string) has a 0 at each of ``unset`` and a 1 at each of ``ones``,
    each bit read alone (``get_bit``), the first that differs answering; each position is a
    parameter, so that searches with as many bits share one compiled statement. One element:
    built of SQLAlchemy's functions and comparisons, the 17 bits of a full name took eight
    times as long (1.9 against 0.2 ms of Python at every search, on a busy machine)."""

    __visit_name__ = "bits_set"
    inherit_cache = True
    type = Boolean()
    # SQLAlchemy declares it on instances (mypy refuses a ClassVar), and never changes it.
    _traverse_internals: _TraverseInternalsType = [  # noqa: RUF012
        ("column", InternalTraversal.dp_clauseelement),
        ("unset", InternalTraversal.dp_clauseelement_tuple),
        ("ones", InternalTraversal.dp_clauseelement_tuple),
    ]

    def __init__(
        self, column: ColumnElement[str], ones: Sequence[int], unset: Sequence[int] = ()
    ) -> None:
        self.column = column
        self.unset = tuple(_position(at) for at in unset)
        self.ones = tuple(_position(at) for at in ones)

    @property
    def _from_objects(self) -> list[FromClause]:
        # The column's table (or alias): a statement checking it alone selects from it.
        return self.column._from_objects


def _position(at: int) -> BindParameter[int]:
    return BindParameter(None, at, type_=_INTEGER, unique=True)


_INTEGER = Integer()


@compiles(_BitsSet)
def _compile_bits_set(element: _BitsSet, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    checks = [
        f"get_bit({column}, {compiler.process(at, **kw)}) = {value}"
        for positions, value in ((element.unset, 0), (element.ones, 1))
        for at in positions
    ]
    return f"({' AND '.join(checks)})" if checks else "true"


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


# PostgreSQL's table of entries (migrations 0009, 0029), as bulk_insert writes it.
_PG_ENTRIES = Table(
    CONVERSATIONS,
    MetaData(),
    Column("conversation_id", Integer, primary_key=True),
    Column("seq", BigInteger),
    # Compared byte by byte (migration 0028).
    Column("grams", ARRAY(Text(collation="C"))),
    # As text (COPY reads that too).
    Column("signature", Bits(SIGNATURE_BITS)),
)


@dataclass(frozen=True)
class ConversationEntry:
    """A conversation's entry: ``signature`` is that of the texts its grams come from
    (text_signature of each, together), or None where they are not at hand: then its grams'
    alone (the runs left out, so that the entry is judged by its grams)."""

    conversation_id: int
    seq: int
    grams: frozenset[str]
    signature: int | None = None
    # The conversation's contact, whose block's token PostgreSQL's entry holds (None: in
    # migration 0009, before there were such tokens).
    contact_id: int | None = None


def stored_grams(
    grams: frozenset[str], seq: int, *, sqlite: bool, contact_id: int | None = None
) -> str | list[str]:
    """An entry's grams as its table holds them: text for SQLite's FTS5 index, an array with
    the token of its contact's block (indexes.contact_token) and its epoch token last for
    PostgreSQL's GIN index (conversation_entry reads either)."""
    if sqlite:
        return " ".join(sorted(grams))
    tokens = [] if contact_id is None else [contact_token(contact_block(contact_id))]
    return [*sorted(grams), *tokens, epoch_token(epoch_of(seq))]


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
            grams = frozenset(g for g in stored if not g.startswith(TOKEN_PREFIX))
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
# By dialect (on SQLite): PostgreSQL's entries have a signature too, read as text (its bits).
_ENTRIES_OF = {
    sqlite: text(
        f"SELECT conversation_id, seq, grams{'' if sqlite else ', signature::text'} "
        f"FROM {CONVERSATIONS} WHERE conversation_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    for sqlite in (True, False)
}
_HOLDERS_OF = text(
    f"SELECT seq, conversation_id FROM {CONVERSATIONS} WHERE seq IN :seqs"
).bindparams(bindparam("seqs", expanding=True))
# SQLite's writes by ``new`` (its grams are text); PostgreSQL's update (new entries there go by
# bulk_insert).
_SQLITE_WRITES = {
    True: text(
        f"INSERT INTO {CONVERSATIONS} (conversation_id, seq, grams) VALUES (:id, :seq, :grams)"
    ),
    False: text(
        f"UPDATE {CONVERSATIONS} SET seq = :seq, grams = :grams WHERE conversation_id = :id"
    ),
}
_PG_UPDATE = text(
    f"UPDATE {CONVERSATIONS} SET seq = :seq, grams = :grams, "
    f"signature = CAST(:signature AS bit({SIGNATURE_BITS})) WHERE conversation_id = :id"
).bindparams(bindparam("grams", type_=ARRAY(Text)), bindparam("signature", type_=Text))


# A contact's signature (PostgreSQL, migration 0034): its conversations' entries' together, the
# leftmost bit (their runs are there) only where every entry has it; None where it has none.
# For the contacts given (:contacts) or those of the conversations given (:conversations), the
# entries' bits as stored are added to what the contact has (a deleted text's bits stay: a
# signature may hold more than its contact, never less). Added, not set: where another
# transaction signed the contact meanwhile, PostgreSQL applies the addition to its row, and
# neither loses the other's bits (set, the later one wrote what it had read before the other's
# commit). None stays None only where the entries give none; a contact with no entry is None
# again (checked).
_SIGNED = (
    "CASE WHEN contacts.signature IS NULL OR signed.bits IS NULL THEN signed.bits "
    "ELSE set_bit(contacts.signature | signed.bits, 0, "
    "least(get_bit(contacts.signature, 0), get_bit(signed.bits, 0))) END"
)
_SIGN_CONTACTS = text(
    f"UPDATE contacts SET signature = {_SIGNED} FROM ("
    "SELECT owner.id, ("
    "SELECT set_bit(bit_or(e.signature), 0, min(get_bit(e.signature, 0))) "
    f"FROM conversations AS c JOIN {CONVERSATIONS} AS e ON e.conversation_id = c.id "
    "WHERE c.contact_id = owner.id) AS bits "
    "FROM (SELECT unnest(CAST(:contacts AS integer[])) AS id "
    "UNION SELECT contact_id FROM conversations WHERE id = ANY(CAST(:conversations AS integer[]))"
    ") AS owner"
    ") AS signed "
    f"WHERE contacts.id = signed.id AND contacts.signature IS DISTINCT FROM {_SIGNED}"
)


async def sign_contacts(
    db: AsyncSession, *, contacts: Sequence[int] = (), conversations: Sequence[int] = ()
) -> None:
    """Add their entries' bits to the signatures of these contacts and of these conversations'
    contacts (PostgreSQL; nothing on SQLite): every writer of entries does, and the services
    whose change to a contact's texts writes no entry (a contact's names, without a
    conversation: None)."""
    if (contacts or conversations) and signed(db):
        await db.execute(
            _SIGN_CONTACTS, {"contacts": list(contacts), "conversations": list(conversations)}
        )


def new_entry_signature(names_key: str, texts: int, names: Iterable[str] | None = None) -> int:
    """The signature of a conversation's first entry: its contact's names' (their search key;
    ``names``: its grams, where at hand) and its messages' (``texts``: their text_signature
    together). A contact with that one conversation (a loader's) has the same (sign_contacts)."""
    return texts | unkept_key_signature(names_key, names)


# A row to write: (conversation id, seq, grams as stored, signature: None on SQLite).
_Row = tuple[int, int, str | list[str], int | None]


async def write_conversations(
    db: AsyncSession, entries: Sequence[ConversationEntry], *, new: bool, sign: bool = True
) -> None:
    """Store entries: ``new`` ones are inserted, the others replace what their conversation had.
    Their contacts' signatures follow (``sign``: a loader that stored its contacts with theirs
    already, new_entry_signature, says False)."""
    sqlite = dialect(db) == "sqlite"
    await _write(
        db,
        [
            (
                entry.conversation_id,
                entry.seq,
                stored_grams(entry.grams, entry.seq, sqlite=sqlite, contact_id=entry.contact_id),
                None if sqlite else _signature_of(entry),
            )
            for entry in entries
        ],
        new=new,
        sign=sign,
    )


def _signature_of(entry: ConversationEntry) -> int:
    """The signature an entry is stored with: its texts', or its grams' where those are not
    at hand (ConversationEntry)."""
    return signature(entry.grams) if entry.signature is None else entry.signature


async def extend_conversations(
    db: AsyncSession,
    additions: Mapping[int, tuple[int | None, frozenset[str], int]],
    *,
    resigned: list[int] | None = None,
) -> set[int]:
    """Add texts to these conversations' entries, each as (new seq or None where it stays,
    the texts' grams, their signature: text_signature of each text, together), as reading
    them, merging and :func:`write_conversations` would. An entry keeps its grams sorted, so
    the new ones are merged into the stored list rather than the whole set taken apart and
    sorted again (a broadcast extends hundreds of entries with one text's grams). Answers the
    conversations that have an entry; the others are the caller's to start. The contacts of
    those whose signature changed are signed here, or, given ``resigned``, those conversations
    are added to it for the caller to sign with others (sign_contacts: one statement)."""
    if not additions:
        return set()
    sqlite = dialect(db) == "sqlite"
    rows = await db.execute(_ENTRIES_OF[sqlite], {"ids": list(additions)})
    found: set[int] = set()
    changed: list[_Row] = []
    # Those whose signature changed: their contacts' may (sign_contacts).
    signing = [] if resigned is None else resigned
    for row in rows:
        conversation_id, seq, stored = int(row[0]), int(row[1]), row[2]
        found.add(conversation_id)
        moved, grams, bits = additions[conversation_id]
        moved = seq if moved is None else moved
        held = stored.split() if isinstance(stored, str) else list(stored)
        # PostgreSQL's tokens come last (stored_grams): the contact's stays, the epoch's is
        # the new seq's. SQLite's text has none.
        tokens: list[str] = []
        while held and held[-1].startswith(TOKEN_PREFIX):
            token = held.pop()
            if not token.startswith(EPOCH_PREFIX):
                tokens.insert(0, token)
        missing = grams.difference(held)
        if missing:
            # Two sorted lists: merged in one pass.
            held = sorted([*held, *sorted(missing)])
        if sqlite:
            if missing or moved != seq:
                changed.append(
                    (conversation_id, moved, " ".join(held) if missing else stored, None)
                )
            continue
        stored_bits = read_signature(row[3])
        # An entry without its runs (written before migration 0029) stays without.
        bits = stored_bits | (bits if stored_bits & RUNS_HELD else bits & ~RUNS_HELD)
        if missing or moved != seq or bits != stored_bits:
            changed.append(
                (conversation_id, moved, [*held, *tokens, epoch_token(epoch_of(moved))], bits)
            )
        if bits != stored_bits:
            signing.append(conversation_id)
    await _write(db, changed, new=False, sign=False)
    if resigned is None:
        await sign_contacts(db, conversations=signing)
    return found


async def _write(db: AsyncSession, rows: Sequence[_Row], *, new: bool, sign: bool = True) -> None:
    """Rows (_Row) inserted, or replacing what their conversation had; then their contacts'
    signatures (``sign``)."""
    if not rows:
        return
    await _store(db, rows, new=new)
    if sign:
        await sign_contacts(db, conversations=[row[0] for row in rows])


async def _store(db: AsyncSession, rows: Sequence[_Row], *, new: bool) -> None:
    """Rows (_Row) inserted, or replacing what their conversation had (by dialect)."""
    if dialect(db) == "sqlite":
        rows = await _free_seqs(db, rows)
        params = [{"id": cid, "seq": seq, "grams": stored} for cid, seq, stored, _ in rows]
        await db.execute(_SQLITE_WRITES[new], params)
    elif new:
        # Many new entries at once (a loader's) by COPY (kit.db.bulk_insert).
        await bulk_insert(
            db,
            _PG_ENTRIES,
            [
                {
                    "conversation_id": cid,
                    "seq": seq,
                    "grams": stored,
                    "signature": stored_signature(bits or 0),
                }
                for cid, seq, stored, bits in rows
            ],
        )
    else:
        await db.execute(
            _PG_UPDATE,
            [
                {"id": cid, "seq": seq, "grams": stored, "signature": stored_signature(bits or 0)}
                for cid, seq, stored, bits in rows
            ],
        )


async def _free_seqs(db: AsyncSession, rows: Sequence[_Row]) -> list[_Row]:
    """SQLite's index needs each seq once: a seq another conversation holds already (their
    activity in the same millisecond, their ids 2**20 apart) goes one lower, and so on.
    Writers take turns on SQLite, so what is free now is still free when written."""
    wanted = [seq for _, seq, _, _ in rows]
    taken_rows = await db.execute(_HOLDERS_OF, {"seqs": wanted})
    taken = {int(seq): int(owner) for seq, owner in taken_rows}
    if len(set(wanted)) == len(wanted) and not taken:
        return list(rows)
    mine = {cid for cid, _, _, _ in rows}
    # Seqs that stay taken: held by conversations not written now.
    held = {seq for seq, owner in taken.items() if owner not in mine}
    result = []
    for cid, wanted_seq, stored, bits in rows:
        seq = wanted_seq
        while seq in held or (
            seq != wanted_seq
            and await db.scalar(
                text(f"SELECT 1 FROM {CONVERSATIONS} WHERE seq = :seq"), {"seq": seq}
            )
        ):
            seq -= 1
        held.add(seq)
        result.append((cid, seq, stored, bits))
    return result
