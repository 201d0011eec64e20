"""How fast the 未確認 view pages (issue 13): the team's walk (``conversation_team_unreads``,
the default) against each member's own (``conversation_unreads``, the walk it replaces as the
default), over the conversations of ``demo --scale N`` (about a third of them unread).

For each: the first page of 50 and the second (through its cursor), and the unread total the
tab shows, interleaved round by round so that noise from the rest of the machine falls on both.

    .venv/bin/python -m bench.unread --size 100000
    .venv/bin/python -m bench.unread --size 100000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bench import positive
from bench.run import scratch_settings
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.conversations import repository
from madoguchi.conversations.repository import Cursor, InboxQuery, View
from madoguchi.demo import load_scale
from madoguchi.kit.db import Database
from madoguchi.members import service as members
from madoguchi.workspace.unread import UnreadMode, set_unread_mode

PAGE = 50


async def _timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def measure(settings: Settings, size: int, repeats: int) -> dict[str, float]:
    async with command_ctx(settings) as ctx:
        await load_scale(ctx, contacts=size)
        await ctx.commit()
    database = Database(settings.sqlalchemy_url, pool=False)
    try:
        await database.analyze()
    finally:
        await database.dispose()
    times: dict[str, list[float]] = {}
    async with command_ctx(settings) as ctx:
        db = ctx.db
        member_id = (await members.list_members(db))[0].id
        for round_ in range(repeats + 1):
            for mode in (UnreadMode.team, UnreadMode.member):
                await set_unread_mode(db, mode)
                await db.flush()

                async def first() -> None:
                    query = InboxQuery(view=View.unread, limit=PAGE)
                    await repository.list_conversations(db, member_id=member_id, query=query)

                async def second() -> None:
                    query = InboxQuery(view=View.unread, limit=PAGE)
                    page = await repository.list_conversations(db, member_id=member_id, query=query)
                    if page.next_cursor is None:  # a tiny size: one page holds them all
                        return
                    query = InboxQuery(
                        view=View.unread, limit=PAGE, cursor=Cursor.decode(page.next_cursor)
                    )
                    await repository.list_conversations(db, member_id=member_id, query=query)

                async def total() -> None:
                    await repository.unread_total(db, member_id=member_id)

                for name, work in (("first page", first), ("pages 1+2", second), ("total", total)):
                    seconds = await _timed(work)
                    if round_:  # the first round warms the caches
                        times.setdefault(f"{name}, {mode.value}", []).append(seconds)
        await db.rollback()
    return {name: statistics.median(values) for name, values in times.items()}


def report(size: int, figures: dict[str, float]) -> str:
    lines = [f"| 未確認 at {size:,} contacts | team | member |", "|---|---|---|"]
    for name in ("first page", "pages 1+2", "total"):
        team, member = figures[f"{name}, team"], figures[f"{name}, member"]
        lines.append(f"| {name} | {team * 1000:,.1f} ms | {member * 1000:,.1f} ms |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=positive, default=100_000)
    parser.add_argument("--repeats", type=positive, default=20)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    with scratch_settings(options.database_url, "unread") as settings:
        figures = asyncio.run(measure(settings, options.size, options.repeats))
    print(report(options.size, figures))


if __name__ == "__main__":
    main()
