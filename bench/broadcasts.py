"""How fast a broadcast goes out (issue 11): one occurrence to every contact of ``demo --scale N``.

- **Delivery rows**: the time to fire the occurrence, i.e. write one delivery row per contact of the
  segment (goal: ≤ 10 s at 100,000 contacts).
- **Sending**: every batch claimed, each contact's message recorded in their conversation, the
  LINE contacts sent by multicast to a local recording LINE API (goal: ≥ 2,000 recipients/s).

    .venv/bin/python -m bench.broadcasts --size 100000
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.broadcasts

The figures are printed with their ratio to the goal (≥ 1 meets it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench import positive
from bench.run import _free_port, scratch_settings
from madoguchi.broadcasts import segments, sending, service
from madoguchi.channels import service as channels
from madoguchi.channels.models import ChannelKind
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.demo import load_scale
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.db import Database

ROWS_GOAL_SECONDS = 10.0
SEND_GOAL_PER_SECOND = 2000.0


class LineRecorder:
    """A LINE API that takes every multicast and push, and counts the recipients."""

    def __init__(self) -> None:
        self.recipients = 0
        self.calls = 0
        self.url = ""

    async def handle(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        to = body.get("to")
        self.calls += 1
        self.recipients += len(to) if isinstance(to, list) else 1
        return JSONResponse({})

    def start(self) -> None:
        app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)


async def measure(settings: Settings, size: int, recorder: LineRecorder) -> dict[str, float]:
    async with command_ctx(settings) as ctx:
        await load_scale(ctx, contacts=size)
        for channel in await channels.list_channels(ctx.db):
            if channel.kind == ChannelKind.line:
                # The demo's LINE channel made real, speaking to the recorder.
                channel.settings = {
                    "channel_secret": "bench",
                    "access_token": "bench",
                    "api_base": recorder.url,
                }
        await ctx.commit()
        everyone = await segments.create_segment(
            ctx, name="全員", conditions=[{"field": "hidden", "op": "eq", "value": False}]
        )
        await service.create_broadcast(
            ctx,
            new=service.NewBroadcast(segment_id=everyone.id, text="年末年始の営業時間のお知らせ"),
            actor=None,
        )
    database = Database(settings.sqlalchemy_url)
    try:
        worker = Worker(settings=settings, database=database, bus=InProcessBus())
        started = time.perf_counter()
        async with worker.ctx() as ctx:
            assert await sending.fire_due(ctx, now=ctx.now()) == 1
        rows_seconds = time.perf_counter() - started
        started = time.perf_counter()
        while True:
            now = worker.clock()
            await sending.send_due(worker.ctx, now=now, clock=worker.clock, limit=50)
            async with worker.ctx() as ctx:
                left = (await service.counts(ctx.db, [1]))[1]
            if left.pending == 0 or left.total == left.skipped + left.sent + left.failed:
                break
        send_seconds = time.perf_counter() - started
        async with worker.ctx() as ctx:
            counted = (await service.counts(ctx.db, [1]))[1]
    finally:
        await database.dispose()
    return {
        "contacts": size,
        "rows": counted.total,
        "rows_seconds": rows_seconds,
        "recorded": counted.sent,
        "line_recipients": recorder.recipients,
        "line_calls": recorder.calls,
        "send_seconds": send_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=positive, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or None,
        help="a PostgreSQL server to make a database on (default: $DATABASE_URL; SQLite without)",
    )
    options = parser.parse_args()
    recorder = LineRecorder()
    recorder.start()
    with scratch_settings(options.database_url, "broadcast") as settings:
        figures = asyncio.run(measure(settings, options.size, recorder))
    rows_ratio = ROWS_GOAL_SECONDS / figures["rows_seconds"]
    everyone = figures["recorded"] / figures["send_seconds"]
    line = figures["line_recipients"] / figures["send_seconds"]
    print(f"| database | {'PostgreSQL' if options.database_url else 'SQLite'} |")
    print(f"| contacts | {figures['contacts']:,} |")
    print(
        f"| delivery rows written | {figures['rows']:,} in {figures['rows_seconds']:.2f} s "
        f"(goal ≤ {ROWS_GOAL_SECONDS:.0f} s: ratio {rows_ratio:.1f}) |"
    )
    print(
        f"| sent (recorded in each thread, LINE by multicast, others to the outbox) | "
        f"{figures['recorded']:,} in {figures['send_seconds']:.2f} s = {everyone:,.0f}/s "
        f"(goal ≥ {SEND_GOAL_PER_SECOND:,.0f}/s: ratio {everyone / SEND_GOAL_PER_SECOND:.2f}) |"
    )
    print(
        f"| of which LINE recipients | {figures['line_recipients']:,} in "
        f"{figures['line_calls']:,} calls = {line:,.0f}/s of the whole sending time |"
    )


if __name__ == "__main__":
    main()
