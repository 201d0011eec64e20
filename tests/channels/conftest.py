"""A local HTTP server standing in for LINE's and Meta's APIs: it records every request and
answers what a test tells it to. No test reaches the internet."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from madoguchi.channels.models import Channel
from madoguchi.kit.context import Ctx
from tests.conftest import _free_port

# A LINE channel's credentials, as its settings keep them.
SECRET = "line-channel-secret"
TOKEN = "line-access-token"


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Recorder:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    # (method, path) -> answers given in turn; the last one repeats.
    answers: dict[tuple[str, str], list[tuple[int, bytes, str]]] = field(default_factory=dict)
    # (method, path) whose requests are recorded but not answered until released.
    held: set[tuple[str, str]] = field(default_factory=set)
    # Set when held requests may go on (the server runs in a thread of its own).
    released: threading.Event = field(default_factory=threading.Event)

    def answer(
        self, method: str, path: str, *responses: tuple[int, Any], content_type: str = ""
    ) -> None:
        prepared = []
        for status, body in responses:
            if isinstance(body, bytes):
                prepared.append((status, body, content_type or "application/octet-stream"))
            else:
                prepared.append((status, json.dumps(body).encode(), "application/json"))
        self.answers[(method, path)] = prepared

    def reset(self) -> None:
        self.requests.clear()
        self.answers.clear()
        self.release()

    def hold(self, method: str, path: str) -> None:
        """Requests to ``path`` wait, unanswered, until ``release``."""
        self.released.clear()
        self.held.add((method, path))

    def release(self) -> None:
        self.held.clear()
        self.released.set()

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.url.path,
                query=dict(request.query_params),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        if (request.method, request.url.path) in self.held:
            await asyncio.to_thread(self.released.wait)
        queue = self.answers.get((request.method, request.url.path))
        if not queue:
            return Response(b"{}", status_code=200, media_type="application/json")
        status, content, media_type = queue[0] if len(queue) == 1 else queue.pop(0)
        return Response(content, status_code=status, media_type=media_type)


@pytest.fixture(scope="session")
def recorder_server() -> Iterator[Recorder]:
    recorder = Recorder()
    app = Starlette(
        routes=[Route("/{path:path}", recorder.handle, methods=["GET", "POST", "PUT", "DELETE"])]
    )
    port = _free_port()
    recorder.url = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the recorder did not start"
        time.sleep(0.05)
    yield recorder
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def recorder(recorder_server: Recorder) -> Recorder:
    recorder_server.reset()
    return recorder_server


@pytest.fixture
async def line(ctx: Ctx, recorder: Recorder) -> Channel:
    from madoguchi.channels import service as channels

    return await channels.create_channel(
        ctx,
        kind="line",
        name="ルミエール公式LINE",
        settings={"channel_secret": SECRET, "access_token": TOKEN, "api_base": recorder.url},
    )
