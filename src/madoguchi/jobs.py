"""The worker loop: time-based work is rows in the database, claimed in transactions, so a
restart loses nothing and two processes never do the same thing twice (snooze wake-ups,
scheduled messages, deliveries through the outbox, auto-close, broadcasts, what rules and
step sequences start on)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from madoguchi.automation import autoclose, runner
from madoguchi.broadcasts import sending as broadcasts
from madoguchi.broadcasts import steps
from madoguchi.channels import outbox
from madoguchi.channels.base import Adapter
from madoguchi.config import Settings
from madoguchi.connectors import webhooks
from madoguchi.connectors.adapters import ADAPTERS, BODY_STORERS
from madoguchi.conversations import scheduled, workflow
from madoguchi.events import EventBus
from madoguchi.events.types import (
    ContactCreated,
    ContactUpdated,
    MessageCreated,
    NotificationCreated,
    TagAdded,
)
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database, utcnow
from madoguchi.notifications import push

log = logging.getLogger(__name__)
# Rules and step sequences run on what was committed at most this often (seconds) under a
# stream of messages: each run is a transaction or two, and one per message beside the intake's
# batches cost ingest a tenth of its rate (issue 14). Alone, a message is acted on at once.
AUTOMATE_AT_MOST_EVERY = 0.1
ANALYZE_EVERY = 6 * 3600.0
SWEEP_EVERY = 3600.0


@dataclass(frozen=True)
class TickResult:
    woke: int
    sent: int
    delivered: int = 0
    closed: int = 0
    broadcast: int = 0
    automated: int = 0
    # Step sequences' steps handled (sent, failed or stopped).
    stepped: int = 0
    # Web Push notifications a push service took.
    pushed: int = 0
    # Webhook bodies kept but left unstored by a stopped process, stored now.
    webhook_bodies: int = 0


def default_adapters() -> dict[str, Adapter]:
    """The outbound adapter of each kind that has one (the others' replies are sent once stored)."""
    return {kind: make() for kind, make in ADAPTERS.items()}


class Worker:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        bus: EventBus,
        clock: Callable[[], datetime] = utcnow,
        adapters: dict[str, Adapter] | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.bus = bus
        self.clock = clock
        self.adapters = default_adapters() if adapters is None else adapters

    @contextlib.asynccontextmanager
    async def ctx(self) -> AsyncIterator[Ctx]:
        async with self.database.write_sessions() as session:
            yield Ctx(db=session, bus=self.bus, settings=self.settings, clock=self.clock)

    async def _step(self, work: Callable[[Ctx], Awaitable[int]]) -> int:
        async with self.ctx() as ctx:
            return await work(ctx)

    async def tick(self, now: datetime | None = None) -> TickResult:
        """Do everything due at ``now`` (the clock's time by default)."""
        moment = now or self.clock()
        # Customers' messages a stopped process acknowledged but did not store, before anything
        # that may answer them.
        webhook_bodies = await webhooks.store_left(self.ctx, BODY_STORERS, now=moment)
        # First, so that what rules send goes out with this tick's deliveries.
        automated = await runner.run_due(self.ctx)
        woke = await self._step(lambda ctx: workflow.wake_due(ctx, now=moment))
        sent = await self._step(lambda ctx: scheduled.send_due(ctx, now=moment))
        delivered = await outbox.deliver_due(self.ctx, self.adapters, now=moment, clock=self.clock)
        closed = await self._step(lambda ctx: autoclose.close_idle(ctx, now=moment))
        await self._step(lambda ctx: broadcasts.fire_due(ctx, now=moment))
        broadcast = await broadcasts.send_due(self.ctx, now=moment, clock=self.clock)
        stepped = await steps.send_due(self.ctx, now=moment)
        # What a broadcast or a step handed to the outbox (not LINE multicasts) goes now.
        delivered += await outbox.deliver_due(
            self.ctx, self.adapters, now=max(moment, self.clock()), clock=self.clock
        )
        pushed = await push.send_due(self.ctx, now=max(moment, self.clock()))
        return TickResult(
            woke=woke,
            sent=sent,
            delivered=delivered,
            closed=closed,
            broadcast=broadcast,
            automated=automated,
            stepped=stepped,
            pushed=pushed,
            webhook_bodies=webhook_bodies,
        )

    async def _listen(self, stop: asyncio.Event, nudge: asyncio.Event) -> None:
        """Wake the loop when something a rule may start on was committed (a customer's
        message, a tag, a record, a form's answer), so rules act in a moment, not a tick. A
        subscription dropped by the bus is taken again; the ticks go on meanwhile."""
        while not stop.is_set():
            try:
                async with self.bus.subscribe() as subscription:
                    async for event in subscription:
                        if isinstance(
                            event, MessageCreated | TagAdded | ContactUpdated | ContactCreated
                        ):
                            nudge.set()
                        elif isinstance(event, NotificationCreated):
                            nudge.set()  # its push goes now, not at the next tick
            except Exception:
                log.exception("the worker's live-event subscription failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    async def _automate_when_nudged(self, stop: asyncio.Event, nudge: asyncio.Event) -> None:
        began = -AUTOMATE_AT_MOST_EVERY
        while True:
            await nudge.wait()
            # A nudge after a quiet spell runs at once; a stream of them (a message every few
            # milliseconds) at most every AUTOMATE_AT_MOST_EVERY: the triggers wait in their
            # table meanwhile and are taken together.
            pause = began + AUTOMATE_AT_MOST_EVERY - time.monotonic()
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
            nudge.clear()
            if stop.is_set():
                return
            began = time.monotonic()
            try:
                await push.send_due(self.ctx, now=self.clock())
                if await runner.run_due(self.ctx):
                    # A step sequence's first step without a delay goes now too.
                    await steps.send_due(self.ctx, now=self.clock())
                    await outbox.deliver_due(
                        self.ctx, self.adapters, now=self.clock(), clock=self.clock
                    )
            except Exception:
                log.exception("automation failed; the next tick tries again")

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a failing tick is logged and tried again. The planner's
        statistics are refreshed every few hours, and unused uploads swept every hour."""
        nudge = asyncio.Event()
        listening = asyncio.create_task(self._listen(stop, nudge))
        automating = asyncio.create_task(self._automate_when_nudged(stop, nudge))
        try:
            await self._loop(stop)
        finally:
            # The listener holds no transaction and may be cancelled anywhere. The automation
            # is asked to finish what it is doing instead: a task cancelled inside a write
            # transaction can leave its connection checked out, and on SQLite the lock held.
            listening.cancel()
            stop.set()
            nudge.set()
            await asyncio.gather(listening, automating, return_exceptions=True)

    async def _loop(self, stop: asyncio.Event) -> None:
        analyzed = time.monotonic()  # the process's start analyzed (kit.db.Database.analyze)
        swept = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - analyzed > ANALYZE_EVERY:
                    analyzed = time.monotonic()
                    await self.database.analyze()
                if time.monotonic() - swept > SWEEP_EVERY:
                    swept = time.monotonic()
                    await self._step(lambda ctx: files.sweep_unused(ctx, now=self.clock()))
                await self.tick()
            except Exception:
                log.exception("the worker's tick failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.worker_interval)
