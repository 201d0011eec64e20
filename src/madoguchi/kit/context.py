"""What a service function needs besides its arguments: the session, the event bus, the clock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.config import Settings
from madoguchi.events import Event, EventBus
from madoguchi.kit.db import utcnow


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit log (F40): a member (``member_id``), a rule or a form
    (by name), a channel, or the system itself (auto-close, the worker: ``name`` says which)."""

    kind: str
    name: str = ""
    member_id: int | None = None


SYSTEM = Actor(kind="system")


@dataclass
class Ctx:
    db: AsyncSession
    bus: EventBus
    settings: Settings
    clock: Callable[[], datetime] = field(default=utcnow)
    # Who the changes made with this context are made by: the signed-in member for a request
    # (members/dependencies.py), a rule while it runs (``acting``), else the system.
    actor: Actor = SYSTEM
    _depth: int = 0
    _pending: list[Event] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock()

    @contextlib.contextmanager
    def acting(self, actor: Actor) -> Iterator[None]:
        """Changes made inside are made by ``actor`` (a rule running, auto-close)."""
        kept, self.actor = self.actor, actor
        try:
            yield
        finally:
            self.actor = kept

    @property
    def dialect(self) -> str:
        bind = self.db.get_bind()
        return bind.dialect.name

    async def commit(self, *events: Event) -> None:
        """Commit, then publish: members only ever hear of what is stored.

        Inside ``atomic()`` this only flushes; the outermost block commits once.
        """
        if self._depth:
            await self.db.flush()
            self._pending.extend(events)
            return
        await self.db.commit()
        for event in events:
            await self.bus.publish(event)

    @contextlib.asynccontextmanager
    async def atomic(self) -> AsyncIterator[None]:
        """Several service calls as one transaction (an action's steps, a rule): all or nothing."""
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if not self._depth:
                self._pending.clear()
                await self.db.rollback()
            raise
        self._depth -= 1
        if not self._depth:
            events, self._pending = self._pending, []
            await self.commit(*events)

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Inside ``atomic()``: a part that may fail alone (one rule of several); its changes and
        the events it would publish are undone, the rest of the transaction goes on."""
        assert self._depth, "a savepoint belongs inside atomic()"
        kept = len(self._pending)
        try:
            async with self.db.begin_nested():
                yield
        except BaseException:
            del self._pending[kept:]
            raise
