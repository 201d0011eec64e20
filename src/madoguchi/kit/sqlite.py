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
go of a read snapshot, or drops what was written: nothing was committed to the log). Everything
that may wait for a lock or the disk (a statement, ``BEGIN IMMEDIATE``, ``COMMIT``) still runs in
the thread.

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

CHUNK = 64
# Rows fetched with the statement; a longer result is fetched on as it is read.
PREFETCH = 500


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

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> QuickCursor:
        if sql == "BEGIN":
            # Deferred: SQLite takes no lock and reads nothing until the first statement.
            self._cursor.execute(sql)
            self._fetched, self._more = [], False
            return self
        self._fetched, self._more = await self._execute(  # type: ignore[no-untyped-call]
            self._run, sql, [] if parameters is None else parameters
        )
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
