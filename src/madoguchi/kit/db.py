"""Database plumbing: the declarative base, column types, engines and sessions."""

from __future__ import annotations

import hashlib
import weakref
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, Table, event, func, make_url, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

from madoguchi.kit import sqlite

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def create_engine(
    url: str, *, pool: bool = True, foreign_keys: bool = True, pool_size: int | None = None
) -> AsyncEngine:
    """An engine; SQLite gets WAL, foreign keys, a busy timeout and explicit BEGIN handling.

    ``foreign_keys=False`` is for migrations only: SQLite rebuilds a table to alter it, and
    dropping the old copy with foreign keys on would cascade into its children.
    """
    kwargs: dict[str, Any] = {}
    if not pool:
        kwargs["poolclass"] = NullPool
    elif pool_size is not None:
        kwargs.update(pool_size=pool_size, max_overflow=0)
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        engine = create_async_engine(
            url, async_creator=sqlite.connector(path, timeout=30), **kwargs
        )
        _configure_sqlite(engine, foreign_keys=foreign_keys)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is switched off so that we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA busy_timeout=30000")
        # NORMAL in WAL mode survives a killed process; only a power cut can lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: a deferred transaction upgrading to a writer can fail
        # with "database is locked" at once, without waiting for the busy timeout.
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def writer_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, but transactions begin as writers (BEGIN IMMEDIATE on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


class Database:
    """The engine and two session factories: readers and writers."""

    def __init__(self, url: str, *, pool: bool = True) -> None:
        self.engine = create_engine(url, pool=pool)
        self.read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.write_sessions = async_sessionmaker(writer_engine(self.engine), expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        side = _side_engines.pop(self.engine.sync_engine.pool, None)
        if side is not None:
            await side.dispose()
        await self.engine.dispose()

    async def ping(self) -> None:
        """Ask the database for ``SELECT 1`` outside any transaction: one round trip (one trip
        to SQLite's thread), without the cost of a session. Raises when it does not answer."""
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            if isinstance(driver, sqlite.QuickConnection):
                await driver.ping()
            elif driver is not None:  # asyncpg's own connection: no transaction begun for it
                await driver.fetchval("SELECT 1")
            else:
                raise RuntimeError("the database connection is closed")

    async def analyze(self) -> None:
        """Refresh the planner's statistics (a quick sample on SQLite), so that lists keep
        walking the right index as the data grows. PostgreSQL's autovacuum does this too."""
        async with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                await connection.exec_driver_sql("PRAGMA analysis_limit=1000")
            await connection.exec_driver_sql("ANALYZE")
            await connection.commit()


async def one_at_a_time(session: AsyncSession, key: str) -> None:
    """Until this transaction ends, no other one passes here with the same ``key`` (a person on
    a channel, say). PostgreSQL: a transaction-level advisory lock; SQLite has one writer at a
    time already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:n)"), {"n": number})


# Each engine's side pool (side_engine), by the engine's pool.
_side_engines: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()
SIDE_POOL_SIZE = 2


def side_engine(engine: AsyncEngine) -> AsyncEngine:
    """A small pool beside ``engine``'s, for a short write a request makes apart from its own
    transaction (noting an API token's use). Taken from the request's own pool, many requests
    each holding one connection and waiting for a second could hold all of it, and wait for
    each other until the pool's timeout (seen with 250 WebSockets opening at once)."""
    key = engine.sync_engine.pool
    side = _side_engines.get(key)
    if side is None:
        url = engine.url.render_as_string(hide_password=False)
        side = create_engine(url, pool_size=SIDE_POOL_SIZE)
        _side_engines[key] = side
    return side


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "AsyncSession",
    "Base",
    "Database",
    "JSONType",
    "UTCDateTime",
    "create_engine",
    "utcnow",
]


async def counts_by(db: AsyncSession, column: InstrumentedAttribute[Any]) -> dict[int, int]:
    """How many rows hold each value of ``column`` (for 「N人が使っています」)."""
    rows = await db.execute(
        select(column, func.count()).where(column.is_not(None)).group_by(column)
    )
    return {int(value): int(count) for value, count in rows}


async def reserve_ids(db: AsyncSession, table: Table, count: int) -> list[int]:
    """``count`` fresh ids for ``table``, never used before (the search index is keyed on
    them), for rows written in bulk that need their ids first (the demo loader, a broadcast)."""
    if count == 0:
        return []
    name = table.name
    if db.get_bind().dialect.name == "sqlite":
        # The writer transaction holds the database lock: the block after the highest id ever
        # given out is ours, and inserting it moves sqlite_sequence past it.
        top = await db.scalar(
            text(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = :name), 0), "
                f"coalesce((SELECT max(id) FROM {name}), 0))"
            ),
            {"name": name},
        )
        start = int(top or 0) + 1
        return list(range(start, start + count))
    rows = await db.scalars(
        text(f"SELECT nextval(pg_get_serial_sequence('{name}', 'id')) FROM generate_series(1, :n)"),
        {"n": count},
    )
    return [int(row) for row in rows]
