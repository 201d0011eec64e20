"""The embedded database's driver (kit/sqlite.py): one trip to aiosqlite's thread per statement,
with results, errors and transactions exactly as SQLAlchemy expects them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from madoguchi.kit import sqlite as sqlite_driver
from madoguchi.kit.db import Database
from madoguchi.kit.sqlite import PREFETCH


@pytest.fixture
async def scratch(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
    async with database.write_sessions() as session:
        await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, label TEXT UNIQUE)"))
        await session.execute(
            text("INSERT INTO t (n, label) VALUES (:n, :label)"),
            [{"n": n, "label": f"row {n}"} for n in range(PREFETCH * 3 + 7)],
        )
        await session.commit()
    yield database
    await database.dispose()


async def test_a_result_longer_than_the_prefetch_comes_whole_and_in_order(
    scratch: Database,
) -> None:
    async with scratch.read_sessions() as session:
        every = (await session.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert every == list(range(PREFETCH * 3 + 7))
        one = (await session.execute(text("SELECT n FROM t WHERE n = 5"))).scalar_one()
        assert one == 5
        none = (await session.execute(text("SELECT n FROM t WHERE n < 0"))).first()
        assert none is None


async def test_a_streamed_result_is_read_in_parts(scratch: Database) -> None:
    async with scratch.read_sessions() as session:
        result = await session.stream(
            text("SELECT n FROM t ORDER BY n"), execution_options={"yield_per": 100}
        )
        seen = [n async for n in result.scalars()]
    assert seen == list(range(PREFETCH * 3 + 7))


async def test_errors_and_rollbacks_behave_as_sqlite_s_own(scratch: Database) -> None:
    async with scratch.write_sessions() as session:
        await session.execute(text("INSERT INTO t (n, label) VALUES (-1, 'new')"))
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO t (n, label) VALUES (-2, 'row 1')"))
        await session.rollback()
    async with scratch.read_sessions() as session:
        kept = await session.scalar(text("SELECT count(*) FROM t WHERE n < 0"))
    assert kept == 0  # the rolled-back insert is gone

    async with scratch.write_sessions() as session:
        await session.execute(text("UPDATE t SET label = 'changed' WHERE n = 1"))
        await session.commit()
    async with scratch.read_sessions() as session:
        assert await session.scalar(text("SELECT label FROM t WHERE n = 1")) == "changed"


async def test_a_reader_keeps_its_snapshot_while_a_writer_commits(scratch: Database) -> None:
    async with scratch.read_sessions() as reader:
        before = await reader.scalar(text("SELECT count(*) FROM t"))
        async with scratch.write_sessions() as writer:
            await writer.execute(text("DELETE FROM t WHERE n < 10"))
            await writer.commit()
        assert await reader.scalar(text("SELECT count(*) FROM t")) == before
    async with scratch.read_sessions() as later:
        assert await later.scalar(text("SELECT count(*) FROM t")) == before - 10


async def ticking(stop: asyncio.Event, ticks: list[int]) -> None:
    while not stop.is_set():
        ticks.append(1)
        await asyncio.sleep(0.01)


async def test_a_long_read_is_finished_in_the_thread_and_sent_there_next_time(
    scratch: Database,
) -> None:
    long_read = (
        "SELECT (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 300000) SELECT count(*) FROM c)"
    )
    assert long_read not in sqlite_driver._long_reads
    stop, ticks = asyncio.Event(), list[int]()
    ticker = asyncio.create_task(ticking(stop, ticks))
    async with scratch.read_sessions() as session:
        assert await session.scalar(text(long_read)) == 300000
        stop.set()
        await ticker
        assert long_read in sqlite_driver._long_reads
        assert await session.scalar(text(long_read)) == 300000
        # And the quick ones still come from the loop, with the busy timeout put back.
        assert await session.scalar(text("SELECT count(*) FROM t WHERE n < 3")) == 3
        assert await session.scalar(text("PRAGMA busy_timeout")) == sqlite_driver.BUSY_TIMEOUT_MS


async def test_a_long_read_inside_a_write_keeps_the_write(scratch: Database) -> None:
    long_read = (
        "SELECT (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 300001) SELECT count(*) FROM c)"
    )
    async with scratch.write_sessions() as session:
        await session.execute(text("INSERT INTO t (n, label) VALUES (-5, 'kept')"))
        assert await session.scalar(text(long_read)) == 300001  # stopped on the loop, rerun
        await session.commit()
    async with scratch.read_sessions() as session:
        assert await session.scalar(text("SELECT label FROM t WHERE n = -5")) == "kept"
