"""Secrets that travel in URLs (customer links, web chat visitor tokens) never reach the log:
`madoguchi serve` is run as a user runs it, a customer opens their link, and its output is read."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time

import httpx
import pytest
from websockets.asyncio.client import connect

from madoguchi.config import Settings
from madoguchi.connectors.web import create_customer_link
from madoguchi.kit.logs import REDACTED, redact
from tests.conftest import SERVER_START_SECONDS
from tests.fixtures import Factory
from tests.test_cli import MADOGUCHI


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ('"GET /chat/AbC-123_x HTTP/1.1" 200', '"GET /chat/[redacted] HTTP/1.1" 200'),
        ("WebSocket /chat/AbC/ws [accepted]", "WebSocket /chat/[redacted]/ws [accepted]"),
        ("/chat/AbC/messages?after=3", "/chat/[redacted]/messages?after=3"),
        ("/widget/4/ws?token=s3cr3t&x=1", "/widget/4/ws?token=[redacted]&x=1"),
        ("/api/v1/conversations?q=token", "/api/v1/conversations?q=token"),
        (
            "/webhooks/instagram/2?hub.mode=subscribe&hub.verify_token=v3r1fy&hub.challenge=9",
            "/webhooks/instagram/2?hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=9",
        ),
        ("/public/files/12/thumb/AbC-9_x", "/public/files/12/thumb/[redacted]"),
    ],
)
def test_redact_keeps_the_path_and_drops_the_secret(line: str, kept: str) -> None:
    assert redact(line) == kept


async def test_a_customer_link_never_reaches_the_servers_log(
    settings: Settings, factory: Factory
) -> None:
    channel = await factory.channel(kind="web", name="サイト")
    contact_id = (await factory.inbound(channel, contact="visitor-1")).conversation.contact_id
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    # The link as the served address writes it (only the secret matters here).
    link = await create_customer_link(factory.ctx, contact_id=contact_id)
    secret = link.rsplit("/", 1)[1]
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        MADOGUCHI_DATA_DIR=str(settings.data_dir),
        MADOGUCHI_PORT=str(port),
        MADOGUCHI_BASE_URL=base,
        MADOGUCHI_WORKER="false",
        MADOGUCHI_LOG_LEVEL="info",
    )
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    server = await asyncio.create_subprocess_exec(
        MADOGUCHI, "serve", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while True:
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not start"
                await asyncio.sleep(0.1)
            assert (await client.get(f"/chat/{secret}")).status_code == 200
            assert (await client.get(f"/chat/{secret}/messages")).status_code == 200
            async with connect(f"ws://127.0.0.1:{port}/chat/{secret}/ws") as websocket:
                await websocket.recv()
            assert (await client.get("/chat/not-a-link")).status_code == 404
    finally:
        server.terminate()
        raw, _ = await asyncio.wait_for(server.communicate(), 30)
    output = raw.decode()
    assert "/chat/[redacted]/ws" in output and f'"GET /chat/{REDACTED} HTTP/1.1" 200' in output
    assert secret not in output
