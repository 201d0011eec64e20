"""Publish/subscribe for live events, with the recent ones kept for clients that reconnect.

In-process when there is no ``REDIS_URL``; Redis pub/sub when there is, so that several app
processes share one stream. Nothing outside this module knows which one is in use.

Each published event gets the next id of the workspace's stream (one counter, in Redis when
there is Redis) and is kept in a bounded buffer of recent events, so that a client that was
away can ask for what it missed (``backlog``) instead of reloading everything.

A Redis outage (a restart) costs live delivery for the outage only: what is committed meanwhile
stays committed (publishing fails quietly, and this process's own tabs still hear its events),
and once the stream is back every live connection of the process is closed, so that its client
reconnects and refreshes what it shows (a numbered client finds its cursor's backlog incomplete).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from madoguchi.config import Settings
from madoguchi.events.types import Event, UnknownEvent

log = logging.getLogger(__name__)

# A subscriber this far behind is dropped rather than letting memory grow; its client reconnects.
QUEUE_SIZE = 1000

# How many recent events are kept for clients that reconnect, and (with Redis) for how long
# after the last one: a client away longer reloads instead (docs/api.md).
BACKLOG_SIZE = 1000
BACKLOG_SECONDS = 24 * 3600

# A live tab's presence in Redis lapses this long after its process last renewed it.
PRESENCE_SECONDS = 60.0

# How long the reader waits before subscribing again after losing the Redis stream.
RECONNECT_SECONDS = 1.0


class BusUnavailable(Exception):
    """The shared stream cannot be read now (Redis is down): a client asks again later."""


def _stream_start() -> int:
    """Where a new stream's ids start: the time in microseconds, above any id an earlier stream
    (before a restart) can have reached, so that a cursor from it reads as lost, not as a place
    in this one. Below 2**53: a JavaScript number holds it."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Backlog:
    """The events after a client's cursor, read at one instant.

    ``last_id`` is the newest event's id then (before the first: where the stream starts, or 0
    with Redis); ``complete`` is False when
    some events after the cursor are no longer kept, or the cursor is from another stream (a
    restarted process, an emptied Redis): the client must reload what it shows.
    """

    last_id: int
    events: list[Event]
    complete: bool


def _backlog(since: int | None, last_id: int, kept: list[Event]) -> Backlog:
    """``kept``: the buffer, oldest first, contiguous up to ``last_id``; ``since`` None: from
    now on (nothing to catch up)."""
    if since is None:
        return Backlog(last_id=last_id, events=[], complete=True)
    if since > last_id:
        return Backlog(last_id=last_id, events=[], complete=False)
    after = [event for event in kept if event.id is not None and event.id > since]
    oldest = kept[0].id if kept else None
    complete = since == last_id or (oldest is not None and oldest <= since + 1)
    return Backlog(last_id=last_id, events=after if complete else [], complete=complete)


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

    async def backlog(self, since: int | None) -> Backlog:
        """The kept events after ``since`` (an event id; None: just the newest id)."""
        ...

    def present(self, member_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        """While inside, the member has a live tab (an open ``/ws``): Web Push waits."""
        ...

    async def is_present(self, member_id: int) -> bool:
        """Whether the member has a live tab in any process sharing this bus."""
        ...


class _LocalFanout:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        # This process's live tabs, per member.
        self._present: Counter[int] = Counter()

    @contextlib.asynccontextmanager
    async def _here(self, member_id: int) -> AsyncIterator[None]:
        self._present[member_id] += 1
        try:
            yield
        finally:
            self._present[member_id] -= 1
            if self._present[member_id] <= 0:
                del self._present[member_id]

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
    """Events stay inside this process; so do their ids and the recent ones."""

    def __init__(self, backlog_size: int = BACKLOG_SIZE) -> None:
        super().__init__()
        self._last_id = _stream_start()
        self._recent: deque[Event] = deque(maxlen=backlog_size)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self.close_all()

    async def publish(self, event: Event) -> None:
        # No await between numbering, keeping and fanning out: subscribers get ids in order.
        self._last_id += 1
        numbered = dataclasses.replace(event, id=self._last_id)
        self._recent.append(numbered)
        self.fan_out(numbered)

    async def backlog(self, since: int | None) -> Backlog:
        return _backlog(since, self._last_id, list(self._recent))

    def present(self, member_id: int) -> contextlib.AbstractAsyncContextManager[None]:
        # Without Redis there is one process (its events reach no other): counted here.
        return self._here(member_id)

    async def is_present(self, member_id: int) -> bool:
        return self._present[member_id] > 0


# Numbers the event, keeps it and publishes it in one step, so that every process hears the
# events in the order of their ids and a reader of the buffer never sees a gap.
# KEYS: the counter, the buffer; ARGV: the event's wire form, the channel, the cap, the TTL,
# where a new stream starts.
_PUBLISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SET', KEYS[1], ARGV[5])
end
local id = redis.call('INCR', KEYS[1])
-- Lua numbers are doubles: written as %d, not in the exponent form of ``..``.
local wire = '{"id": ' .. string.format('%d', id) .. ', ' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], wire)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[2], wire)
return id
"""


class RedisBus(_LocalFanout):
    """Events go through one Redis channel; each process fans them out to its own subscribers.
    The counter and the recent events are in Redis too, shared by every process."""

    def __init__(self, url: str, prefix: str, backlog_size: int = BACKLOG_SIZE) -> None:
        super().__init__()
        import redis.asyncio as redis
        from redis.exceptions import RedisError

        self._errors: tuple[type[Exception], ...] = (RedisError, OSError)
        self._redis = redis.from_url(url)
        self._channel = f"{prefix}:events"
        self._counter = f"{prefix}:events:last_id"
        self._recent = f"{prefix}:events:recent"
        self._presence = f"{prefix}:present"
        self._backlog_size = backlog_size
        self._publish = self._redis.register_script(_PUBLISH)
        self._reader: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def _read(self) -> None:
        lost = False
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                self._ready.set()
                if lost:
                    # Events published meanwhile never reached this process: its connections
                    # close, and each client reconnects and refreshes what it shows.
                    log.warning("the Redis event stream is back; live connections reconnect")
                    self.close_all()
                    lost = False
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        event = _parse(message["data"])
                        if event is not None:
                            self.fan_out(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                if not lost:
                    log.warning("lost the Redis event stream; reconnecting", exc_info=True)
                lost = True
                await asyncio.sleep(RECONNECT_SECONDS)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.close_all()
        await self._redis.aclose()

    async def publish(self, event: Event) -> None:
        """Numbered and shared through Redis; while Redis is down, only this process's own
        tabs hear it (unnumbered): what was committed stays committed, and the request that
        committed it does not fail."""
        try:
            await self._publish(
                keys=[self._counter, self._recent],
                args=[
                    event.to_wire(),
                    self._channel,
                    self._backlog_size,
                    BACKLOG_SECONDS,
                    _stream_start(),
                ],
            )
        except self._errors:
            log.warning("could not publish a live event to Redis: %s", event.type, exc_info=True)
            self.fan_out(event)

    async def backlog(self, since: int | None) -> Backlog:
        try:
            if since is None:
                return _backlog(None, int(await self._redis.get(self._counter) or 0), [])
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.get(self._counter)
                pipe.lrange(self._recent, 0, -1)
                last_id, kept = await pipe.execute()
        except self._errors as error:
            raise BusUnavailable(str(error)) from error
        events = [event for event in map(_parse, kept) if event is not None]
        return _backlog(since, int(last_id or 0), events)

    @contextlib.asynccontextmanager
    async def present(self, member_id: int) -> AsyncIterator[None]:
        """Each live tab is a member of the member's sorted set, scored with the moment it
        lapses; kept fresh while open, so a process that dies leaves no tab behind for long."""
        key = f"{self._presence}:{member_id}"
        tab = secrets.token_hex(8)

        async def mark() -> None:
            await self._redis.zadd(key, {tab: time.time() + PRESENCE_SECONDS})
            await self._redis.expire(key, int(PRESENCE_SECONDS) + 1)

        async def keep() -> None:
            while True:
                await asyncio.sleep(PRESENCE_SECONDS / 3)
                try:
                    await mark()
                except Exception:
                    log.warning("could not refresh a live tab's presence in Redis", exc_info=True)

        async with self._here(member_id):
            try:
                await mark()
            except self._errors:
                # Redis is down: the tab counts in this process; the keeper marks it later.
                log.warning("could not mark a live tab's presence in Redis", exc_info=True)
            keeper = asyncio.create_task(keep())
            try:
                yield
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper
                with contextlib.suppress(Exception):
                    await self._redis.zrem(key, tab)

    async def is_present(self, member_id: int) -> bool:
        if self._present[member_id] > 0:
            return True
        try:
            live = await self._redis.zcount(f"{self._presence}:{member_id}", time.time(), "+inf")
        except self._errors:
            return False  # a push too many, rather than none while Redis is down
        return int(live) > 0


def _parse(raw: str | bytes) -> Event | None:
    try:
        return Event.from_wire(raw)
    except UnknownEvent as unknown:
        # A newer process's type, during an upgrade: this process's clients would not know it.
        log.warning("skipping a live event of an unknown type: %s", unknown)
        return None


def create_bus(settings: Settings) -> EventBus:
    if settings.redis_url:
        return RedisBus(settings.redis_url, settings.redis_prefix)
    return InProcessBus()
