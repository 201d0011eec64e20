"""Several `madoguchi serve` processes on one PostgreSQL with Redis: a member connected to either
process sees every event, and the worker loop running in each does no timed job twice."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

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
from tests.test_durability import start_server
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
        for port in ports:
            processes.append(start_server(settings, port, **shared))
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
