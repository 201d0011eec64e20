"""aiosqlite with fewer trips to its thread.

aiosqlite runs every call on a connection in a thread of its own and hands the result back to the
event loop: a few tenths of a millisecond per trip on a busy machine. SQLAlchemy makes four trips
per statement (open a cursor, execute, fetch the rows, close the cursor), and a transaction two
more (BEGIN, ROLLBACK), so a one-statement request spent more time travelling between threads
than in SQLite (issue 14: ``/healthz`` was 2.1× a bare route).

Here a statement is one trip: executing it and fetching its rows happen together in the thread.
What cannot wait on anything runs on the event loop's own thread at once: making and closing a
cursor (no SQLite call), a deferred ``BEGIN`` (SQLite takes no lock until the first read), handing
over the rows already fetched, and ROLLBACK (it only lets
go of a read snapshot, or drops what was written: nothing was committed to the log). A read and a
writer's ``BEGIN IMMEDIATE`` are tried there without waiting (busy timeout 0): one that would
wait for a lock goes to the thread. Everything else that may wait for a lock or the disk (a
write, ``COMMIT``) still runs in the thread.

A writer that holds SQLite's write lock already (``BEGIN IMMEDIATE`` went through) and
runs only small statements (the intake's batch of inbound messages: a few rows each) may run
its statements on the loop too (``kit.direct.direct_writes``): no statement of such a
transaction can wait for a lock, and the trip to the thread cost more than SQLite's work
(~0.1 ms of CPU per statement against ~0.03; issue 14's ingest). Its ``COMMIT`` goes to the
thread where it may checkpoint the log (copy it into the database file); where checkpoints
are done apart (``kit.db.Database`` of the serving process), it only appends to the log, and
runs on the loop too.

SQLAlchemy uses a connection for one thing at a time (its adapter awaits each call under a
mutex), and SQLite's connections are serialized by SQLite itself, so the two threads never use
the connection at once, and if they did SQLite would make one wait.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager
from sqlalchemy.ext.asyncio import AsyncEngine

CHUNK = 64
# Rows fetched with the statement; a longer result is fetched on as it is read.
PREFETCH = 500
# A read runs on the loop for at most this many of SQLite's virtual machine steps (a few
# milliseconds), counted in slices of STEPS_PER_CHECK; past it, it is run again in the thread,
# and that statement goes to the thread from then on.
STEPS_PER_CHECK = 10_000
INLINE_STEPS = 500_000
# The loop's thread never waits for a lock: a read that would wait goes to the thread instead.
BUSY_TIMEOUT_MS = 30_000
# Statements seen to take longer than INLINE_STEPS (forgotten all at once when this many).
LONG_READS_KEPT = 1_000
_long_reads: set[str] = set()


class _TooLong(Exception):
    """A read stopped on the loop: it is run again in the thread."""


def _is_read(sql: str) -> bool:
    return sql[:6].upper() == "SELECT" and sql not in _long_reads


def _is_small_write(sql: str) -> bool:
    """A statement of a writer's that may run on the loop (``kit.direct``): not a read (a
    read runs there in slices, or in the thread when long), not BEGIN (it waits for the lock),
    not COMMIT (it may checkpoint the log); one that begins with a CTE, in doubt, neither."""
    return not sql.lstrip()[:6].upper().startswith(("SELECT", "WITH", "BEGIN", "COMMIT", "END"))


class QuickCursor(aiosqlite.Cursor):
    """A cursor whose execute also fetches the first rows, in the same trip to the thread; a
    longer result (a streamed export) is fetched on from the thread as it is read."""

    def __init__(self, conn: aiosqlite.Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._fetched: list[Any] = []
        self._more = False

    def _run(self, sql: str, parameters: Any) -> tuple[list[Any], bool]:
        self._cursor.execute(sql, parameters)
        if not self._cursor.description:
            return [], False
        rows = self._cursor.fetchmany(PREFETCH)
        return rows, len(rows) == PREFETCH

    def _run_here(self, sql: str, parameters: Any) -> tuple[list[Any], bool]:
        """A read on the loop's thread: never waiting for a lock (busy timeout 0) and stopped
        after INLINE_STEPS (a SELECT has no effects, so it can simply be run again)."""
        connection = self._cursor.connection
        checks = INLINE_STEPS // STEPS_PER_CHECK

        def spend() -> int:
            nonlocal checks
            checks -= 1
            return checks < 0

        connection.set_progress_handler(spend, STEPS_PER_CHECK)
        # An inline writer's transaction (BEGIN IMMEDIATE) holds its snapshot and the write lock
        # already: none of its reads can wait for a lock, and it is spared the two PRAGMAs (a
        # batch of inbound messages reads a dozen times).
        waits = not self._conn.inline_writes  # type: ignore[attr-defined]
        if waits:
            connection.execute("PRAGMA busy_timeout = 0")
        try:
            return self._run(sql, parameters)
        except sqlite3.OperationalError as error:
            if checks < 0:
                if len(_long_reads) >= LONG_READS_KEPT:
                    _long_reads.clear()
                _long_reads.add(sql)
                raise _TooLong from None
            if "locked" in str(error) or "busy" in str(error):
                raise _TooLong from None
            raise
        finally:
            connection.set_progress_handler(None, 0)
            if waits:
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> QuickCursor:
        if sql == "BEGIN":
            # Deferred: SQLite takes no lock and reads nothing until the first statement.
            self._cursor.execute(sql)
            self._fetched, self._more = [], False
            return self
        values = [] if parameters is None else parameters
        # A writer's BEGIN IMMEDIATE is tried on the loop as a read is, without waiting: the
        # lock is free nearly always, and when it is not, it is waited for in the thread.
        if _is_read(sql) or sql == "BEGIN IMMEDIATE":
            try:
                self._fetched, self._more = self._run_here(sql, values)
                return self
            except _TooLong:
                pass
        elif self._conn.inline_writes and _is_small_write(sql):  # type: ignore[attr-defined]
            self._fetched, self._more = self._run(sql, values)
            return self
        self._fetched, self._more = await self._execute(  # type: ignore[no-untyped-call]
            self._run, sql, values
        )
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> QuickCursor:
        """Many rows' statement (an ``insert()`` of several rows, ``_update_each``'s updates):
        on the loop for an inline writer, as its one-row statements are; in the thread
        otherwise."""
        self._fetched, self._more = [], False
        if self._conn.inline_writes and _is_small_write(sql):  # type: ignore[attr-defined]
            self._cursor.executemany(sql, parameters)  # type: ignore[arg-type]
        else:
            await self._execute(self._cursor.executemany, sql, parameters)  # type: ignore[no-untyped-call]
        return self

    async def fetchall(self) -> Iterable[sqlite3.Row]:
        rows, self._fetched = self._fetched, []
        if self._more:
            self._more = False
            rows.extend(await super().fetchall())
        return rows

    async def fetchone(self) -> sqlite3.Row | None:
        rows = list(await self.fetchmany(1))
        return rows[0] if rows else None

    async def fetchmany(self, size: int | None = None) -> Iterable[sqlite3.Row]:
        count = self._cursor.arraysize if size is None else size
        if len(self._fetched) < count and self._more:
            more = list(await super().fetchmany(max(count, PREFETCH)))
            self._more = bool(more)
            self._fetched.extend(more)
        rows, self._fetched = self._fetched[:count], self._fetched[count:]
        return rows

    async def close(self) -> None:
        self._fetched, self._more = [], False
        self._cursor.close()


class QuickConnection(aiosqlite.Connection):
    """An aiosqlite connection making its cursors, and rolling back, on the loop's thread."""

    # Every statement but BEGIN (and COMMIT, unless it cannot checkpoint) on the loop's thread
    # while set (``kit.direct.direct_writes``).
    inline_writes = False
    # Its commits never checkpoint the log (``kit.db.Database``'s ``checkpoints_apart``).
    checkpoints_apart = False

    @contextmanager
    async def cursor(self) -> QuickCursor:  # type: ignore[override]
        return QuickCursor(self, self._conn.cursor())

    async def ping(self) -> None:
        """One trip to the thread and SQLite: the health check."""
        await self._execute(self._ping)  # type: ignore[no-untyped-call]

    def _ping(self) -> None:
        self._conn.execute("SELECT 1").fetchone()

    async def rollback(self) -> None:
        # A rollback never waits for a lock; in WAL mode it writes nothing either (what the
        # transaction wrote was never committed to the log, and is simply dropped).
        self._conn.rollback()

    async def commit(self) -> None:
        # An inline writer holds the write lock, and a commit that cannot checkpoint only
        # appends its pages to the log (synchronous=NORMAL: no sync): on the loop, without the
        # trip to the thread. Otherwise it may copy the log into the database file: the thread.
        if self.inline_writes and self.checkpoints_apart:
            self._conn.commit()
            return
        await super().commit()

    async def checkpoint(self) -> tuple[int, int, int]:
        """A PASSIVE checkpoint of the log, in the thread: (busy, frames, frames copied)."""
        answer: tuple[int, int, int] = await self._execute(self._checkpoint)  # type: ignore[no-untyped-call]
        return answer

    def _checkpoint(self) -> tuple[int, int, int]:
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(busy), int(frames), int(copied)


def connector(path: str, *, timeout: float) -> Callable[[], Awaitable[QuickConnection]]:
    """SQLAlchemy's ``async_creator`` for the database file at ``path``."""

    async def connect() -> QuickConnection:
        connection = QuickConnection(
            # The loop's thread uses the connection too (see above); SQLite serializes.
            lambda: sqlite3.connect(path, timeout=timeout, check_same_thread=False),
            CHUNK,
        )
        connection._thread.daemon = True
        await connection
        return connection

    return connect


def given_back(driver: object) -> None:
    """A connection back in the pool writes inline no more: the block that set it may still be
    open (a rollback inside it let the connection go), and whoever takes it next has not the
    write lock (``kit.db`` calls this at every check-in)."""
    if isinstance(driver, QuickConnection):
        driver.inline_writes = False


def is_sqlite_writer(engine: object) -> bool:
    """Whether ``engine``'s transactions begin as SQLite writers, holding the write lock from
    their first statement (``kit.db.writer_engine``: ``BEGIN IMMEDIATE``)."""
    return (
        isinstance(engine, AsyncEngine)
        and engine.dialect.name == "sqlite"
        and engine.get_execution_options().get("sqlite_begin") == "IMMEDIATE"
    )


async def execute_inline(
    driver: QuickConnection, sql: str, values: list[list[Any]], many: bool
) -> tuple[list[Any], Any, int]:
    """A statement of an inline writer (``kit.direct``) straight through SQLite, as
    ``QuickCursor`` runs it: its rows, its description and how many rows it changed; SQLite's
    own error raised."""
    cursor = QuickCursor(driver, driver._conn.cursor())
    try:
        if many:
            await cursor.executemany(sql, values)
        else:
            await cursor.execute(sql, values[0])
        rows: list[Any] = list(await cursor.fetchall())
        return rows, cursor._cursor.description, cursor._cursor.rowcount
    finally:
        await cursor.close()
