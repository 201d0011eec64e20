"""Several `madoguchi serve` processes on one PostgreSQL with Redis: a member connected to either
process sees every event, the worker loop running in each does no timed job twice, and a Redis
restart costs live delivery only for the outage."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from madoguchi.config import Settings
from madoguchi.conversations import scheduled
from madoguchi.conversations.models import Message, ScheduledMessage
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.conftest import _free_port
from tests.fixtures import Factory, auth
from tests.test_durability import spawn_server, start_server, wait_started
from tests.test_live import next_event


def needs_services(settings: Settings) -> None:
    if not (settings.database_url and settings.redis_url):
        pytest.skip("several processes need PostgreSQL and Redis (the services leg)")


@contextlib.contextmanager
def running_servers(settings: Settings, count: int = 2) -> Iterator[list[str]]:
    """Server processes sharing the test's database and Redis, each with its worker loop."""
    shared = {
        "REDIS_URL": str(settings.redis_url),
        "MADOGUCHI_REDIS_PREFIX": settings.redis_prefix,
        "MADOGUCHI_WORKER_INTERVAL": "0.2",
    }
    ports = [_free_port() for _ in range(count)]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        # Started side by side, then waited for: each takes a while on a loaded machine.
        processes = [spawn_server(settings, port, **shared) for port in ports]
        for process, port in zip(processes, ports, strict=True):
            wait_started(process, port)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            if process.poll() is None:
                process.kill()


@pytest.fixture
def two_servers(settings: Settings, database: Database) -> Iterator[list[str]]:
    needs_services(settings)
    with running_servers(settings) as urls:
        yield urls


async def test_an_event_made_on_one_process_reaches_a_member_on_the_other(
    two_servers: list[str], factory: Factory, ctx: Ctx
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    channel = await factory.channel()
    await ctx.db.commit()
    for sender, listener in ((0, 1), (1, 0)):
        url = two_servers[listener].replace("http://", "ws://") + "/ws"
        async with (
            websockets.connect(url, additional_headers=auth(token)) as connection,
            httpx.AsyncClient(base_url=two_servers[sender], headers=auth(token)) as http,
        ):
            assert (await next_event(connection))["type"] == "ready"
            posted = await http.post(
                f"/api/v1/channels/{channel.id}/inbound",
                json={
                    "contact": {"external_id": f"u{sender}", "name": "高橋"},
                    "external_id": f"e{sender}",
                    "text": f"プロセス{sender}から",
                },
            )
            assert posted.status_code == 201, posted.text
            created = await next_event(connection)
            assert created["type"] == "message.created"
            assert created["message_id"] == posted.json()["id"]


async def test_two_processes_send_each_scheduled_message_once(
    settings: Settings, database: Database, factory: Factory, ctx: Ctx
) -> None:
    needs_services(settings)
    channel = await factory.channel()
    due = datetime.now(UTC) + timedelta(seconds=3)
    for n in range(10):
        ingested = await factory.inbound(channel, contact=f"c{n}")
        for k in range(2):
            await scheduled.schedule(
                ctx,
                contact_id=ingested.conversation.contact_id,
                text=f"ご案内 {n}-{k}",
                at=due,
                author=None,
            )
    await ctx.db.commit()
    # Both processes' workers are running when the messages fall due.
    with running_servers(settings):
        replies = 0
        for _ in range(300):
            async with database.read_sessions() as session:
                replies = (
                    await session.scalar(select(func.count()).where(Message.kind == "reply")) or 0
                )
                waiting = await session.scalar(
                    select(func.count())
                    .select_from(ScheduledMessage)
                    .where(ScheduledMessage.message_id.is_(None))
                )
            if replies >= 20 and not waiting:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # a second sending, were there one, would have shown by now
        async with database.read_sessions() as session:
            replies = await session.scalar(select(func.count()).where(Message.kind == "reply"))
    assert replies == 20


class RedisOutage:
    """A TCP relay in front of the real Redis, stopped and started again on the same port: to
    the app, Redis going away (every connection cut, new ones refused) and coming back."""

    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.port = _free_port()
        self.url = urlunsplit(parts._replace(netloc=f"127.0.0.1:{self.port}"))
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.links):
            writer.transport.abort()
        self.links.clear()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.links |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        self.links -= {writer, upstream_writer}


async def test_a_redis_restart_costs_live_delivery_only_for_the_outage(
    settings: Settings, database: Database, factory: Factory, ctx: Ctx
) -> None:
    needs_services(settings)
    member = await factory.member()
    token = await factory.token(member)
    channel = await factory.channel()
    await ctx.db.commit()
    outage = RedisOutage(str(settings.redis_url))
    await outage.start()
    port = _free_port()
    # Started from a thread: the relay runs on this loop while the server connects through it.
    server = await asyncio.to_thread(
        start_server,
        settings,
        port,
        REDIS_URL=outage.url,
        MADOGUCHI_REDIS_PREFIX=f"{settings.redis_prefix}:outage",
    )
    base, ws_url = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws"

    async def post(http: httpx.AsyncClient, n: int) -> int:
        posted = await http.post(
            f"/api/v1/channels/{channel.id}/inbound",
            json={"contact": {"external_id": "u1"}, "external_id": f"e{n}", "text": f"{n}通目"},
        )
        assert posted.status_code == 201, posted.text
        return int(posted.json()["id"])

    try:
        async with (
            httpx.AsyncClient(base_url=base, headers=auth(token)) as http,
            websockets.connect(ws_url, additional_headers=auth(token)) as before,
        ):
            assert (await next_event(before))["type"] == "ready"
            first = await post(http, 1)
            assert (await next_event(before))["message_id"] == first

            await outage.stop()
            # Redis is down: a customer's message is still stored and acknowledged.
            await post(http, 2)
            await outage.start()

            # Once the stream is back, the open connection is closed so that its client
            # reconnects and refreshes what it shows (what was published meanwhile is lost).
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(before.recv(), 15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013

            async with websockets.connect(ws_url, additional_headers=auth(token)) as after:
                assert (await next_event(after))["type"] == "ready"
                third = await post(http, 3)
                created = await next_event(after)
                assert (created["type"], created["message_id"]) == ("message.created", third)
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=20)
        if server.poll() is None:
            server.kill()
        await outage.stop()
    async with database.read_sessions() as session:
        stored = set(await session.scalars(select(Message.text).where(Message.kind == "inbound")))
    assert stored == {"1通目", "2通目", "3通目"}


async def test_two_processes_storing_the_same_messages_at_once_store_each_once(
    settings: Settings, database: Database, factory: Factory
) -> None:
    """Each process stores what waits together (connectors.intake); the same messages posted to
    both at once meet in the database. Every post is answered 200 or 201 with the one stored
    message, whichever process stored it, and nothing is stored twice."""
    needs_services(settings)
    token = await factory.token(await factory.member())
    channel = await factory.channel()
    await factory.ctx.db.commit()
    path = f"/api/v1/channels/{channel.id}/inbound"
    bodies = [
        {"contact": {"external_id": f"c{n % 5}"}, "external_id": f"e{n}", "text": f"本文 {n}"}
        for n in range(60)
    ]
    with running_servers(settings) as urls:
        async with httpx.AsyncClient(headers=auth(token), timeout=60) as http:

            async def post_all(url: str, order: list[int]) -> dict[int, httpx.Response]:
                answers: dict[int, httpx.Response] = {}

                async def one(n: int) -> None:
                    answers[n] = await http.post(f"{url}{path}", json=bodies[n])

                # Eight at a time on each process, the second in the reverse order.
                for start in range(0, len(order), 8):
                    await asyncio.gather(*(one(n) for n in order[start : start + 8]))
                return answers

            forward, backward = await asyncio.gather(
                post_all(urls[0], list(range(60))), post_all(urls[1], list(range(59, -1, -1)))
            )
    for n in range(60):
        pair = (forward[n], backward[n])
        assert all(a.status_code in (200, 201) for a in pair), [a.text for a in pair]
        assert sorted(a.status_code for a in pair) == [200, 201]
        assert pair[0].json()["id"] == pair[1].json()["id"]
        assert pair[0].json()["text"] == f"本文 {n}"
    async with database.read_sessions() as session:
        stored = list(await session.scalars(select(Message.external_id)))
        conversations = await session.scalar(
            select(func.count(func.distinct(Message.conversation_id)))
        )
    assert sorted(stored) == sorted(f"e{n}" for n in range(60))
    assert conversations == 5  # five customers, one conversation each
