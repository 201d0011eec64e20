"""How fast a segment is counted and listed (issue 11): 「最終来店から30日」 and a tag, over the
contacts of ``demo --scale N`` (about 70 % of them with 1–5 施術履歴 visits over two years).

- **Count**: ``broadcasts.segments.count`` (goal: ≤ 1 s at 100,000 contacts).
- **First page**: ``broadcasts.segments.members_of``, 50 contacts newest first (goal: ≤ 100 ms).

Each is run ``--repeats`` times after one warm-up, interleaved with the bare-SQL baseline of the
same shape without conditions (``SELECT count(*) FROM contacts``; the newest 51 contacts), so that
noise from the rest of the machine falls on both alike.

    .venv/bin/python -m bench.segments --size 100000
    .venv/bin/python -m bench.segments --size 100000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres

The figures are printed with their ratio to the goal (≥ 1 meets it) and to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import text

from bench import positive
from bench.run import scratch_settings
from madoguchi.broadcasts import segments
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.demo import load_scale
from madoguchi.demo.script import TREATMENTS
from madoguchi.kit.db import Database

COUNT_GOAL_SECONDS = 1.0
PAGE_GOAL_SECONDS = 0.1
PAGE = 50
# 「最終来店から30日」 of the seeds, and the regulars (常連: about 35 % of contacts).
CONDITIONS: list[dict[str, Any]] = [
    {"field": f"record.{TREATMENTS}.newest_at", "op": "days_ago", "value": 30},
    {"field": "tag", "op": "in", "value": ["常連"]},
]
BARE_COUNT = "SELECT count(*) FROM contacts"
BARE_PAGE = f"SELECT * FROM contacts ORDER BY id DESC LIMIT {PAGE + 1}"


async def _timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


async def measure(settings: Settings, size: int, repeats: int) -> dict[str, Any]:
    """Make the data, then time counting and the first page against their baselines."""
    async with command_ctx(settings) as ctx:
        started = time.perf_counter()
        await load_scale(ctx, contacts=size)
        await ctx.commit()
        load_seconds = time.perf_counter() - started
    # As `madoguchi demo --scale` leaves it: with fresh statistics.
    database = Database(settings.sqlalchemy_url, pool=False)
    try:
        await database.analyze()
    finally:
        await database.dispose()
    async with command_ctx(settings) as ctx:
        db, zone, now = ctx.db, settings.timezone, ctx.now()

        async def count() -> int:
            return await segments.count(db, CONDITIONS, timezone=zone, now=now)

        async def page() -> int:
            found = await segments.members_of(db, CONDITIONS, timezone=zone, now=now, limit=PAGE)
            return len(found.contacts)

        async def bare_count() -> int:
            return int(await db.scalar(text(BARE_COUNT)) or 0)

        async def bare_page() -> int:
            return len((await db.execute(text(BARE_PAGE))).all())

        names = ("count", "page", "bare", "bare_page")
        times: dict[str, list[float]] = {name: [] for name in names}
        answers: dict[str, Any] = {}
        for round_ in range(repeats + 1):
            for name, work in (
                ("count", count),
                ("bare", bare_count),
                ("page", page),
                ("bare_page", bare_page),
            ):
                seconds, answers[name] = await _timed(work)
                if round_:  # the first round warms the caches
                    times[name].append(seconds)
            await db.rollback()
    return {
        "contacts": size,
        "load_seconds": load_seconds,
        "matches": answers["count"],
        "shown": answers["page"],
        "all": answers["bare"],
        **{name: statistics.median(values) for name, values in times.items()},
        **{f"{name}_max": max(values) for name, values in times.items()},
    }


def report(figures: dict[str, Any]) -> str:
    count, page = figures["count"], figures["page"]
    lines = [
        f"| contacts (`demo --scale`, with visits) | {figures['contacts']:,} in "
        f"{figures['load_seconds']:.1f} s |",
        f"| count: {figures['matches']:,} contacts | {count * 1000:,.1f} ms "
        f"(max {figures['count_max'] * 1000:,.1f}; goal ≤ {COUNT_GOAL_SECONDS * 1000:,.0f} ms: "
        f"ratio {COUNT_GOAL_SECONDS / count:.1f}; bare `count(*)` of all "
        f"{figures['all']:,}: {figures['bare'] * 1000:,.1f} ms, × {count / figures['bare']:.1f}) |",
        f"| first page: {figures['shown']} contacts | {page * 1000:,.1f} ms "
        f"(max {figures['page_max'] * 1000:,.1f}; goal ≤ {PAGE_GOAL_SECONDS * 1000:,.0f} ms: "
        f"ratio {PAGE_GOAL_SECONDS / page:.1f}; bare newest {PAGE + 1}: "
        f"{figures['bare_page'] * 1000:,.1f} ms, × {page / figures['bare_page']:.1f}) |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=positive, default=100_000)
    parser.add_argument("--repeats", type=positive, default=20)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    with scratch_settings(options.database_url, "segments") as settings:
        figures = asyncio.run(measure(settings, options.size, options.repeats))
    print(report(figures))


if __name__ == "__main__":
    main()
