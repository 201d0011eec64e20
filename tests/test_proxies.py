"""X-Forwarded-For is believed from configured proxies only: a client cannot dodge the sign-in
lock by writing the header itself, and behind a named proxy each client is counted on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.kit.db import Database
from madoguchi.kit.proxies import TrustedProxies, forwarded_client, networks
from tests.conftest import SERVER_START_SECONDS, _free_port

MADOGUCHI = str(Path(sys.executable).parent / "madoguchi")

# tests/conftest.py: 5 failures lock an account, 4 × 5 an address.
ADDRESS_LOCK = 20


async def fail_login(http: httpx.AsyncClient, number: int, forwarded_for: str) -> int:
    answer = await http.post(
        "/api/v1/auth/login",
        json={"email": f"nobody{number}@example.com", "password": "wrong"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return answer.status_code


@pytest.fixture
async def behind_proxy(database: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its loopback peer (httpx's in-process client) named as a trusted proxy."""
    app = create_app(settings.model_copy(update={"trusted_proxies": "127.0.0.1, 10.0.0.0/8"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_forged_forwarded_addresses_from_an_untrusted_peer_are_still_locked_out(
    client: httpx.AsyncClient,
) -> None:
    statuses = [await fail_login(client, n, f"203.0.113.{n}") for n in range(25)]
    assert statuses[:ADDRESS_LOCK] == [401] * ADDRESS_LOCK
    assert statuses[ADDRESS_LOCK:] == [429] * 5
    # A locked address does not get in by adding the header either.
    assert await fail_login(client, 99, "198.51.100.7") == 429


def test_served_app_ignores_forwarded_headers_from_loopback_by_default(tmp_path: Path) -> None:
    """Through ``madoguchi serve`` itself: uvicorn believed X-Forwarded-For from 127.0.0.1."""
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MADOGUCHI_") and k not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(MADOGUCHI_DATA_DIR=str(tmp_path), MADOGUCHI_LOG_LEVEL="warning")
    command = [MADOGUCHI, "serve", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    statuses = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            deadline = time.monotonic() + SERVER_START_SECONDS
            while True:
                assert process.poll() is None and time.monotonic() < deadline
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            for n in range(25):
                answer = http.post(
                    "/api/v1/auth/login",
                    json={"email": f"nobody{n}@example.com", "password": "wrong"},
                    headers={"X-Forwarded-For": f"203.0.113.{n}"},
                )
                statuses.append(answer.status_code)
    finally:
        process.terminate()
        process.wait(10)
    assert statuses[ADDRESS_LOCK:] == [429] * 5


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_throttled(
    behind_proxy: httpx.AsyncClient,
) -> None:
    # Twenty-five clients behind the proxy, one failure each: nobody is locked.
    assert {await fail_login(behind_proxy, n, f"203.0.113.{n}") for n in range(25)} == {401}
    statuses = [await fail_login(behind_proxy, 100 + n, "198.51.100.7") for n in range(21)]
    assert statuses[-1] == 429
    # That client stays locked whatever it writes to the left of what the proxy appended.
    assert await fail_login(behind_proxy, 200, "192.0.2.1, 198.51.100.7") == 429
    assert await fail_login(behind_proxy, 201, "198.51.100.7, 10.1.2.3") == 429
    # Another client behind the same proxy is not.
    assert await fail_login(behind_proxy, 202, "198.51.100.8") == 401


def test_the_client_is_the_rightmost_address_that_is_not_a_trusted_proxy() -> None:
    trusted = networks("127.0.0.1, 10.0.0.0/8, fd00::/8")
    assert forwarded_client(["192.0.2.1", "198.51.100.7"], trusted) == "198.51.100.7"
    assert forwarded_client(["198.51.100.7", "10.0.0.5", "10.0.0.6"], trusted) == "198.51.100.7"
    assert forwarded_client(["2001:db8::1", "fd00::2"], trusted) == "2001:db8::1"
    assert forwarded_client(["10.0.0.5", "10.0.0.6"], trusted) == "10.0.0.5"
    assert forwarded_client([], trusted) is None


async def seen_scope(trusted: str, peer: str, headers: dict[str, str], kind: str = "http") -> Any:
    seen: dict[str, Any] = {}

    async def app(scope: Any, _receive: Any, _send: Any) -> None:
        seen.update(scope)

    scope = {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": (peer, 41000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await TrustedProxies(app, trusted=trusted)(scope, None, None)  # type: ignore[arg-type]
    return seen


async def test_forwarded_scheme_and_address_apply_only_from_a_trusted_peer() -> None:
    headers = {"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    trusted = await seen_scope("127.0.0.1", "127.0.0.1", headers)
    assert (trusted["client"], trusted["scheme"]) == (("198.51.100.7", 0), "https")
    socket = await seen_scope("127.0.0.1", "127.0.0.1", headers, kind="websocket")
    assert socket["scheme"] == "wss"
    for configured, peer in (("", "127.0.0.1"), ("10.0.0.0/8", "127.0.0.1")):
        untrusted = await seen_scope(configured, peer, headers)
        assert (untrusted["client"], untrusted["scheme"]) == ((peer, 41000), "http")


def test_a_mistyped_trusted_proxy_stops_the_start() -> None:
    with pytest.raises(pydantic.ValidationError, match="not an IP address or network"):
        Settings(_env_file=None, trusted_proxies="127.0.0.1, nginx")  # type: ignore[call-arg]
    assert networks(" 127.0.0.1 ,, ::1 ") == networks("127.0.0.1/32,::1/128")
