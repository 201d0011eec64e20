"""A message is acknowledged only once committed: killing the server loses nothing acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import IO

import httpx
from sqlalchemy import func, select

from madoguchi.config import Settings
from madoguchi.conversations.models import Message
from madoguchi.kit.db import Database
from tests.conftest import SERVER_START_SECONDS, _free_port
from tests.fixtures import Factory, auth
from tests.test_cli import MADOGUCHI

_ERROR_FILES: dict[int, IO[bytes]] = {}


def spawn_server(settings: Settings, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
    """``madoguchi serve`` on the test's database, not waited for (``wait_started``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["MADOGUCHI_DATA_DIR"] = str(settings.data_dir)
    env["MADOGUCHI_LOG_LEVEL"] = "warning"
    env.update(extra_env)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    # Its error output goes to a file: a pipe nobody reads could fill and stop it.
    errors = tempfile.TemporaryFile()  # noqa: SIM115 (kept while the process runs)
    process = subprocess.Popen(
        [MADOGUCHI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    _ERROR_FILES[process.pid] = errors
    return process


def wait_started(process: subprocess.Popen[bytes], port: int) -> subprocess.Popen[bytes]:
    """Once the process answers /healthz; its error output when it stops before."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the server stopped (exit {process.returncode}):\n{_errors(process)}"
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(
        f"the server did not answer within {SERVER_START_SECONDS} s:\n{_errors(process)}"
    )


def _errors(process: subprocess.Popen[bytes]) -> str:
    output = _ERROR_FILES.get(process.pid)
    if output is None:
        return ""
    output.seek(0)
    return output.read().decode(errors="replace")[-4000:]


def start_server(settings: Settings, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
    return wait_started(spawn_server(settings, port, **extra_env), port)


async def test_killed_server_keeps_every_acknowledged_message(
    settings: Settings, database: Database, factory: Factory
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    channel = await factory.channel()
    port = _free_port()
    server = start_server(settings, port)
    acknowledged: set[str] = set()
    some_acknowledged = asyncio.Event()

    async def post_forever(worker: int) -> None:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=auth(token)
        ) as http:
            for n in range(100_000):
                external_id = f"w{worker}-{n}"
                try:
                    response = await http.post(
                        f"/api/v1/channels/{channel.id}/inbound",
                        json={
                            "contact": {"external_id": f"c{n % 7}"},
                            "external_id": external_id,
                            "text": f"メッセージ {n}",
                        },
                    )
                except httpx.TransportError:
                    return
                if response.status_code in (200, 201):
                    acknowledged.add(external_id)
                    if len(acknowledged) > 10:
                        some_acknowledged.set()

    # Eight at once: the server stores what waits together (connectors.intake), so the kill
    # falls on batches in flight.
    workers = [asyncio.create_task(post_forever(w)) for w in range(8)]
    # Killed once it has acknowledged a few (however busy the machine), while more are sent.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(some_acknowledged.wait(), 60)
    server.send_signal(signal.SIGKILL)
    server.wait(10)
    await asyncio.wait_for(asyncio.gather(*workers), 10)
    assert len(acknowledged) > 10

    async with database.read_sessions() as session:
        stored = set(await session.scalars(select(Message.external_id)))
        count = await session.scalar(select(func.count()).select_from(Message))
    assert acknowledged <= stored
    assert count == len(stored)  # nothing stored twice

    # And the server comes back on the same data.
    restarted = start_server(settings, port)
    restarted.terminate()
    restarted.wait(10)


async def test_serve_runs_the_worker_that_sends_scheduled_messages(
    settings: Settings, database: Database, factory: Factory
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    await factory.ctx.db.rollback()
    port = _free_port()
    server = start_server(settings, port, MADOGUCHI_WORKER_INTERVAL="0.2")
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=auth(token)
        ) as http:
            # Far enough ahead to be in the future when a loaded machine gets to it.
            at = datetime.now(UTC) + timedelta(seconds=5)
            created = await http.post(
                f"/api/v1/contacts/{ingested.conversation.contact_id}/scheduled-messages",
                json={"text": "まもなく送られます", "at": at.isoformat()},
            )
            assert created.status_code == 201, created.text
            deadline = time.monotonic() + 90
            while True:
                messages = (
                    await http.get(f"/api/v1/conversations/{ingested.conversation.id}/messages")
                ).json()["items"]
                if any(m["text"] == "まもなく送られます" for m in messages):
                    break
                if time.monotonic() > deadline:
                    raise AssertionError(
                        "the scheduled message was not sent by the server's worker"
                    )
                await asyncio.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)
