"""The worker loop: time-based work is rows in the database, claimed in transactions, so a
restart loses nothing and two processes never do the same thing twice (snooze wake-ups,
scheduled messages; later broadcasts and outbound retries)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from madoguchi.config import Settings
from madoguchi.conversations import scheduled, workflow
from madoguchi.events import EventBus
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database, utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TickResult:
    woke: int
    sent: int


class Worker:
    def __init__(
        self,
        *,
        settings: Settings,
        database: Database,
        bus: EventBus,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.database = database
        self.bus = bus
        self.clock = clock

    @contextlib.asynccontextmanager
    async def _ctx(self) -> AsyncIterator[Ctx]:
        async with self.database.write_sessions() as session:
            yield Ctx(db=session, bus=self.bus, settings=self.settings, clock=self.clock)

    async def _step(self, work: Callable[[Ctx], Awaitable[int]]) -> int:
        async with self._ctx() as ctx:
            return await work(ctx)

    async def tick(self, now: datetime | None = None) -> TickResult:
        """Do everything due at ``now`` (the clock's time by default)."""
        moment = now or self.clock()
        woke = await self._step(lambda ctx: workflow.wake_due(ctx, now=moment))
        sent = await self._step(lambda ctx: scheduled.send_due(ctx, now=moment))
        return TickResult(woke=woke, sent=sent)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set; a failing tick is logged and tried again."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:
                log.exception("the worker's tick failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.worker_interval)
