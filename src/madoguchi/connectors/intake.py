"""Messages of concurrent requests stored together (group commit).

A request that waits on its answer (the API channel) hands its checked ``Inbound`` to the
process's ``Intake`` and waits. One writer task takes everything that has queued meanwhile,
stores it with ``inbound.receive_many`` (the one way in: each step once for the whole batch, one
transaction, one commit) and only then answers each request: an acknowledged message is
committed, and a refused one (its 4xx) costs the others nothing. The batch is whatever arrived
while the one before was being stored, so one client alone is answered as soon as its message
is stored, and many share the transaction's cost (issue 14: with one transaction per message,
eight clients got no more through than one).

The clients a batch answered come back at once with their next message, one after another. Had
the writer taken whatever was there, eight clients' messages went in batches of seven and one
(each batch costs a transaction and its reads, ~2.5 ms, whatever it holds), and the batch of one
was mostly what the others found waiting. So after a batch of n, the writer waits up to
``LINGER`` for n messages before storing fewer, and only while that batch is recent: one client
alone is never kept waiting (its last batch held one), and a client gone costs one wait.

A request's API token is checked by the writer too, with the batch's (``TokenCaller``): once
for all the requests that carry it, in the batch's transaction, so that such a request opens no
session of its own. The web chat's requests do open one, and only read (``kit.web.reads_only``):
on SQLite a request holding the write lock while it waits on the writer would wait for itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from madoguchi.config import Settings
from madoguchi.connectors import inbound
from madoguchi.conversations.service import Ingested
from madoguchi.events import EventBus
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.direct import direct_writes
from madoguchi.kit.errors import DomainError
from madoguchi.members.dependencies import TokenCaller

log = logging.getLogger(__name__)

# The most messages one transaction takes; more waiting go in the next.
MOST = 64
# After a batch of n, how long the writer waits for n messages before storing fewer (seconds);
# and for how long after a batch its size still says how many clients are writing.
LINGER = 0.004
RECENT = 0.1


@dataclass
class _Waiting:
    message: inbound.Inbound
    answer: asyncio.Future[Ingested]
    # The request's API token, checked before its message is stored (None: checked already).
    caller: TokenCaller | None = None


@dataclass
class Intake:
    """The process's writer of waited-on inbound messages (see the module)."""

    database: Database
    bus: EventBus
    settings: Settings
    most: int = MOST
    linger: float = LINGER
    recent: float = RECENT
    _queue: list[_Waiting] = field(default_factory=list)
    _writer: asyncio.Task[None] | None = None
    # The last batch's size and when it was stored; while the writer waits for that many, the
    # future it waits on (settled by the message that makes them, or by the timer).
    _last: int = 0
    _last_at: float = 0.0
    _gathered: asyncio.Future[None] | None = None
    # The transactions that stored messages, and how many they stored.
    transactions: int = 0
    stored: int = 0

    async def receive(
        self, message: inbound.Inbound, *, caller: TokenCaller | None = None
    ) -> Ingested:
        """``inbound.receive`` for this message, stored with whatever else is waiting: answered
        once committed, or its refusal raised (``caller``'s first: a token that admits no one)."""
        answer: asyncio.Future[Ingested] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(message, answer, caller))
        if self._gathered is not None and len(self._queue) >= self._wanted():
            _settle(self._gathered)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="intake")
        # The request may be given up (its client gone): the message is stored all the same.
        return await asyncio.shield(answer)

    async def close(self) -> None:
        """Store what is waiting, then stop (the process is shutting down)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write(self) -> None:
        while self._queue:
            await self._gather()
            batch, self._queue = self._queue[: self.most], self._queue[self.most :]
            await self._store(batch)
            self._last, self._last_at = len(batch), asyncio.get_running_loop().time()

    def _wanted(self) -> int:
        """How many messages the next batch waits for: as many as a recent batch held."""
        recent = asyncio.get_running_loop().time() - self._last_at <= self.recent
        return min(self._last, self.most) if recent else 1

    async def _gather(self) -> None:
        """Wait up to ``linger`` for the messages the next batch waits for, unless they are
        here (see the module)."""
        if self.linger <= 0 or len(self._queue) >= self._wanted():
            return
        loop = asyncio.get_running_loop()
        gathered = self._gathered = loop.create_future()
        timer = loop.call_later(self.linger, _settle, gathered)
        try:
            await gathered
        finally:
            timer.cancel()
            self._gathered = None

    async def _store(self, batch: Sequence[_Waiting]) -> None:
        try:
            async with self.database.write_sessions() as session, direct_writes(session):
                # A batch's statements are small (a few rows each, at most MOST messages): they
                # run straight through the driver (kit.direct), on SQLite on the loop rather than
                # in the connection's thread.
                ctx = Ctx(db=session, bus=self.bus, settings=self.settings)
                refused = await _callers_refused(ctx, batch)
                admitted = [w for w in batch if id(w) not in refused]
                stored = await inbound.receive_many(ctx, [w.message for w in admitted])
                if session.in_transaction():
                    # Nothing new was stored, but a token's use was noted (SQLite: in here).
                    await session.commit()
        except Exception as error:
            if len(batch) > 1:
                # What failed the batch (a deadlock with another process, say) fails it alone.
                log.warning(
                    "inbound batch of %d failed (%s): storing each alone", len(batch), error
                )
                for waiting in batch:
                    await self._store([waiting])
                return
            _answer(batch[0].answer, error)
            return
        self.transactions += 1
        self.stored += len(admitted)
        for waiting, result in zip(admitted, stored, strict=True):
            _answer(waiting.answer, result)
        for waiting in batch:
            if id(waiting) in refused:
                _answer(waiting.answer, refused[id(waiting)])


async def _callers_refused(ctx: Ctx, batch: Sequence[_Waiting]) -> dict[int, Exception]:
    """The waiting requests whose token admits no one (by ``id``), with their refusal; each
    token is looked up once."""
    checked: dict[TokenCaller, Exception | None] = {}
    refused: dict[int, Exception] = {}
    for waiting in batch:
        caller = waiting.caller
        if caller is None:
            continue
        if caller not in checked:
            try:
                await caller.check(ctx.db)
                checked[caller] = None
            except (HTTPException, DomainError) as error:
                checked[caller] = error
        refusal = checked[caller]
        if refusal is not None:
            refused[id(waiting)] = refusal
    return refused


def _settle(waited: asyncio.Future[None]) -> None:
    if not waited.done():
        waited.set_result(None)


def _answer(answer: asyncio.Future[Ingested], result: Ingested | BaseException) -> None:
    if answer.done():
        return
    if isinstance(result, BaseException):
        answer.set_exception(result)
    else:
        answer.set_result(result)


def intake_of(connection: HTTPConnection) -> Intake:
    """The serving process's intake (made with the app's runtime)."""
    intake: Intake = connection.app.state.intake
    return intake
