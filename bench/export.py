"""How an export of every conversation (F45, issue 12) grows: ``madoguchi demo --scale N``
contacts (one conversation each, 3–12 messages), exported as the inbox's export menu and
``GET /api/v1/conversations/export`` do, through ``conversations.export.export_inbox``, in
a process of its own (started after the data is made, so that what making it held does not
hide what the export holds). Each format is read to its end as the response would send it;
the figures are the time, the bytes and chunks sent, and the process's resident memory
(sampled every 20 ms): its peak above what it held before the export is what the export holds.

    .venv/bin/python -m bench.export --size 100000
    .venv/bin/python -m bench.export --size 10000 --formats csv --database-url postgresql://…
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from bench import positive
from bench.run import scratch_settings
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.conversations import export
from madoguchi.conversations.models import Message
from madoguchi.conversations.repository import InboxQuery
from madoguchi.demo.scale import load_scale
from madoguchi.members.models import Member, Role

FORMATS = ("csv", "txt")


def resident_bytes() -> int:
    """This process's resident memory now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class PeakMemory:
    """The highest resident memory seen while inside, sampled by a thread."""

    def __init__(self, every: float = 0.02) -> None:
        self.every = every
        self.before = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, resident_bytes())

    def __enter__(self) -> PeakMemory:
        self.before = self.peak = resident_bytes()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())


@dataclass(frozen=True)
class Exported:
    format: str
    conversations: int
    sent_bytes: int
    chunks: int
    largest_chunk: int
    seconds: float
    memory_before: int
    memory_peak: int

    @property
    def held(self) -> int:
        return max(0, self.memory_peak - self.memory_before)


async def export_all(settings: Settings, format: str, conversations: int) -> Exported:
    async with command_ctx(settings) as ctx:
        owner = await ctx.db.scalar(
            select(Member).where(Member.role == Role.owner).order_by(Member.id).limit(1)
        )
        assert owner is not None, "the demo makes an owner"
        options = export.options_for(
            format, notes=True, encoding="utf-8", timezone=settings.timezone, language="ja"
        )
        sent = chunks = largest = 0
        with PeakMemory() as memory:
            started = time.perf_counter()
            made = await export.export_inbox(
                ctx.db, member_id=owner.id, query=InboxQuery(), options=options, now=ctx.now()
            )
            async for chunk in made.chunks:
                sent += len(chunk)
                chunks += 1
                largest = max(largest, len(chunk))
            seconds = time.perf_counter() - started
        await ctx.db.rollback()
    return Exported(
        format, conversations, sent, chunks, largest, seconds, memory.before, memory.peak
    )


async def fill(settings: Settings, size: int) -> int:
    async with command_ctx(settings) as ctx:
        made = await load_scale(ctx, contacts=size)
    return made.contacts


def render(results: Sequence[Exported], engine: str, messages: int) -> str:
    lines = [
        f"## Export of every conversation ({engine})",
        "",
        f"{results[0].conversations:,} conversations, {messages:,} messages.",
        "",
        "| format | bytes sent | chunks (largest) | time | memory before | peak held by export |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    mb = 1024 * 1024
    for r in results:
        lines.append(
            f"| {r.format} | {r.sent_bytes / mb:,.1f} MB | {r.chunks:,} "
            f"({r.largest_chunk / 1024:,.0f} KB) | {r.seconds:,.1f} s "
            f"| {r.memory_before / mb:,.0f} MB | {r.held / mb:,.1f} MB |"
        )
    return "\n".join(lines)


def run(size: int, formats: Sequence[str], database_url: str | None) -> str:
    with scratch_settings(database_url, "export") as settings:
        contacts = asyncio.run(fill(settings, size))
        messages = asyncio.run(_count_messages(settings))
        print(f"# {contacts:,} contacts made; load {os.getloadavg()[0]:.1f}", flush=True)
        results = []
        for format in formats:
            results.append(_export_apart(settings, format, contacts))
            done = results[-1]
            print(f"# {format}: {done.seconds:,.1f} s; load {os.getloadavg()[0]:.1f}", flush=True)
    return render(results, "PostgreSQL" if database_url else "SQLite", messages)


def _export_apart(settings: Settings, format: str, conversations: int) -> Exported:
    """The export in a fresh process on the same data, its figures read back as JSON."""
    command = [sys.executable, "-m", "bench.export", "--export-only", format]
    command += ["--data-dir", str(settings.data_dir), "--size", str(conversations)]
    if settings.database_url:
        command += ["--database-url", settings.database_url]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return Exported(**json.loads(done.stdout.strip().splitlines()[-1]))


async def _count_messages(settings: Settings) -> int:
    async with command_ctx(settings) as ctx:
        return int(await ctx.db.scalar(select(func.count()).select_from(Message)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=positive, default=100_000)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--database-url", default=None)
    # The child process that exports data made before (run by ``run``).
    parser.add_argument("--export-only", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.export_only:
        settings = Settings(
            _env_file=None, data_dir=Path(options.data_dir), database_url=options.database_url
        )
        made = asyncio.run(export_all(settings, options.export_only, options.size))
        print(json.dumps(dataclasses.asdict(made)))
        return 0
    formats = [f.strip() for f in options.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        parser.error(f"formats are csv and txt (a PDF is capped): not {', '.join(unknown)}")
    print(run(options.size, formats, options.database_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
