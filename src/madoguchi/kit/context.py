"""What a service function needs besides its arguments: the session, the event bus, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.config import Settings
from madoguchi.events import Event, EventBus
from madoguchi.kit.db import utcnow


@dataclass
class Ctx:
    db: AsyncSession
    bus: EventBus
    settings: Settings
    clock: Callable[[], datetime] = field(default=utcnow)

    def now(self) -> datetime:
        return self.clock()

    @property
    def dialect(self) -> str:
        bind = self.db.get_bind()
        return bind.dialect.name

    async def commit(self, *events: Event) -> None:
        """Commit, then publish: members only ever hear of what is stored."""
        await self.db.commit()
        for event in events:
            await self.bus.publish(event)
