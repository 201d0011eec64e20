"""The intake's writer alone (issue 14): CPU per message stored through ``connectors.intake``.

Through HTTP (``bench.ingest``) the writer's cost is mixed with the request's, the benchmark's
client and the machine's noise. Here the writer runs in this process, as ``serve`` runs it:
batches of ``--batches`` messages (a contact per five, each request with its API token, as the
API channel hands them over), each batch waited on before the next, on a fresh database per
batch size after ``--warmup`` messages. CPU per message is the process's CPU time over the
messages; the best of ``--repeats`` runs is the figure (noise only ever adds). ``--cpu`` pins the
process to one CPU.

    .venv/bin/python -m bench.intake
    .venv/bin/python -m bench.intake --batches 1,4,8 --messages 1600 --repeats 3 --cpu 1
    .venv/bin/python -m bench.intake --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench import non_negative, positive, positives
from bench.ingest import Site, _make_site, message_body
from bench.run import scratch_settings
from madoguchi.channels.models import ChannelKind
from madoguchi.config import Settings
from madoguchi.connectors import inbound
from madoguchi.connectors.intake import Intake
from madoguchi.contacts import reading
from madoguchi.events.bus import create_bus
from madoguchi.kit.db import Database
from madoguchi.members.dependencies import TokenCaller


@dataclass(frozen=True)
class Run:
    batch: int
    cpu_ms_per_message: float
    transactions: int


def _message(site: Site, number: int) -> inbound.Inbound:
    body = message_body("intake", number)
    return inbound.Inbound(
        channel_id=site.api_channel_id,
        kind=ChannelKind.api,
        sender=body["contact"]["external_id"],
        name=body["contact"]["name"],
        message_id=body["external_id"],
        text=body["text"],
        exact=True,
    )


async def measure(settings: Settings, *, batch: int, messages: int, warmup: int) -> Run:
    """One run: ``warmup`` messages, then ``messages`` timed, in batches of ``batch``."""
    site = await _make_site(settings)
    database = Database(settings.sqlalchemy_url)
    bus = create_bus(settings)
    await bus.start()
    intake = Intake(database=database, bus=bus, settings=settings)
    caller = TokenCaller(site.token, "POST", f"/api/v1/channels/{site.api_channel_id}/inbound")

    async def store(first: int, count: int) -> None:
        for start in range(first, first + count, batch):
            numbers = range(start, min(first + count, start + batch))
            await asyncio.gather(
                *(intake.receive(_message(site, n), caller=caller) for n in numbers)
            )

    try:
        await store(0, warmup)
        before = intake.transactions
        started = time.process_time()
        await store(warmup, messages)
        spent = time.process_time() - started
        return Run(batch, 1000 * spent / messages, intake.transactions - before)
    finally:
        await intake.close()
        await bus.close()
        await database.dispose()


def report(runs: Sequence[Sequence[Run]], *, engine: str, messages: int) -> str:
    lines = [
        f"## The intake's writer alone ({engine}, {messages:,} messages a run)",
        "",
        "| batch | CPU per message (best) | runs | transactions a run |",
        "|---:|---:|---|---:|",
    ]
    for same in runs:
        best = min(run.cpu_ms_per_message for run in same)
        each = ", ".join(f"{run.cpu_ms_per_message:.2f}" for run in same)
        lines.append(f"| {same[0].batch} | **{best:.2f} ms** | {each} | {same[0].transactions:,} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=positives, default=(1, 4, 8))
    parser.add_argument("--messages", type=positive, default=1600)
    parser.add_argument("--warmup", type=non_negative, default=200)
    parser.add_argument("--repeats", type=positive, default=3)
    parser.add_argument("--cpu", type=non_negative, default=None)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args(argv)
    batches = list(options.batches)
    if options.cpu is not None:
        os.sched_setaffinity(0, {options.cpu})
    reading.warm()  # as serve does at start: not a first message's cost
    runs: list[list[Run]] = []
    for batch in batches:
        same = []
        for _ in range(options.repeats):
            print(f"… batches of {batch}", file=sys.stderr, flush=True)
            with scratch_settings(options.database_url, "intake") as settings:
                same.append(
                    asyncio.run(
                        measure(
                            settings, batch=batch, messages=options.messages, warmup=options.warmup
                        )
                    )
                )
        runs.append(same)
    engine = "PostgreSQL" if options.database_url else "SQLite"
    print(report(runs, engine=engine, messages=options.messages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
