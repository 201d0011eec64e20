"""Publish/subscribe for live events.

In-process when there is no ``REDIS_URL``; Redis pub/sub when there is, so that several app
processes share one stream. Nothing outside this module knows which one is in use.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from madoguchi.config import Settings

log = logging.getLogger(__name__)

# A subscriber this far behind is dropped rather than letting memory grow; its client reconnects.
QUEUE_SIZE = 1000

# The events about one member's own state: only that member hears them. Every other event is the
# workspace's and every member hears it, whatever ids its data names (``member.created`` names
# the new member).
PRIVATE_TYPES = frozenset(
    {
        "conversation.read_state",  # your read state of a conversation
        "notification.created",  # your notifications
        "notifications.read",
        "member.updated",  # your settings, name or role changed: the page re-reads its own
        "member.signed_out",  # your sessions end (deactivated, password reset, token revoked)
        "token.created",  # your API tokens
        "token.revoked",
    }
)


@dataclass(frozen=True)
class Event:
    """``type`` names what happened (``message.created`` …); ``data`` holds the ids it concerns.

    ``member_id`` is the one member a private event (``PRIVATE_TYPES``) is for, and None for
    the workspace's events; it is never read from ``data``.
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    member_id: int | None = None

    def __post_init__(self) -> None:
        if (self.type in PRIVATE_TYPES) != (self.member_id is not None):
            raise ValueError(
                f"{self.type} is "
                + ("for one member: say which" if self.type in PRIVATE_TYPES else "for everyone")
            )

    def visible_to(self, member_id: int) -> bool:
        """Whether this member hears it: the one place that decides, whichever bus carried it."""
        return self.member_id is None or self.member_id == member_id

    def to_json(self) -> str:
        """The frame a member's WebSocket gets (docs/api.md: the data's ids at the top level)."""
        return json.dumps(
            {"type": self.type, "member_id": self.member_id, **self.data}, ensure_ascii=False
        )

    def to_wire(self) -> str:
        """The event between processes, its addressee apart from its data, so that it arrives
        as it was published (in a client frame, a data ``member_id`` would take its place)."""
        return json.dumps(
            {"type": self.type, "member_id": self.member_id, "data": self.data},
            ensure_ascii=False,
        )

    @classmethod
    def from_wire(cls, raw: str | bytes) -> Event:
        payload = json.loads(raw)
        return cls(type=payload["type"], data=payload["data"], member_id=payload["member_id"])


class Subscription:
    """Events delivered to one subscriber, in order."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.closed = False

    def deliver(self, event: Event) -> None:
        if self.closed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            log.warning("dropping a live-event subscriber that fell %d events behind", QUEUE_SIZE)
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event


class EventBus(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, event: Event) -> None: ...

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]: ...


class _LocalFanout:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def fan_out(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            subscription.deliver(event)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)
            subscription.close()

    def close_all(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.close()


class InProcessBus(_LocalFanout):
    """Events stay inside this process."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.close_all()

    async def publish(self, event: Event) -> None:
        self.fan_out(event)


class RedisBus(_LocalFanout):
    """Events go through one Redis channel; each process fans them out to its own subscribers."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__()
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self._channel = f"{prefix}:events"
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _read(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.fan_out(Event.from_wire(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("lost the Redis event stream; reconnecting")
                await asyncio.sleep(1)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.close_all()
        await self._redis.aclose()

    async def publish(self, event: Event) -> None:
        await self._redis.publish(self._channel, event.to_wire())


def create_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        return RedisBus(settings.redis_url, settings.redis_prefix)
    return InProcessBus()
