"""The one way in (channels.inbound): what one customer's message costs the database, counted
at the driver (SQLAlchemy's ``before_cursor_execute`` and the connections' commits), and that
every channel goes through it."""

from __future__ import annotations

import ast
import asyncio
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

import madoguchi.channels
import madoguchi.connectors
from madoguchi.channels.models import Channel
from madoguchi.config import Settings
from madoguchi.connectors import inbound
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Message
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Invalid, NotFound
from tests.channels.conftest import Recorder
from tests.channels.test_line import post, text_event
from tests.conftest import RecordingBus
from tests.fixtures import Factory

# The budget for one text message from a new LINE friend, profile asked: what it takes now
# with a little room (BEGINs and savepoints counted). Before the one way in it took 32 on
# SQLite, in three transactions, with the duplicate check and the contact's look-up three
# times each. The team's 未確認 (issue 13) is one row more to raise: 31 and 27. Statistics
# (issue 12) read the conversation's row of facts, copy a new one's channel and assignee in,
# write it and count the day: 35 and 31. Keeping the webhook's body before answering (issue 14)
# adds its INSERT, and once its events are stored its DELETE in a transaction of its own: 38 and
# 33. Storing messages in batches (issue 14) reserves their ids first and records them without a
# savepoint (a failed batch is rolled back whole): 36 and 31. A new person and conversation are
# written as plain rows (issue 14: the ORM's INSERT … RETURNING cost more than the rest of a
# batch's rows): on SQLite their ids are reserved first, two cheap reads: 38 and 31. A contact's
# signature (PostgreSQL, migration 0034) is worked out again once its conversation's entry has
# new bits: 38 and 32. A contact's profile values and record spans keep a copy of its activity
# too (issue 14), which PostgreSQL moves with the contact and its tag rows in one statement: 38
# and 31.
STATEMENTS = {"sqlite": 38, "postgresql": 31}


@dataclass
class Tally:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0
    commits: int = 0

    def writes(self) -> list[str]:
        return [s for s in self.statements if s.split(None, 1)[0].upper() in WRITES]


WRITES = {"INSERT", "UPDATE", "DELETE"}


@contextmanager
def tallied() -> Iterator[Tally]:
    """Every statement and commit of every engine in this process while it is open."""
    tally = Tally()

    def statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        tally.statements.append(sql)

    def begin(_conn: Any) -> None:
        tally.transactions += 1

    def commit(_conn: Any) -> None:
        tally.commits += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "begin", begin)
    event.listen(Engine, "commit", commit)
    try:
        yield tally
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
        event.remove(Engine, "begin", begin)
        event.remove(Engine, "commit", commit)


async def test_one_line_message_is_one_transaction_within_its_statement_budget(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, database: Database
) -> None:
    recorder.answer(
        "GET",
        "/v2/bot/profile/U77",
        (200, {"displayName": "はなこ", "pictureUrl": "https://profile.line-scdn.net/p/77"}),
    )
    assert (await post(client, line, [])).status_code == 200  # the app warmed up
    with tallied() as tally:
        answered = await post(client, line, [text_event("7001", "予約できますか", user="U77")])
    assert answered.status_code == 200
    # Three transactions: one reads the channel and whether the message is stored and its
    # sender known, keeps the body and commits (then LINE has its 200, and is asked for the
    # profile); one writes the message, its contact (name and picture), conversation, index and
    # unread rows, and commits; one forgets the body.
    assert (tally.transactions, tally.commits) == (3, 3), tally.statements
    dialect = database.engine.dialect.name
    assert len(tally.statements) <= STATEMENTS[dialect], "\n".join(tally.statements)
    print(f"one inbound LINE message: {len(tally.statements)} statements")
    async with database.read_sessions() as session:
        contact = await session.scalar(select(Contact).where(Contact.external_id == "U77"))
        assert contact is not None
        assert (contact.channel_name, contact.avatar_url) == (
            "はなこ",
            "https://profile.line-scdn.net/p/77",
        )

    # A redelivery reads (is it new?) and writes nothing, and LINE is not asked again.
    profile_calls = len(recorder.calls("GET", "/v2/bot/profile/U77"))
    with tallied() as again:
        answered = await post(
            client, line, [text_event("7001", "予約できますか", user="U77", redelivery=True)]
        )
    assert answered.status_code == 200
    assert again.commits == 0 and again.writes() == []
    assert len(recorder.calls("GET", "/v2/bot/profile/U77")) == profile_calls


async def test_a_changed_picture_of_a_known_contact_is_told_to_the_members(
    ctx: Ctx, factory: Factory, database: Database
) -> None:
    line_channel = await factory.channel(kind="line", name="LINE")
    published = ctx.bus.published  # type: ignore[attr-defined]
    published.clear()
    first = await inbound.receive(
        ctx,
        inbound.Inbound(
            channel_id=line_channel.id,
            kind="line",
            sender="U5",
            message_id="m-1",
            text="はじめまして",
            profile=inbound.Profile(name="さき", picture_url="https://example.jp/a.jpg"),
        ),
    )
    assert [e.type for e in published] == ["message.created", "conversation.updated"]
    published.clear()
    await inbound.receive(
        ctx,
        inbound.Inbound(
            channel_id=line_channel.id,
            kind="line",
            sender="U5",
            message_id="m-2",
            text="写真を変えました",
            profile=inbound.Profile(name="さき", picture_url="https://example.jp/b.jpg"),
        ),
    )
    assert (published[0].type, published[0].data) == (
        "contact.updated",
        {"contact_id": first.conversation.contact_id, "part": "profile"},
    )
    async with database.read_sessions() as session:
        contact = await session.get(Contact, first.conversation.contact_id)
        assert contact is not None and contact.avatar_url == "https://example.jp/b.jpg"


async def test_limits_are_one_rule_cut_for_a_webhook_refused_for_a_waiting_sender(
    ctx: Ctx, factory: Factory, database: Database
) -> None:
    api = await factory.channel()
    long_text = "あ" * 5001

    def message(**kw: Any) -> inbound.Inbound:
        return inbound.Inbound(channel_id=api.id, kind="api", sender="c-9", **kw)

    with pytest.raises(Invalid):
        await inbound.receive(ctx, message(message_id="x1", text=long_text, exact=True))
    with pytest.raises(Invalid):
        await inbound.receive(ctx, message(message_id="x2", text=" \x00 ", exact=True))
    kept = await inbound.receive(ctx, message(message_id="x3", text=long_text + "\x07"))
    assert len(kept.message.text) == 5000 and kept.message.meta == {"truncated_from": 5001}
    with pytest.raises(Invalid):
        await inbound.receive(ctx, message(message_id="x" * 256, text="長すぎるID"))
    with pytest.raises(NotFound):
        await inbound.receive(
            ctx,
            inbound.Inbound(channel_id=api.id, kind="line", sender="c-9", message_id="y", text="?"),
        )
    async with database.read_sessions() as session:
        texts = list(await session.scalars(select(Message.external_id)))
    assert texts == ["x3"]


async def test_a_webhook_body_s_messages_are_stored_in_one_transaction(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, database: Database
) -> None:
    """Five messages of a body: one transaction stores them all (inbound.Seen.store), not one
    each, and a new sender's profile is asked for once however often they wrote."""
    recorder.answer("GET", "/v2/bot/profile/U81", (200, {"displayName": "一郎"}))
    recorder.answer("GET", "/v2/bot/profile/U82", (200, {"displayName": "二郎"}))
    assert (await post(client, line, [])).status_code == 200  # the app warmed up
    events = [
        text_event("8101", "一", user="U81"),
        text_event("8102", "二", user="U82"),
        text_event("8103", "三", user="U81"),
        text_event("8104", "四", user="U82"),
        text_event("8105", "五", user="U81"),
    ]
    with tallied() as tally:
        assert (await post(client, line, events)).status_code == 200
    # The body kept, its five messages stored, the body forgotten.
    assert (tally.transactions, tally.commits) == (3, 3), tally.statements
    assert len(recorder.calls("GET", "/v2/bot/profile/U81")) == 1
    async with database.read_sessions() as session:
        # In the body's order, by id: a table's rows come back in no set order without one
        # (PostgreSQL puts new rows wherever an earlier test's deleted ones left room).
        stored = list(
            await session.execute(select(Message.external_id, Message.text).order_by(Message.id))
        )
        names = set(await session.scalars(select(Contact.channel_name)))
    assert [tuple(row) for row in stored] == [
        ("8101", "一"),
        ("8102", "二"),
        ("8103", "三"),
        ("8104", "四"),
        ("8105", "五"),
    ]
    assert names == {"一郎", "二郎"}


def test_every_channel_stores_through_the_one_way_in() -> None:
    """No channel module writes a message, a contact or a file but through ``receive``."""
    packages = (madoguchi.channels, madoguchi.connectors)
    paths = [path for package in packages for path in Path(package.__file__).parent.glob("*.py")]
    forbidden = {"add_inbounds", "find_or_create_contact", "store_image", "recording"}
    callers: dict[str, set[str]] = {}
    for path in sorted(paths):
        for node in ast.walk(ast.parse(path.read_text())):
            name = (
                node.attr
                if isinstance(node, ast.Attribute)
                else node.id
                if isinstance(node, ast.Name)
                else None
            )
            if name in forbidden | {"receive", "receive_many", "wait"}:
                callers.setdefault(name, set()).add(path.stem)
    assert callers.get("add_inbounds") == {"inbound"}
    assert callers.get("store_image") == {"inbound"}
    # LINE's follow event refreshes a profile without a message: the contacts service's own.
    assert callers.get("find_or_create_contact") == {"inbound", "line"}
    assert "recording" not in callers  # messages are recorded by the conversations service
    assert {"email", "web", "api"} <= callers["receive"]
    # The webhooks hand a body's messages to its Seen, which stores them together through
    # receive_many; so does the API channel's intake.
    assert {"line", "instagram"} <= callers["wait"]
    assert callers["receive_many"] == {"inbound", "intake"}
    assert inspect.signature(inbound.receive).parameters.keys() == {"ctx", "inbound"}


async def test_a_message_whose_only_image_cannot_be_kept_reads_as_its_fallback(
    ctx: Ctx, factory: Factory
) -> None:
    mail = await factory.channel(kind="email", name="メール")
    kept = await inbound.receive(
        ctx,
        inbound.Inbound(
            channel_id=mail.id,
            kind="email",
            sender="hanako@example.jp",
            message_id="<m-1@example.jp>",
            fallback_text="予約の写真",
            images=[inbound.Attachment("photo.jpg", b"not an image at all")],
        ),
    )
    assert kept.message.text == "予約の写真"
    assert "photo.jpg" in (kept.message.meta or {})["image_error"]


async def test_a_lost_race_leaves_nothing_for_the_next_event_to_commit(
    ctx: Ctx, factory: Factory, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two deliveries of one message at once: the loser's writes (its image, the contact's new
    name) must not be committed by the next event of its webhook body."""
    from madoguchi.conversations import service as conversations
    from madoguchi.files.models import StoredFile
    from tests.conversations.test_workflow import png

    channel_id = (await factory.channel(kind="line", name="LINE")).id

    def message(message_id: str, sender: str, **kw: Any) -> inbound.Inbound:
        return inbound.Inbound(
            channel_id=channel_id, kind="line", sender=sender, message_id=message_id, **kw
        )

    await inbound.receive(
        ctx, message("M1", "U1", text="こんにちは", profile=inbound.Profile("花子", None))
    )
    stored_inbounds = conversations.stored_inbounds
    asked = []

    async def not_yet_on_first_look(db: Any, **kw: Any) -> Any:
        # The other request commits between this one's look and its insert.
        asked.append(kw)
        return {} if len(asked) == 1 else await stored_inbounds(db, **kw)

    monkeypatch.setattr(conversations, "stored_inbounds", not_yet_on_first_look)
    lost = await inbound.receive(
        ctx,
        message(
            "M1",
            "U1",
            images=[inbound.Attachment("", png())],
            profile=inbound.Profile("花子2", "https://example.jp/2.jpg"),
        ),
    )
    assert not lost.created and lost.message.text == "こんにちは" and len(asked) >= 2
    await inbound.receive(ctx, message("M2", "U2", text="次のイベント"))
    async with database.read_sessions() as session:
        assert list(await session.scalars(select(StoredFile.id))) == []
        u1 = await session.scalar(select(Contact).where(Contact.external_id == "U1"))
        assert u1 is not None and (u1.channel_name, u1.avatar_url) == ("花子", None)


async def test_a_message_of_a_body_refused_for_its_content_costs_the_others_nothing(
    ctx: Ctx, factory: Factory, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """A body's messages wait to be stored together (inbound.Seen); one refused (its channel's
    parser let through an id no column keeps) is logged and skipped, the others are stored."""
    channel_id = (await factory.channel(kind="line", name="LINE")).id
    await ctx.db.commit()
    body = inbound.Seen(stored=set(), known=set())
    for message_id in ("7101", "7" * 300, "7103"):
        body.wait(
            inbound.Inbound(
                channel_id=channel_id, kind="line", sender="U71", message_id=message_id, text="本文"
            )
        )
    with caplog.at_level("WARNING"):
        await body.store(ctx, label="LINE")
    assert body.waiting == []
    async with database.read_sessions() as session:
        stored = list(await session.scalars(select(Message.external_id).order_by(Message.id)))
    assert stored == ["7101", "7103"]
    assert f"LINE message {'7' * 300} on channel {channel_id} not stored" in caplog.text


async def test_two_batches_making_the_same_people_in_other_orders_both_land(
    ctx: Ctx,
    factory: Factory,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two processes' batches with the same new senders at once, in opposite orders
    (PostgreSQL): each makes its people in one order, so one waits for the other, finds them
    made and stores its messages with them. In their own orders each made some of them first
    and waited for a row the other had made: a deadlock (seen in the ingest benchmark). The
    one that waited reads and locks them together again, before each message takes its own."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns")
    from madoguchi.contacts import service as contacts

    looked: list[set[str]] = []
    channel_contacts = contacts.channel_contacts

    async def looked_up(db: Any, *, channel_id: int, external_ids: set[str]) -> Any:
        looked.append(set(external_ids))
        return await channel_contacts(db, channel_id=channel_id, external_ids=external_ids)

    monkeypatch.setattr(contacts, "channel_contacts", looked_up)
    channel_id = (await factory.channel(kind="line", name="LINE")).id
    await ctx.commit()
    senders = [f"U{n}" for n in range(1, 7)]

    def batch(name: str, order: list[str]) -> list[inbound.Inbound]:
        return [
            inbound.Inbound(
                channel_id=channel_id,
                kind="line",
                sender=sender,
                message_id=f"{name}-{sender}",
                text=f"{sender} から",
                profile=inbound.Profile(f"{sender} さん", None),
            )
            for sender in order
        ]

    async def store(batch: list[inbound.Inbound]) -> list[Any]:
        async with database.write_sessions() as session:
            return await inbound.receive_many(
                Ctx(db=session, bus=RecordingBus(), settings=settings), batch
            )

    # Each contact row takes a while to write, so that the two statements overlap.
    async with database.engine.begin() as connection:
        for statement in SLOW_CONTACTS:
            await connection.execute(text(statement))
    try:
        first, second = await asyncio.gather(
            store(batch("a", senders)), store(batch("b", senders[::-1]))
        )
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER test_slow_contact ON contacts"))
            await connection.execute(text("DROP FUNCTION test_slow_contact()"))
    assert all(isinstance(one, conversations.Ingested) for one in first + second)
    # Each batch looked its senders up, and the one that waited looked again.
    assert looked == [set(senders)] * 3
    async with database.read_sessions() as session:
        people = list(await session.scalars(select(Contact.external_id)))
        stored = list(await session.scalars(select(Message.external_id)))
    assert sorted(people) == senders
    assert sorted(stored) == sorted(f"{name}-{sender}" for name in "ab" for sender in senders)


SLOW_CONTACTS = (
    "CREATE FUNCTION test_slow_contact() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$",
    "CREATE TRIGGER test_slow_contact BEFORE INSERT ON contacts "
    "FOR EACH ROW EXECUTE FUNCTION test_slow_contact()",
)
