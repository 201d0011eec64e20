"""The embedded database's driver (kit/sqlite.py): one trip to aiosqlite's thread per statement,
with results, errors and transactions exactly as SQLAlchemy expects them."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Integer,
    Text,
    column,
    select,
    table,
    text,
)
from sqlalchemy.exc import IntegrityError

from madoguchi.kit import direct
from madoguchi.kit import sqlite as sqlite_driver
from madoguchi.kit.db import Database, in_ids
from madoguchi.kit.sqlite import PREFETCH
from tests.test_direct import TYPED, _typed


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


async def test_a_writer_s_small_statements_run_on_the_loop_while_it_asks(
    scratch: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: list[str] = []
    execute = sqlite_driver.QuickConnection._execute

    async def counted(self: sqlite_driver.QuickConnection, function: Any, *args: Any) -> Any:
        what = args[0] if args and isinstance(args[0], str) else function.__name__
        trips.append(what.upper())
        return await execute(self, function, *args)

    monkeypatch.setattr(sqlite_driver.QuickConnection, "_execute", counted)
    async with scratch.write_sessions() as session:
        async with direct.direct_writes(session):
            await session.execute(text("INSERT INTO t (n, label) VALUES (-7, 'inline')"))
            await session.execute(text("UPDATE t SET label = 'moved' WHERE n = -7"))
            assert await session.scalar(text("SELECT label FROM t WHERE n = -7")) == "moved"
            await session.commit()
        # COMMIT (it may checkpoint) went to the thread; BEGIN IMMEDIATE (the lock was free),
        # the INSERT, the UPDATE and the read did not.
        assert trips == ["COMMIT"]
        await session.execute(text("INSERT INTO t (n, label) VALUES (-8, 'thread')"))
        assert trips[-1].startswith("INSERT")  # after the block: to the thread, as before
        await session.commit()
    # What failed inside the block fails as SQLite's own error, and the flag goes back.
    async with scratch.write_sessions() as session:
        with pytest.raises(IntegrityError):
            async with direct.direct_writes(session):
                await session.execute(text("INSERT INTO t (n, label) VALUES (-9, 'row 1')"))
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, sqlite_driver.QuickConnection)
        assert driver.inline_writes is False
        await session.rollback()
    # A reader's session holds no lock: its writes stay in the thread (they may wait there).
    trips.clear()
    async with scratch.read_sessions() as session:
        async with direct.direct_writes(session):
            await session.execute(text("UPDATE t SET label = 'read' WHERE n = -100"))
        assert trips and trips[-1].startswith("UPDATE")
        await session.rollback()
    async with scratch.read_sessions() as session:
        labels = (await session.execute(text("SELECT label FROM t WHERE n < -6 ORDER BY n"))).all()
        assert [label for (label,) in labels] == ["thread", "moved"]


def _note_commit(threads: list[int], sql: str) -> None:
    if sql.startswith("COMMIT"):
        threads.append(threading.get_ident())


async def test_where_checkpoints_are_done_apart_an_inline_writer_commits_on_the_loop(
    tmp_path: Path,
) -> None:
    """A commit that may checkpoint the log goes to the connection's thread; where commits
    never checkpoint (the serving process's database), an inline writer's runs on the loop."""
    for apart in (False, True):
        database = Database(
            f"sqlite+aiosqlite:///{tmp_path / f'{apart}.db'}", checkpoints_apart=apart
        )
        try:
            async with database.write_sessions() as session:
                await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
                await session.commit()
            committed_in: list[int] = []
            async with database.write_sessions() as session:
                async with direct.direct_writes(session):
                    raw = (
                        await (await session.connection()).get_raw_connection()
                    ).driver_connection
                    assert isinstance(raw, sqlite_driver.QuickConnection)
                    pragma = raw._conn.execute("PRAGMA wal_autocheckpoint").fetchone()
                    assert pragma == ((0,) if apart else (1000,))
                    raw._conn.set_trace_callback(partial(_note_commit, committed_in))
                    await session.execute(text("INSERT INTO t (n) VALUES (1)"))
                    await session.commit()
                raw._conn.set_trace_callback(None)
            on_loop = committed_in == [threading.get_ident()]
            assert on_loop is apart, (apart, committed_in)
            async with database.read_sessions() as session:
                assert await session.scalar(text("SELECT count(*) FROM t")) == 1
        finally:
            await database.dispose()


async def test_a_checkpoint_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "apart.db"
    database = Database(f"sqlite+aiosqlite:///{path}", checkpoints_apart=True)

    def in_the_file() -> int:
        # The database file alone, without its log: what checkpoints copied there.
        with contextlib.closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as file:
            return int(file.execute("SELECT count(*) FROM t").fetchone()[0])

    try:
        async with database.write_sessions() as session:
            await session.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, label TEXT)"))
            await session.commit()
        await database.checkpoint()
        # More than SQLite's own threshold (a thousand pages): no commit copied any of it.
        async with database.write_sessions() as session:
            await session.execute(
                text("INSERT INTO t (n, label) VALUES (:n, :label)"),
                [{"n": n, "label": "x" * 3000} for n in range(2000)],
            )
            await session.commit()
        assert in_the_file() == 0
        busy, frames, copied = await database.checkpoint()
        assert (busy, copied) == (0, frames) and frames > 1000
        assert in_the_file() == 2000
        # Kept on a timer until stopped, and once more then.
        async with database.write_sessions() as session:
            await session.execute(text("INSERT INTO t (n, label) VALUES (-1, 'last')"))
            await session.commit()
        stop = asyncio.Event()
        stop.set()
        await database.keep_checkpointing(stop)
        assert in_the_file() == 2001
    finally:
        await database.dispose()


async def test_a_connection_given_back_inside_the_block_writes_inline_no_more(
    scratch: Database,
) -> None:
    async with scratch.write_sessions() as session, direct.direct_writes(session):
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert isinstance(driver, sqlite_driver.QuickConnection) and driver.inline_writes
        # A rollback inside the block (a batch taken again message by message) gives the
        # connection back to the pool, where another session may take it without the lock.
        await session.rollback()
        assert driver.inline_writes is False
        # The session's next transaction takes SQLAlchemy's way, in the thread.
        assert await direct.run_direct(session, text("SELECT 1"), None) is None
        await session.execute(text("INSERT INTO t (n, label) VALUES (-11, 'after')"))
        await session.commit()
    async with scratch.read_sessions() as session:
        assert await session.scalar(text("SELECT label FROM t WHERE n = -11")) == "after"


async def test_a_writer_waits_for_the_lock_in_the_thread_while_the_loop_goes_on(
    scratch: Database,
) -> None:
    async with scratch.write_sessions() as holder:
        await holder.execute(text("INSERT INTO t (n, label) VALUES (-20, 'first')"))
        ticks = 0

        async def ticking() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async def second() -> None:
            async with scratch.write_sessions() as session:
                # BEGIN IMMEDIATE finds the lock taken: it waits in the thread, not on the loop.
                await session.execute(text("INSERT INTO t (n, label) VALUES (-21, 'second')"))
                await session.commit()

        ticker = asyncio.create_task(ticking())
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not waiting.done() and ticks >= 10  # the loop went on meanwhile
        await holder.commit()
        await asyncio.wait_for(waiting, 10)
        ticker.cancel()
    async with scratch.read_sessions() as session:
        rows = await session.execute(text("SELECT label FROM t WHERE n IN (-20, -21) ORDER BY n"))
        assert [label for (label,) in rows] == ["second", "first"]


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("2026-03-02 10:00:00.123456", datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2026-03-02 10:00:00", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),  # CURRENT_TIMESTAMP's
        ("2026-03-02T10:00:00.5", datetime(2026, 3, 2, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2026-03-02 19:00:00+09:00", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),  # a zone: kept
        (None, None),
    ],
)
async def test_a_timestamp_stored_as_text_reads_as_the_same_utc_time(
    scratch: Database, stored: str | None, read: datetime | None
) -> None:
    """SQLite's text of a timestamp reads as that time in UTC, aware: as SQLAlchemy's own
    reading gave it, in one step (the usual form), or SQLAlchemy's way (any other)."""
    async with scratch.write_sessions() as session:
        await session.run_sync(lambda sync: _typed.create_all(sync.connection()))
        await session.execute(
            text("INSERT INTO typed (id, at, flag) VALUES (1, :at, 0)"), {"at": stored}
        )
        found = await session.scalar(select(TYPED.c.at))
    assert found == read
    assert found is None or found.tzinfo is UTC


async def test_ids_given_as_one_parameter_find_their_rows_with_the_primary_key(
    scratch: Database,
) -> None:
    """``in_ids``: the rows of the ids given (none for none), as one JSON parameter, read by
    the primary key; a condition as it is, not compared with 1 (which no index serves)."""
    rows = table("t", column("n", Integer), column("label", Text))
    statement = select(rows.c.label).where(in_ids(rows.c.n, "ids")).order_by(rows.c.n)
    async with scratch.read_sessions() as session:
        assert list(await session.scalars(statement, {"ids": [3, 1, 3, 999_999]})) == [
            "row 1",
            "row 3",
        ]
        assert list(await session.scalars(statement, {"ids": []})) == []
        connection = await session.connection()
        sql = str(statement.compile(connection.sync_connection))
        assert "= 1" not in sql
        plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", ("[1]",))
        assert any("INTEGER PRIMARY KEY" in row[-1] for row in plan)
