"""The one writer of messages and of everything that follows from them, and the one place that
forgets conversations with everything derived from them.

A message recorded moves its conversation in the list (its last activity, kind and preview, and
for a customer's message the last inbound time), moves the copies of that activity the filtered
lists walk (the contact's, each of its tag rows', each member's unread row), raises every member's
unread count for a customer's message, and is found by search (the message index and its
conversation's search entry). The services record one message at a time; the demo loader and
broadcasts record many at once, through the same function. A broadcast's copy is kept in its
thread only: sent to thousands at once, it would otherwise push every customer who wrote to the
shop out of sight, and make its text find every conversation. Forgetting undoes exactly what
recording did: only what was indexed is un-indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    TextClause,
    Update,
    bindparam,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.orm import attributes
from sqlalchemy.orm.util import identity_key

from madoguchi import search
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import (
    Conversation,
    ConversationTeamUnread,
    ConversationUnread,
    Message,
    MessageImage,
    MessageKind,
)
from madoguchi.crm.models import ACTIVITY_COPIES
from madoguchi.files import service as files
from madoguchi.files.models import StoredFile
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import UTCDateTime, bulk_insert, loaded_object, table_of
from madoguchi.kit.text import grams_in, key_sequence, preview, search_key
from madoguchi.members.models import Member
from madoguchi.search import conversations as searching
from madoguchi.stats import rollup

# What the list shows for a message without text, by what it holds: a symbol, in no particular
# language (the list adds the word in the member's: templates/inbox/_preview.html).
MEDIA_SYMBOLS = {"video": "🎞", "audio": "🎤", "file": "📎"}


def list_preview(text: str, meta: dict[str, Any] | None) -> str:
    """What the list shows for a message; a symbol, in no particular language, without text."""
    shown = preview(text)
    if shown:
        return shown
    meta = meta or {}
    if "sticker" in meta:
        return "🙂"
    if "location" in meta:
        return "📍"
    media = meta.get("media")
    if isinstance(media, list) and media and isinstance(media[0], dict):
        return MEDIA_SYMBOLS.get(str(media[0].get("kind")), "📎")
    if meta.get("links"):
        return "🔗"
    return "📷"


@dataclass(frozen=True)
class NewMessage:
    """A message to record in bulk, with the id reserved for it.

    ``moves``: it raises its conversation in the list (not a system line, nor a blocked
    contact's message). ``unread``: a customer's message members have not read.
    ``broadcast``: a broadcast's copy, kept in its thread only: it neither moves its
    conversation nor is searched."""

    id: int
    conversation_id: int
    contact_id: int
    channel_id: int
    kind: str
    text: str
    created_at: datetime
    external_id: str | None = None
    sender_member_id: int | None = None
    delivery: str | None = None
    meta: dict[str, Any] | None = None
    moves: bool = True
    unread: bool = False
    broadcast: bool = False
    # The stored files it shows, in order (a customer's images, videos and files).
    file_ids: tuple[int, ...] = ()

    @property
    def searched(self) -> bool:
        return searching.is_searched(self.kind, broadcast=self.broadcast)


@lru_cache(maxsize=65_536)
def _grams(body: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """A text's gram sequence (the message index) and gram set (the conversation entry); a
    loader's texts repeat, so each distinct one is worked out once."""
    sequence = tuple(key_sequence(_search_key(body)))  # the key the message row keeps
    return sequence, frozenset(grams_in(list(sequence)))


@lru_cache(maxsize=65_536)
def _search_key(body: str) -> str:
    return search_key(body)


async def record(
    ctx: Ctx,
    *,
    conversation: Conversation,
    message: Message,
    images: Sequence[StoredFile] = (),
    moves: bool = True,
    unread: bool = True,
) -> None:
    """Store one message (added to the session: the caller keeps the object) with its images,
    and everything that follows from it. ``conversation`` is brought up to date as stored.
    ``unread`` False: a customer's message that arrives read (a message filter's)."""
    message.search_text = _search_key(message.text) if searching.is_searched(message.kind) else ""
    ctx.db.add(message)
    await ctx.db.flush()
    for position, image in enumerate(images):
        ctx.db.add(MessageImage(message_id=message.id, file_id=image.id, position=position))
    await _follow(
        ctx,
        [
            NewMessage(
                id=message.id,
                conversation_id=conversation.id,
                contact_id=conversation.contact_id,
                channel_id=message.channel_id,
                kind=message.kind,
                text=message.text,
                created_at=message.created_at,
                sender_member_id=message.sender_member_id,
                meta=message.meta,
                broadcast=bool(message.broadcast),
                moves=moves and searching.is_searched(message.kind),
                unread=moves and unread and message.kind == MessageKind.inbound,
            )
        ],
    )


async def record_many(
    ctx: Ctx, messages: Sequence[NewMessage], *, placed: Placed | None = None
) -> None:
    """Store many messages at once (ids reserved by the caller), and everything that follows
    from them, as :func:`record` would one by one in the order given.

    ``placed``: what :func:`placing` said of these messages, where their conversations are new
    in this transaction, stored (with their contacts and the contacts' tag rows) as it says,
    and have no unread rows yet: nothing is moved, only raised (a loader's histories). Their
    contacts have one conversation each, and were stored with their signatures (PostgreSQL:
    search.new_entry_signature of their names and ``placed.signatures``)."""
    # Without a "meta" key a row stores SQL NULL, as the ORM leaves it (None would be JSON null).
    await bulk_insert(ctx.db, table_of(Message), [_row(message) for message in messages])
    shown = [
        {"message_id": message.id, "file_id": file_id, "position": position}
        for message in messages
        for position, file_id in enumerate(message.file_ids)
    ]
    if shown:
        await bulk_insert(ctx.db, table_of(MessageImage), shown)
    await _follow(ctx, messages, placed)


@dataclass(frozen=True)
class Placed:
    """Where messages recorded together leave their conversations (the ``last_*`` columns, by
    conversation id) and their contacts (``activity_at``, by contact id: the contact's, its tag
    rows', its profile values' and its record spans')."""

    conversations: dict[int, dict[str, Any]]
    contacts: dict[int, datetime]
    # The walk they come from, which record_many takes up rather than walking again.
    newest: dict[int, _Newest] = field(repr=False)
    # By contact id, where asked (``signed``): their searched messages' signature, together.
    signatures: dict[int, int] = field(default_factory=dict, repr=False)


def placing(messages: Sequence[NewMessage], *, signed: bool = False) -> Placed:
    """What :func:`record_many` would move new conversations and their contacts to: a loader
    stores its rows so, and records the messages with it (``placed``), instead of storing each
    row and then moving it (a million conversations, contacts and tag rows written twice).
    ``signed`` (PostgreSQL's entries: search.signed): with what the messages add to their
    contacts' signatures, which the loader stores with the contacts likewise."""
    newest = _newest_of(messages)
    signatures: dict[int, int] = {}
    if signed:
        for message in messages:
            if message.searched:
                held = signatures.get(message.contact_id, 0)
                signatures[message.contact_id] = held | _text_bits(message.text)
    return Placed(
        conversations={
            cid: {
                "last_activity_at": new.at,
                "last_message_kind": new.kind,
                "last_message_preview": new.preview,
                "last_inbound_at": new.inbound_at,
            }
            for cid, new in newest.items()
        },
        contacts=_contact_activity(newest),
        newest=newest,
        signatures=signatures,
    )


def as_stored(ctx: Ctx, messages: Sequence[NewMessage]) -> list[Message]:
    """The messages :func:`record_many` stored, as the session's objects: made from what was
    written, not read back."""
    return [
        loaded_object(
            ctx.db,
            Message,
            {**_row(new), "meta": new.meta, "delivery_error": None, "mark_id": None},
        )
        for new in messages
    ]


def _row(message: NewMessage) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "channel_id": message.channel_id,
        "kind": message.kind,
        "text": message.text,
        "external_id": message.external_id,
        "sender_member_id": message.sender_member_id,
        "delivery": message.delivery,
        "search_text": _search_key(message.text) if message.searched else "",
        "broadcast": message.broadcast,
        "created_at": message.created_at,
    }
    if message.meta is not None:
        row["meta"] = message.meta
    return row


@dataclass
class _Newest:
    """What a conversation's newest moving message sets."""

    at: datetime
    kind: str
    preview: str
    contact_id: int
    inbound_at: datetime | None = None
    unread: int = 0


async def _follow(ctx: Ctx, messages: Sequence[NewMessage], placed: Placed | None = None) -> None:
    searched = [m for m in messages if m.searched]
    await search.add_grams(ctx.db, search.MESSAGES, [(m.id, _grams(m.text)[0]) for m in searched])
    if placed is not None:
        newest = placed.newest
        await _raise(ctx, newest)
    else:
        newest = _newest_of(messages)
        await _move(ctx, newest)
    await _add_to_entries(ctx, searched, newest, sign=placed is None)
    # Last: its day counts are rows every writer shares, locked until the transaction ends.
    await rollup.note(ctx, [_counted(m) for m in messages])


def _counted(m: NewMessage) -> rollup.Counted:
    return rollup.Counted.of(
        conversation_id=m.conversation_id,
        channel_id=m.channel_id,
        kind=m.kind,
        created_at=m.created_at,
        sender_member_id=m.sender_member_id,
        broadcast=m.broadcast,
        meta=m.meta,
        reopens=m.moves,
    )


def _newest_of(messages: Sequence[NewMessage]) -> dict[int, _Newest]:
    """Each conversation's newest moving message: what it moves to."""
    newest: dict[int, _Newest] = {}
    for message in messages:
        if not message.moves or message.broadcast:
            continue
        current = newest.get(message.conversation_id)
        if current is None or message.created_at >= current.at:
            moved = _Newest(
                at=message.created_at,
                kind=message.kind,
                preview=list_preview(message.text, message.meta),
                contact_id=message.contact_id,
            )
            if current is not None:
                moved.inbound_at, moved.unread = current.inbound_at, current.unread
            newest[message.conversation_id] = current = moved
        if message.kind == MessageKind.inbound and (
            current.inbound_at is None or message.created_at > current.inbound_at
        ):
            current.inbound_at = message.created_at
        current.unread += message.unread
    return newest


@dataclass(frozen=True)
class _Moves:
    """The UPDATEs a recorded message makes, built once: building them anew for each message
    cost more than running them (issue 14's ingest profile)."""

    conversation: Update
    unread: Update
    # A raised conversation's rows of deactivated members (the raise moves the others).
    unread_inactive: Update
    team_unread: Update
    contact: Update
    # Each of ACTIVITY_COPIES, with its contact column.
    copies: tuple[tuple[Update, ColumnElement[Any]], ...]


@cache
def _moves() -> _Moves:
    conversations = table_of(Conversation)
    unreads, team_unreads = table_of(ConversationUnread), table_of(ConversationTeamUnread)
    contacts, members = table_of(Contact), table_of(Member)
    return _Moves(
        conversation=conversations.update().values(
            last_activity_at=bindparam("_at"),
            last_message_kind=bindparam("_kind"),
            last_message_preview=bindparam("_preview"),
            # A customer's message moves the time the reply window counts from.
            last_inbound_at=func.coalesce(
                bindparam("_inbound", type_=UTCDateTime()), conversations.c.last_inbound_at
            ),
        ),
        unread=unreads.update().values(activity_at=bindparam("_at")),
        unread_inactive=unreads.update()
        .values(activity_at=bindparam("_at"))
        .where(unreads.c.member_id.in_(select(members.c.id).where(members.c.active.is_(False)))),
        team_unread=team_unreads.update().values(activity_at=bindparam("_at")),
        contact=contacts.update().values(activity_at=bindparam("_at")),
        copies=tuple(
            (table.update().values(activity_at=bindparam("_at")), table.c.contact_id)
            for table in map(table_of, ACTIVITY_COPIES)
        ),
    )


async def _move(ctx: Ctx, newest: dict[int, _Newest]) -> None:
    """The conversations' ``last_*`` fields and the activity copies the filtered lists walk; a
    customer's message raises the team's unread row as well as each member's."""
    if not newest:
        return
    moves = _moves()
    await _update_each(
        ctx,
        moves.conversation,
        table_of(Conversation).c.id,
        {
            cid: {
                "_at": new.at,
                "_kind": new.kind,
                "_preview": new.preview,
                "_inbound": new.inbound_at,
            }
            for cid, new in newest.items()
        },
    )
    moved_at = {cid: {"_at": new.at} for cid, new in newest.items()}
    still = {c: at for c, at in moved_at.items() if not newest[c].unread}
    # A raised conversation's rows are written once, by the raise below (moved first and
    # raised next, each of 500 members' rows was written twice a message: bench/live.py); here
    # only its rows of deactivated members, which the raise does not touch, follow its time.
    member_unread = table_of(ConversationUnread).c.conversation_id
    for statement, key, moved in (
        (moves.unread, member_unread, still),
        (
            moves.unread_inactive,
            member_unread,
            {c: moved_at[c] for c in moved_at.keys() - still.keys()},
        ),
        (moves.team_unread, table_of(ConversationTeamUnread).c.conversation_id, still),
    ):
        await _update_each(ctx, statement, key, moved)
    await _raise(ctx, newest)
    contact_activity = _contact_activity(newest)
    await _move_contacts(ctx, contact_activity)
    # Objects the session holds show what was just stored.
    for cid, new in newest.items():
        _set_loaded(
            ctx,
            Conversation,
            cid,
            last_activity_at=new.at,
            last_message_kind=new.kind,
            last_message_preview=new.preview,
            **({"last_inbound_at": new.inbound_at} if new.inbound_at else {}),
        )
    for contact_id, at in contact_activity.items():
        _set_loaded(ctx, Contact, contact_id, activity_at=at)


async def _move_contacts(ctx: Ctx, activity: dict[int, datetime]) -> None:
    """The contacts' latest activity, and its copies in their tag rows, profile values and
    record spans (the filtered lists walk them). On PostgreSQL one statement, its updates in
    CTEs, the contacts and their times given as two arrays: four round trips a message were one
    each (issue 14). SQLite's statements are calls in process: an executemany each."""
    if not activity:
        return
    if ctx.db.get_bind().dialect.name == "postgresql":
        moved_at = [at.astimezone(UTC) for at in activity.values()]
        await ctx.db.execute(_move_contacts_sql(), {"ids": list(activity), "ats": moved_at})
        return
    moves = _moves()
    rows = {contact_id: {"_at": at} for contact_id, at in activity.items()}
    for statement, key in ((moves.contact, table_of(Contact).c.id), *moves.copies):
        await _update_each(ctx, statement, key, rows)


@cache
def _move_contacts_sql() -> TextClause:
    """PostgreSQL's one statement for _move_contacts: an update of each of ACTIVITY_COPIES in a
    CTE of its own (named apart from its table), then the contacts'."""
    ctes = [
        "moved AS (SELECT * FROM unnest(CAST(:ids AS integer[]), "
        "CAST(:ats AS timestamptz[])) AS m (id, at))",
        *(
            f"copy_{n} AS (UPDATE {table} SET activity_at = moved.at FROM moved "
            f"WHERE {table}.contact_id = moved.id)"
            for n, table in enumerate(model.__tablename__ for model in ACTIVITY_COPIES)
        ),
    ]
    return text(
        f"WITH {', '.join(ctes)} "
        "UPDATE contacts SET activity_at = moved.at FROM moved WHERE contacts.id = moved.id"
    )


async def _raise(ctx: Ctx, newest: dict[int, _Newest]) -> None:
    """A customer's unread messages raise the conversation's row for each active member and
    the team's (made, or their counts up), at the conversation's new time."""
    raised = [
        {"conversation_id": cid, "at": new.at, "n": new.unread, "active": True}
        for cid, new in newest.items()
        if new.unread
    ]
    if raised:
        await ctx.db.execute(_RAISE_UNREAD, raised)
        await ctx.db.execute(
            _RAISE_TEAM_UNREAD, [{k: r[k] for k in ("conversation_id", "at", "n")} for r in raised]
        )


def _contact_activity(newest: dict[int, _Newest]) -> dict[int, datetime]:
    """Each contact's newest moment among its conversations'."""
    activity: dict[int, datetime] = {}
    for new in newest.values():
        if new.at >= activity.get(new.contact_id, new.at):
            activity[new.contact_id] = new.at
    return activity


# Ids a statement takes in one IN list (SQLite allows 32,766 parameters).
_IDS_PER_STATEMENT = 5000


async def _update_each(
    ctx: Ctx, statement: Update, key: ColumnElement[Any], values: dict[int, dict[str, Any]]
) -> None:
    """``statement`` (its values as bind parameters) for each row ``key`` names, with that
    row's values. Rows given the same values (a broadcast's copies: one time, one text) are
    updated by one statement with their ids in an IN list; the others by one executemany."""
    if not values:
        return
    same: dict[tuple[Any, ...], list[int]] = {}
    for ident, row in values.items():
        same.setdefault(tuple(row.items()), []).append(ident)
    alone = []
    for shared, ids in same.items():
        if len(ids) == 1:
            alone.append({"_id": ids[0], **dict(shared)})
            continue
        in_list = statement.where(key.in_(bindparam("_ids", expanding=True)))
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            chunk = ids[start : start + _IDS_PER_STATEMENT]
            await ctx.db.execute(in_list, {"_ids": chunk, **dict(shared)})
    if alone:
        await ctx.db.execute(_one_row(statement, key), alone)


# Each (cached) statement's one-row form, by the statement's identity; the statement is kept
# with it, so that its id cannot be another's.
_ONE_ROW: dict[int, tuple[Update, Update]] = {}


def _one_row(statement: Update, key: ColumnElement[Any]) -> Update:
    held = _ONE_ROW.get(id(statement))
    if held is None or held[0] is not statement:
        held = _ONE_ROW[id(statement)] = (statement, statement.where(key == bindparam("_id")))
    return held[1]


_RAISE_UNREAD = text(
    "INSERT INTO conversation_unreads (member_id, conversation_id, activity_at, count) "
    "SELECT id, :conversation_id, :at, :n FROM members WHERE active = :active "
    "ON CONFLICT (member_id, conversation_id) DO UPDATE "
    "SET count = conversation_unreads.count + excluded.count, activity_at = excluded.activity_at"
).bindparams(bindparam("at", type_=UTCDateTime()))
_RAISE_TEAM_UNREAD = text(
    "INSERT INTO conversation_team_unreads (conversation_id, activity_at, count) "
    "VALUES (:conversation_id, :at, :n) "
    "ON CONFLICT (conversation_id) DO UPDATE "
    "SET count = conversation_team_unreads.count + excluded.count, "
    "activity_at = excluded.activity_at"
).bindparams(bindparam("at", type_=UTCDateTime()))


@cache
def _names_of() -> Select[Any]:
    """The activity, the contact and their names key (its search text: search_key of
    search.names_of, as contacts.service keeps it) of the conversations given as ``ids``
    (built once: a batch's new conversations start their entries here)."""
    conversations, contacts = table_of(Conversation).c, table_of(Contact).c
    return (
        select(conversations.id, conversations.last_activity_at, contacts.id, contacts.search_text)
        .join_from(
            table_of(Conversation), table_of(Contact), contacts.id == conversations.contact_id
        )
        .where(conversations.id.in_(bindparam("ids", expanding=True)))
    )


async def _add_to_entries(
    ctx: Ctx, searched: Sequence[NewMessage], newest: dict[int, _Newest], *, sign: bool
) -> None:
    """Each conversation's search entry takes its new messages' grams, and moves to its new
    last activity. A conversation without an entry gets one (its contact's names as well).
    Then their contacts' signatures (``sign``: record_many's ``placed`` has them stored)."""
    texts: dict[int, list[str]] = {}
    for message in searched:
        texts.setdefault(message.conversation_id, []).append(message.text)
    # A broadcast's copies share one text's set; a thread's texts are joined at once (a set
    # grown a text at a time copied it for each).
    grams = {
        cid: _grams(bodies[0])[1]
        if len(bodies) == 1
        else frozenset().union(*(_grams(body)[1] for body in bodies))
        for cid, bodies in texts.items()
    }
    # PostgreSQL's entries keep a signature of their texts too (search.entries).
    signed = search.signed(ctx.db)
    bits: dict[int, int] = {}
    if signed:
        for cid, bodies in texts.items():
            held = 0
            for body in bodies:
                held |= _text_bits(body)
            bits[cid] = held
    ids = sorted(grams.keys() | newest.keys())
    if not ids:
        return
    seqs = {cid: search.activity_seq(new.at, cid) for cid, new in newest.items()}
    # The conversations whose contacts' signatures may change: signed together at the end.
    resigned: list[int] = []
    found = await search.extend_conversations(
        ctx.db,
        {cid: (seqs.get(cid), grams.get(cid, frozenset()), bits.get(cid, 0)) for cid in ids},
        resigned=resigned,
    )
    missing = [cid for cid in ids if cid not in found]
    if missing:
        resigned.extend(await _start_entries(ctx, missing, seqs, grams, bits, sign=sign))
    await search.sign_contacts(ctx.db, conversations=resigned)


async def _start_entries(
    ctx: Ctx,
    missing: Sequence[int],
    seqs: Mapping[int, int],
    grams: Mapping[int, frozenset[str]],
    bits: Mapping[int, int],
    *,
    sign: bool,
) -> list[int]:
    """The entries of conversations that have none, with their contacts' names; answers the
    conversations whose contacts the caller is to sign (none unless ``sign``)."""
    signed = search.signed(ctx.db)
    rows = await ctx.db.execute(_names_of(), {"ids": missing})
    started = []
    for cid, at, contact_id, names_key in rows:  # none if deleted meanwhile
        seq = seqs.get(cid, search.activity_seq(at, cid))
        names = frozenset(grams_in(key_sequence(names_key)))  # grams_of the names, once
        signature = (
            search.new_entry_signature(names_key, bits.get(cid, 0), names) if signed else None
        )
        started.append(
            search.ConversationEntry(
                cid, seq, names | grams.get(cid, frozenset()), signature, contact_id
            )
        )
    await search.write_conversations(ctx.db, started, new=True, sign=False)
    return [entry.conversation_id for entry in started] if sign else []


def _text_bits(body: str) -> int:
    """What a searched message's text adds to its entry's signature (search.text_signature)."""
    return search.key_signature(_search_key(body))


def _set_loaded(ctx: Ctx, model: type[Any], ident: int, **values: Any) -> None:
    loaded = ctx.db.sync_session.identity_map.get(identity_key(model, ident))
    if loaded is not None:
        for name, value in values.items():
            attributes.set_committed_value(loaded, name, value)


# --- forgetting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Forgotten:
    messages: int
    # Image files no message uses any more: removed from disk once the transaction is committed
    # (files.remove_files).
    files: list[StoredFile]


async def forget(ctx: Ctx, conversation_ids: Iterable[int]) -> Forgotten:
    """Delete conversations with their messages and everything derived from them: the rows
    that cascade (search entries, unread rows, followers, scheduled sends), the message index
    (what it holds), and the images no other message uses."""
    ids = list(conversation_ids)
    if not ids:
        return Forgotten(messages=0, files=[])
    messages = int(
        await ctx.db.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id.in_(ids))
        )
        or 0
    )
    await rollup.unnote(ctx, ids)
    await searching.forget_messages(ctx.db, ids)
    file_ids = set(
        await ctx.db.scalars(
            select(MessageImage.file_id)
            .join(Message, Message.id == MessageImage.message_id)
            .where(Message.conversation_id.in_(ids))
        )
    )
    await ctx.db.execute(delete(Conversation).where(Conversation.id.in_(ids)))
    await ctx.db.flush()
    orphans = await files.unreferenced(ctx.db, file_ids)
    for stored in orphans:
        await ctx.db.delete(stored)
    return Forgotten(messages=messages, files=orphans)
