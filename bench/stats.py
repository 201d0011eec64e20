"""How fast a month of statistics is read (F39, issue 12) as the history grows: the same month
at 100,000 and at 1,000,000 conversations, on the rollup (stats.rollup) the one writer of
messages keeps.

The generator writes what the statistics read, at a constant pace (``--per-day``
conversations a day, 1,000 by default: a busy account): conversations with their contacts, a
row of facts each (two thirds answered, most closed within days, counted in opening hours),
conversation tags on a third of them, and the day counts of messages per channel and member.
A larger size is a longer history, so the month asked holds the same number of conversations
at every size: what grows is everything around it. (Writing the rollup as messages arrive is
measured by the inbound statement budget, tests/channels/test_inbound.py.)

Each round asks the last 30 days of the history through ``stats.report``, the function
``GET /api/v1/stats`` answers with; the first round warms the caches.

    .venv/bin/python -m bench.stats --sizes 100000
    .venv/bin/python -m bench.stats --sizes 100000,1000000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, text

from bench import positive, positives
from bench.run import scratch_settings
from madoguchi.channels import service as channels
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.contacts.models import Contact
from madoguchi.conversations import workflow
from madoguchi.conversations.models import Conversation, ConversationState, ConversationTagging
from madoguchi.kit.db import Database, bulk_insert
from madoguchi.members import service as members
from madoguchi.stats import service as stats
from madoguchi.stats.models import ConversationFacts, DayCounts

CHUNK = 20_000
CONTACTS_PER = 5  # conversations per contact
MONTH = 30
LAST_DAY = date(2026, 11, 30)


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


@dataclass(frozen=True)
class Made:
    conversations: int
    days: int
    seconds: float


async def generate(settings: Settings, size: int, per_day: int, seed: int = 12) -> Made:
    """``size`` conversations, ``per_day`` a day, the last on :data:`LAST_DAY`."""
    started = time.perf_counter()
    rng = random.Random(seed)
    zone = ZoneInfo(settings.timezone)
    days = max(1, -(-size // per_day))
    first_day = LAST_DAY - timedelta(days=days - 1)
    async with command_ctx(settings) as ctx:
        channel_ids = [
            (await channels.create_channel(ctx, kind="api", name=f"窓口{n}")).id for n in range(3)
        ]
        member_ids = [
            (
                await members.create_member(
                    ctx,
                    email=f"bench{n}@example.com",
                    name=f"スタッフ{n}",
                    role="owner" if n == 0 else "agent",
                    password="correct horse battery",
                )
            ).id
            for n in range(5)
        ]
        tag_ids = [
            (await workflow.create_conversation_tag(ctx, name=f"タグ{n}")).id for n in range(5)
        ]
        db = ctx.db
        contacts = max(1, size // CONTACTS_PER)
        for start in range(0, contacts, CHUNK):
            await bulk_insert(
                db,
                _table(Contact),
                [
                    {
                        "id": n + 1,
                        "channel_id": channel_ids[n % 3],
                        "external_id": f"c{n}",
                        "display_name": f"お客様{n}",
                    }
                    for n in range(start, min(contacts, start + CHUNK))
                ],
            )
        counts: dict[tuple[date, int, int], list[int]] = {}
        for start in range(0, size, CHUNK):
            conversation_rows: list[dict[str, Any]] = []
            fact_rows: list[dict[str, Any]] = []
            tag_rows: list[dict[str, Any]] = []
            for n in range(start, min(size, start + CHUNK)):
                day = first_day + timedelta(days=n // per_day)
                local = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(
                    seconds=rng.randrange(8 * 3600, 21 * 3600)
                )
                opened = local.astimezone(UTC)
                channel_id = channel_ids[n % 3]
                assignee = rng.choice([None, *member_ids])
                conversation_rows.append(
                    {
                        "id": n + 1,
                        "contact_id": n % contacts + 1,
                        "channel_id": channel_id,
                        "assignee_id": assignee,
                        "state": ConversationState.open,
                        "last_activity_at": opened,
                        "created_at": opened,
                    }
                )
                fact: dict[str, Any] = {
                    "conversation_id": n + 1,
                    "channel_id": channel_id,
                    "assignee_id": assignee,
                    "opened_at": opened,
                    "opened_day": day,
                    "first_inbound_at": opened,
                    "first_response_at": None,
                    "first_response_seconds": None,
                    "closed_at": None,
                    "closed_day": None,
                    "resolution_seconds": None,
                }
                inbound = 1 + rng.randrange(4)
                key = (day, channel_id, 0)
                counts.setdefault(key, [0, 0])[0] += inbound
                if rng.random() < 0.67:
                    waited = rng.randrange(60, 36 * 3600)
                    fact["first_response_at"] = opened + timedelta(seconds=waited)
                    fact["first_response_seconds"] = waited // 2
                    sender = assignee or member_ids[0]
                    reply_day = (opened + timedelta(seconds=waited)).astimezone(zone).date()
                    counts.setdefault((reply_day, channel_id, sender), [0, 0])[1] += inbound
                    if rng.random() < 0.8:
                        took = waited + rng.randrange(600, 5 * 86_400)
                        closed = opened + timedelta(seconds=took)
                        fact["closed_at"] = closed
                        fact["closed_day"] = closed.astimezone(zone).date()
                        fact["resolution_seconds"] = took // 2
                fact_rows.append(fact)
                if n % 3 == 0:
                    tag_rows.append({"conversation_id": n + 1, "tag_id": tag_ids[n % 5]})
            await bulk_insert(db, _table(Conversation), conversation_rows)
            await bulk_insert(db, _table(ConversationFacts), fact_rows)
            await bulk_insert(db, _table(ConversationTagging), tag_rows)
        rows = [
            {"day": d, "channel_id": c, "member_id": m, "messages_in": i, "messages_out": o}
            for (d, c, m), (i, o) in counts.items()
        ]
        for start in range(0, len(rows), CHUNK):
            await bulk_insert(db, _table(DayCounts), rows[start : start + CHUNK])
        if ctx.dialect == "postgresql":
            await db.execute(
                text("SELECT setval('conversations_id_seq', (SELECT max(id) FROM conversations))")
            )
            await db.execute(
                text("SELECT setval('contacts_id_seq', (SELECT max(id) FROM contacts))")
            )
        await ctx.commit()
    database = Database(settings.sqlalchemy_url, pool=False)
    try:
        await database.analyze()
    finally:
        await database.dispose()
    return Made(conversations=size, days=days, seconds=time.perf_counter() - started)


@dataclass(frozen=True)
class Timing:
    size: int
    days: int
    opened: int
    generate_seconds: float
    p50: float
    p95: float


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * (len(ordered) - 1))))]


async def measure(settings: Settings, size: int, per_day: int, repeats: int) -> Timing:
    made = await generate(settings, size, per_day)
    period = stats.Period(LAST_DAY - timedelta(days=MONTH - 1), LAST_DAY)
    times: list[float] = []
    opened = 0
    async with command_ctx(settings) as ctx:
        for round_ in range(repeats + 1):
            started = time.perf_counter()
            report = await stats.report(ctx, period=period)
            seconds = time.perf_counter() - started
            opened = report.total.opened
            if round_:
                times.append(seconds)
        await ctx.db.rollback()
    return Timing(
        size=size,
        days=made.days,
        opened=opened,
        generate_seconds=made.seconds,
        p50=statistics.median(times),
        p95=percentile(times, 0.95),
    )


def render(results: Sequence[Timing], engine: str) -> str:
    lines = [
        f"## Statistics for a month ({engine})",
        "",
        f"| {engine}: conversations | days of history | opened in the month | p50 | p95 |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.size:,} | {r.days:,} | {r.opened:,} | {r.p50 * 1000:,.1f} ms "
            f"| {r.p95 * 1000:,.1f} ms |"
        )
    if len(results) > 1:
        small, large = results[0], results[-1]
        lines.append("")
        lines.append(
            f"Ratio p95 {large.size:,} / {small.size:,}: {large.p95 / small.p95:.2f} "
            f"(p50: {large.p50 / small.p50:.2f})"
        )
    return "\n".join(lines)


def run(sizes: Sequence[int], per_day: int, repeats: int, database_url: str | None) -> str:
    results = []
    for size in sizes:
        with scratch_settings(database_url, "stats") as settings:
            results.append(asyncio.run(measure(settings, size, per_day, repeats)))
        done = results[-1]
        # Each size as it is measured: a long run shows progress.
        print(
            f"# {done.size:,}: p50 {done.p50 * 1000:,.1f} ms, p95 {done.p95 * 1000:,.1f} ms",
            flush=True,
        )
    return render(results, "PostgreSQL" if database_url else "SQLite")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=positives, default=(100_000,))
    parser.add_argument("--per-day", type=positive, default=1000)
    parser.add_argument("--repeats", type=positive, default=20)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args(argv)
    sizes = list(options.sizes)
    print(run(sizes, options.per_day, options.repeats, options.database_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
