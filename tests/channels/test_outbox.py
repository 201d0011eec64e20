"""The outbox's guarantees, whatever the channel: a reply is sent once even when a tick runs
long and another worker ticks meanwhile; an adapter that fails in a way nobody expected, or
never answers, still has its attempt recorded and retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from madoguchi.channels import outbox
from madoguchi.channels.base import Adapter, DeliveryError, Outgoing
from madoguchi.channels.models import Channel, OutboxEntry, OutboxState
from madoguchi.config import Settings
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Delivery, Message
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.fixtures import Factory


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def nothing() -> None:
    return None


class RecordingAdapter:
    """Stands in for a channel's API: records each send, then runs ``during`` (the test's way
    of making a send take time, or of letting another worker tick meanwhile)."""

    def __init__(
        self, name: str, sent: list[tuple[str, int]], during: Callable[[], Awaitable[None]]
    ) -> None:
        self.name = name
        self.sent = sent
        self.during = during

    async def send(self, outgoing: Outgoing) -> str | None:
        self.sent.append((self.name, outgoing.message.id))
        await self.during()
        return None


async def replies(ctx: Ctx, factory: Factory, count: int) -> list[int]:
    channel: Channel = await factory.channel(kind="line", name="LINE")
    ids = []
    for n in range(count):
        ingested = await factory.inbound(channel, contact=f"U{n}", external_id=f"in-{n}")
        message = await conversations.send_message(
            ctx,
            conversation_id=ingested.conversation.id,
            member=None,
            text=f"ご返信 {n}",
            kind="reply",
        )
        assert message.delivery == Delivery.pending
        ids.append(message.id)
    await ctx.db.rollback()
    return ids


async def entries(database: Database) -> list[OutboxEntry]:
    async with database.read_sessions() as session:
        return list(await session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


async def test_a_long_tick_keeps_its_claims_and_another_worker_sends_nothing_twice(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    first, second = await replies(ctx, factory, 2)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    sent: list[tuple[str, int]] = []
    other_ticks: list[int] = []

    async def other_worker_ticks() -> None:
        adapter = RecordingAdapter("B", sent, nothing)
        worker = Worker(
            settings=settings,
            database=database,
            bus=InProcessBus(),
            clock=clock,
            adapters={"line": adapter},
        )
        other_ticks.append((await worker.tick()).delivered)

    async def slow_send() -> None:
        # Each send of worker A takes three minutes; during the second, worker B ticks.
        clock.at += timedelta(minutes=3)
        if len(sent) == 2:
            await other_worker_ticks()

    worker = Worker(
        settings=settings,
        database=database,
        bus=InProcessBus(),
        clock=clock,
        adapters={"line": RecordingAdapter("A", sent, slow_send)},
    )
    assert (await worker.tick()).delivered == 2
    # The second reply was claimed three minutes into A's tick; its lease runs from then, so
    # B, six minutes in, leaves it alone.
    assert sent == [("A", first), ("A", second)]
    assert other_ticks == [0]
    assert [e.state for e in await entries(database)] == [OutboxState.sent, OutboxState.sent]


async def test_a_claim_that_ran_out_is_not_recorded_over_the_new_one(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    [reply] = await replies(ctx, factory, 1)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    sent: list[tuple[str, int]] = []

    async def lost_lease() -> None:
        # A send that (somehow) outlived its lease: B claims the entry and sends it too.
        if len(sent) == 1:
            clock.at += outbox.LEASE + timedelta(seconds=1)
            b = Worker(
                settings=settings,
                database=database,
                bus=InProcessBus(),
                clock=clock,
                adapters={"line": RecordingAdapter("B", sent, failing)},
            )
            await b.tick()

    async def failing() -> None:
        raise DeliveryError("B's attempt failed", retryable=True)

    a = Worker(
        settings=settings,
        database=database,
        bus=InProcessBus(),
        clock=clock,
        adapters={"line": RecordingAdapter("A", sent, lost_lease)},
    )
    await a.tick()
    assert sent == [("A", reply), ("B", reply)]
    # A's success came back after B's claim: B's record stands (attempt 2, to be retried).
    [entry] = await entries(database)
    assert entry.attempts == 2 and entry.state == OutboxState.pending
    assert entry.last_error == "B's attempt failed"


async def test_an_unexpected_adapter_error_is_recorded_and_retried(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    [reply] = await replies(ctx, factory, 1)
    clock = Clock(datetime.now(UTC) + timedelta(seconds=1))
    sent: list[tuple[str, int]] = []

    async def strange_answer() -> None:
        raise ValueError("Expecting value: line 1 column 1 (char 0)")

    worker = Worker(
        settings=settings,
        database=database,
        bus=InProcessBus(),
        clock=clock,
        adapters={"line": RecordingAdapter("A", sent, strange_answer)},
    )
    assert (await worker.tick()).delivered == 0
    [entry] = await entries(database)
    assert entry.state == OutboxState.pending and entry.attempts == 1
    assert entry.last_error is not None and "ValueError" in entry.last_error
    assert entry.next_attempt_at > clock.at and entry.locked_until is None
    # Not claimed again before its backoff, then tried again.
    assert (await worker.tick()).delivered == 0 and len(sent) == 1
    clock.at += timedelta(seconds=outbox.BACKOFF[0])
    await worker.tick()
    assert sent == [("A", reply), ("A", reply)]


async def test_a_send_that_never_answers_is_cut_off_inside_its_lease(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await replies(ctx, factory, 1)
    monkeypatch.setattr(outbox, "SEND_LIMIT", 0.2)
    sent: list[tuple[str, int]] = []

    async def hang() -> None:
        await asyncio.sleep(30)

    adapter: Adapter = RecordingAdapter("A", sent, hang)
    worker = Worker(
        settings=settings, database=database, bus=InProcessBus(), adapters={"line": adapter}
    )
    assert (await worker.tick()).delivered == 0
    [entry] = await entries(database)
    assert entry.state == OutboxState.pending and entry.locked_until is None
    assert entry.last_error == "The channel did not answer in time."
    async with database.read_sessions() as session:
        message = await session.get(Message, entry.message_id)
    assert message is not None and message.delivery == Delivery.pending
