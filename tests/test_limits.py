"""Request bodies are bounded as they arrive: in-process through the ASGI interface, and over a
real socket to a real server sending far more than the cap."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.files import service as files
from madoguchi.kit import limits
from madoguchi.kit.db import Database
from tests.conftest import LiveServer

MIB = 1024 * 1024
Message = dict[str, Any]


@pytest.fixture
async def app(database: Database, settings: Settings) -> AsyncIterator[FastAPI]:
    built = create_app(settings)
    async with built.router.lifespan_context(built):
        yield built


async def call(
    app: FastAPI,
    path: str,
    chunks: list[bytes],
    *,
    headers: dict[str, str] | None = None,
    declared: int | None = None,
) -> tuple[int, dict[str, str], bytes, int]:
    """POST ``chunks`` straight through the ASGI interface: (status, headers, body, chunks the
    app asked for)."""
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if declared is not None:
        raw_headers.append((b"content-length", str(declared).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *raw_headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    asked = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        if asked >= len(chunks):
            await asyncio.sleep(3600)  # a client that sends nothing more
        asked += 1
        return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), 10)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    answer_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], answer_headers, body, asked


def json_chunks(total: int, size: int = 64 * 1024) -> list[bytes]:
    """A JSON object of about ``total`` bytes, cut in chunks."""
    padding = "x" * total  # a field the route ignores
    document = json.dumps({"email": "a@example.com", "password": "x", "padding": padding}).encode()
    return [document[i : i + size] for i in range(0, len(document), size)]


async def test_declared_body_over_the_cap_is_refused_without_reading_it(app: FastAPI) -> None:
    status, headers, body, asked = await call(
        app,
        "/api/v1/auth/login",
        [b"{}"],
        headers={"content-type": "application/json"},
        declared=100 * MIB,
    )
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "detail": "The request is too large: this address accepts at most 1 MB."
    }
    assert asked == 0


async def test_chunked_body_is_refused_once_it_passes_the_cap(app: FastAPI) -> None:
    chunks = json_chunks(4 * MIB)
    status, _headers, body, asked = await call(
        app, "/api/v1/auth/login", chunks, headers={"content-type": "application/json"}
    )
    assert status == 413
    assert "at most 1 MB" in json.loads(body)["detail"]
    # It stopped one chunk past the cap, not at the end of the body.
    assert asked == MIB // (64 * 1024) + 1 < len(chunks)


async def test_body_under_the_cap_reaches_the_route(app: FastAPI) -> None:
    status, _headers, body, _asked = await call(
        app,
        "/api/v1/contacts",
        json_chunks(900 * 1024),
        headers={"content-type": "application/json"},
    )
    assert status == 401
    assert json.loads(body)["detail"].startswith("Authentication required")


async def test_webhook_body_is_capped_before_its_signature_is_checked(app: FastAPI) -> None:
    status, _headers, body, asked = await call(
        app, "/webhooks/line/1", [b"[" * (64 * 1024)] * 40, headers={"x-line-signature": "forged"}
    )
    assert status == 413
    assert "at most 1 MB" in json.loads(body)["detail"]
    assert asked == 17


async def test_htmx_fragment_gets_the_sentence_in_the_workspace_language(app: FastAPI) -> None:
    status, headers, body, _asked = await call(
        app,
        "/contacts/1/notes",
        [b"note=" + b"x" * (64 * 1024)] * 20,
        headers={"hx-request": "true", "content-type": "application/x-www-form-urlencoded"},
    )
    assert status == 413
    assert headers["content-type"].startswith("text/plain")
    assert body.decode() == "リクエストが大きすぎます。ここで受け付けるのは 1 MB までです。"


async def test_upload_routes_take_an_image_of_ten_megabytes(app: FastAPI) -> None:
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    image = b"\x89PNG" + b"\0" * (files.MAX_IMAGE_BYTES - 4)
    form = head + image + f"\r\n--{boundary}--\r\n".encode()
    multipart = {"content-type": f"multipart/form-data; boundary={boundary}"}
    # Not signed in: the route answers 401, which it could not if the body had been refused.
    status, _headers, _body, _asked = await call(
        app, "/api/v1/files", [form], headers=multipart, declared=len(form)
    )
    assert status == 401
    status, _headers, body, _asked = await call(
        app, "/api/v1/files", [form + b"x" * 65 * 1024], headers=multipart
    )
    assert status == 413
    assert "at most 10 MB" in json.loads(body)["detail"]


def test_each_kind_of_address_has_its_cap(settings: Settings) -> None:
    from madoguchi.ui.settings_transfer import MAX_REQUEST_BYTES

    caps = limits.Caps.of(
        settings,
        image=files.MAX_IMAGE_BYTES,
        images_per_template=files.MAX_IMAGES,
        import_form=MAX_REQUEST_BYTES,
    )

    def cap(path: str, content_type: str = "multipart/form-data; boundary=x") -> int:
        return limits.cap_for(path, content_type, caps)

    assert cap("/api/v1/contacts", "application/json") == settings.max_body_bytes == MIB
    assert cap("/webhooks/instagram/3", "application/json") == settings.max_webhook_bytes == MIB
    assert cap("/ui/files") == cap("/api/v1/files") > 10 * MIB
    assert cap("/settings/templates/7/update") > 3 * 10 * MIB
    # The import form's own route cap, one source for both.
    assert cap("/settings/import-export/import") == MAX_REQUEST_BYTES == 64 * MIB
    assert cap("/api/v1/files/extra") == MIB
    # Only a form's files are spooled to disk: anything else sent to an upload is held to 1 MB.
    assert cap("/api/v1/files", "application/json") == MIB


# --- over a real socket -------------------------------------------------------------------------


def resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def post_huge(
    url: str, path: str, total: int, *, chunked: bool = True
) -> tuple[int, bytes, int]:
    """Send ``total`` bytes as a POST (chunked, or with its Content-Length) while reading the
    answer: (status, body, bytes sent before the answer came)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"{framing}\r\n\r\n".encode()
    )
    chunk = b"[" * (256 * 1024)
    sent = 0

    async def send_body() -> None:
        nonlocal sent
        while sent < total:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            await writer.drain()
            sent += len(chunk)
            # drain() does not yield while the socket takes everything (a quiet machine, a
            # server dropping the refused rest): let the reader see an answer as soon as it comes.
            await asyncio.sleep(0)
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    sender = asyncio.create_task(send_body())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        sent_then = sent
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
    return status, body, sent_then


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_live_server_refuses_a_huge_body_early_and_keeps_its_memory(
    live_server: LiveServer, chunked: bool
) -> None:
    before = resident_bytes()
    status, body, sent = await post_huge(
        live_server.url, "/api/v1/auth/login", 300 * MIB, chunked=chunked
    )
    assert status == 413
    assert json.loads(body)["detail"].startswith("The request is too large")
    assert sent < 64 * MIB  # what the socket buffers held, not the 300 MB
    assert resident_bytes() - before < 50 * MIB
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        assert (await http.get("/healthz")).status_code == 200
