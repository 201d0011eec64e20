"""Database plumbing: the declarative base, column types, engines and sessions."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any, TypeAlias, TypeVar, cast
from uuid import UUID

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    DateTime,
    Insert,
    MetaData,
    Row,
    Select,
    Table,
    Text,
    TextClause,
    any_,
    bindparam,
    event,
    func,
    insert,
    literal_column,
    make_url,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import ARRAY, BIT, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, make_transient_to_detached
from sqlalchemy.orm.attributes import (
    instance_dict,
    instance_state,
    manager_of_class,
    set_committed_value,
)
from sqlalchemy.orm.util import identity_key
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator

from madoguchi.kit import direct, sqlite

_M = TypeVar("_M")
log = logging.getLogger(__name__)

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
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """On SQLite, the stored text read as UTC in one step: parsed, then given its zone by
        ``replace``, a page's hundred timestamps cost a third of its line statement (issue 14).
        Text it does not read (none of ours) goes the general way."""
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or general is None:
            return general
        parse = datetime.fromisoformat

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, str) and len(value) <= 26:
                try:
                    return parse(value + "+00:00")
                except ValueError:
                    pass
            return general(value)

        return process


JSONType = JSON().with_variant(JSONB(), "postgresql")


class IdList(TypeDecorator[list[int]]):
    """A list of ids as one parameter: a JSON array on SQLite (read with ``json_each``), an
    array on PostgreSQL. See ``in_ids``."""

    impl = Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(BigInteger()))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Sequence[int] | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        ids = [int(ident) for ident in value]
        return ids if dialect.name == "postgresql" else "[" + ",".join(map(str, ids)) + "]"


class PerDialect(ColumnElement[Any]):
    """One expression where SQLite and PostgreSQL each need their own (``per_dialect``)."""

    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own declaration
        ("sqlite", InternalTraversal.dp_clauseelement),
        ("postgresql", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, sqlite: ColumnElement[Any], postgresql: ColumnElement[Any]) -> None:
        self.sqlite, self.postgresql = sqlite, postgresql
        self.type = sqlite.type
        # A condition stays one as it is (SQLite would otherwise compare it with 1, and no
        # index serves "… = 1").
        self._is_implicitly_boolean = sqlite._is_implicitly_boolean


@compiles(PerDialect)
def _per_dialect(element: PerDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.sqlite, **kw))


@compiles(PerDialect, "postgresql")
def _per_dialect_postgresql(element: PerDialect, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.postgresql, **kw))


def per_dialect(*, sqlite: ColumnElement[_M], postgresql: ColumnElement[Any]) -> ColumnElement[_M]:
    """``sqlite`` on SQLite, ``postgresql`` on PostgreSQL: one element for a statement built
    once and run on either (its type is the SQLite expression's)."""
    return cast(ColumnElement[_M], PerDialect(sqlite, postgresql))


class Bits(TypeDecorator[str]):
    """PostgreSQL's bit(``length``), given as text as PostgreSQL reads a bit string (X and its
    hex digits, or its 0s and 1s) and read back as its 0s and 1s; text on SQLite."""

    impl = Text
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def bind_expression(self, bindvalue: BindParameter[str]) -> ColumnElement[str]:
        return per_dialect(sqlite=bindvalue, postgresql=sql_cast(bindvalue, BIT(self.length)))


def in_ids(column: Any, name: str) -> ColumnElement[bool]:
    """``column`` among the ids given as the parameter ``name`` (a list), bound as one value
    (IdList): SQLite reads it with ``json_each``, PostgreSQL with ``= ANY``. An expanding IN
    list is written out again by SQLAlchemy at every execution, one parameter per id: a sixth
    of the inbox page's reads for its 50 ids (issue 14)."""
    ids = bindparam(name, type_=IdList())
    return per_dialect(
        sqlite=column.in_(select(literal_column("value")).select_from(func.json_each(ids))),
        postgresql=column == any_(ids),
    )


# How often the serving process checkpoints SQLite's log (Database.keep_checkpointing).
CHECKPOINT_EVERY = 1.0

# SQLite's connections kept open (each has a thread of its own), and how many more concurrent
# requests may open and close.
SQLITE_POOL_SIZE = 20
SQLITE_POOL_OVERFLOW = 20


def create_engine(
    url: str,
    *,
    pool: bool = True,
    foreign_keys: bool = True,
    pool_size: int | None = None,
    checkpoints_apart: bool = False,
) -> AsyncEngine:
    """An engine; SQLite gets WAL, foreign keys, a busy timeout and explicit BEGIN handling.

    ``foreign_keys=False`` is for migrations only: SQLite rebuilds a table to alter it, and
    dropping the old copy with foreign keys on would cascade into its children.
    ``checkpoints_apart``: SQLite's commits never checkpoint the log (``Database.checkpoint``
    does, in a thread: see ``Database``).
    """
    kwargs: dict[str, Any] = {}
    if not pool:
        kwargs["poolclass"] = NullPool
    elif pool_size is not None:
        kwargs.update(pool_size=pool_size, max_overflow=0)
    if url.startswith("sqlite"):
        if pool and pool_size is None:
            # A connection beyond the pool is closed when given back, and a new one costs a
            # thread and the pragmas: with eight concurrent requests over SQLAlchemy's default
            # five, opening them was ~4 % of the server's profile (issue 14).
            kwargs.update(pool_size=SQLITE_POOL_SIZE, max_overflow=SQLITE_POOL_OVERFLOW)
        path = make_url(url).database or ""
        engine = create_async_engine(
            url, async_creator=sqlite.connector(path, timeout=30), **kwargs
        )
        _configure_sqlite(engine, foreign_keys=foreign_keys, checkpoints_apart=checkpoints_apart)
        return engine
    # JIT compiles a statement whose estimated cost is high, and the inbox's walks are
    # estimated as if they read whole indexes while they stop after a page: 未確認 searched
    # for 予約 at a million spent 149 ms compiling a statement that ran in 7 (issue 14). Every
    # statement of ours is short; none is worth compiling.
    kwargs["connect_args"] = {"server_settings": {"jit": "off"}}
    engine = create_async_engine(url, **kwargs)
    _ping_after_idle(engine)
    return engine


# A pooled connection given back this long ago is pinged before it is used again; one used
# more recently is taken as it is. SQLAlchemy's pool_pre_ping pinged at every checkout: with
# asyncpg a ping is three round trips (BEGIN, an empty statement, ROLLBACK), ~0.4 ms of every
# request on PostgreSQL here (bench.run: /healthz 2.25 -> 1.81 ms). A server that restarted
# meanwhile is found all the same: its connections sat idle for longer than that, and a
# connection that fails in use is a disconnect SQLAlchemy recognises, which empties the pool.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_after_idle(engine: AsyncEngine) -> None:
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def given_back(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            # ``info`` lives as long as the DBAPI connection: a new one starts without it.
            record.info["given_back"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        given_back = record.info.get("given_back")
        if given_back is None or time.monotonic() - given_back < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool closes it and takes another (up to three tries).
            raise DisconnectionError(f"a pooled connection no longer answers: {error}") from error


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool, checkpoints_apart: bool) -> None:
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
        if checkpoints_apart:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            dbapi_connection.driver_connection.checkpoints_apart = True
        cursor.close()

    @event.listens_for(sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            sqlite.given_back(record.driver_connection)

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


def table_of(model: type[Any]) -> Table:
    """A mapped class's table, for Core statements: the session runs them as plain SQL, where
    a statement naming the class goes through the ORM (~3x the Python per statement)."""
    return cast(Table, model.__table__)


@cache
def insert_into(table: Table) -> Insert:
    """``insert(table)``, built once: a writer's batch runs a dozen of them, and building
    one (and its cache key) costs more than SQLite's work for its rows."""
    return insert(table)


class Session(AsyncSession):
    """The app's session: a writer's plain statements run straight through the driver inside
    ``kit.direct.direct_writes``."""

    async def execute(
        self,
        statement: Any,
        params: Any = None,
        *,
        execution_options: Any = None,
        bind_arguments: Any = None,
        **kw: Any,
    ) -> Any:
        if not execution_options and bind_arguments is None and not kw:
            ran = await direct.run_direct(self, statement, params)
            if ran is not None:
                return ran
        return await super().execute(
            statement,
            params,
            execution_options=execution_options or {},
            bind_arguments=bind_arguments,
            **kw,
        )

    async def scalar(self, statement: Any, params: Any = None, **kw: Any) -> Any:
        if not kw:
            ran = await direct.run_direct(self, statement, params)
            if ran is not None:
                return ran.scalar()
        return await super().scalar(statement, params, **kw)


class Database:
    """The engine and two session factories: readers and writers.

    ``checkpoints_apart`` (the serving process's): SQLite's commits never copy the log into the
    database file, which a commit crossing SQLite's threshold (a thousand pages) otherwise did
    before it returned, a request waiting for it (up to a fifth of a second, issue 14's
    ingest); ``keep_checkpointing`` does it in a thread instead, every second. A writer's
    COMMIT then only appends to the log, and an inline writer commits on the loop too
    (``kit.sqlite``)."""

    def __init__(self, url: str, *, pool: bool = True, checkpoints_apart: bool = False) -> None:
        self.engine = create_engine(url, pool=pool, checkpoints_apart=checkpoints_apart)
        self.checkpoints_apart = checkpoints_apart and self.engine.dialect.name == "sqlite"
        self.read_sessions = async_sessionmaker(self.engine, expire_on_commit=False, class_=Session)
        self.write_sessions = async_sessionmaker(
            writer_engine(self.engine), expire_on_commit=False, class_=Session
        )

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

    async def checkpoint(self) -> tuple[int, int, int]:
        """Copy SQLite's log into the database file as far as no reader still needs it (a
        PASSIVE checkpoint, in the connection's thread: writers go on meanwhile); SQLite's
        answer (busy, frames in the log, frames copied). Nothing to do on PostgreSQL."""
        if self.dialect != "sqlite":
            return (0, 0, 0)
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert isinstance(driver, sqlite.QuickConnection)
            return await driver.checkpoint()

    async def keep_checkpointing(self, stop: asyncio.Event) -> None:
        """Checkpoint every ``CHECKPOINT_EVERY`` seconds until ``stop``, and once more then
        (``checkpoints_apart``; returns at once otherwise). A failed checkpoint is logged and
        tried again next time: the log only grows meanwhile."""
        if not self.checkpoints_apart:
            return
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), CHECKPOINT_EVERY)
            try:
                await self.checkpoint()
            except Exception:
                log.exception("SQLite checkpoint failed")
            if stop.is_set():
                return

    async def analyze(self, *, missing_only: bool = False) -> None:
        """Refresh the planner's statistics (a quick sample on SQLite), so that lists keep
        walking the right index as the data grows. PostgreSQL's autovacuum does this too.

        ``missing_only`` (a process's start): on PostgreSQL, only the tables that have no
        statistics yet (made by a migration, or restored: before PostgreSQL 18, ``pg_restore``
        brings none). Autovacuum keeps the others', and a whole ANALYZE of a million contacts'
        database takes seconds (2.4–3.7 s on the benchmarks' machine) at every process's start.
        SQLite's quick sample is taken whole."""
        async with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                await connection.exec_driver_sql("PRAGMA analysis_limit=1000")
                await connection.exec_driver_sql("ANALYZE")
            elif missing_only:
                unanalyzed = (await connection.execute(_UNANALYZED)).scalars().all()
                if unanalyzed:
                    await connection.exec_driver_sql("ANALYZE " + ", ".join(unanalyzed))
            else:
                await connection.exec_driver_sql("ANALYZE")
            await connection.commit()


# The tables of the connection's schema PostgreSQL holds no statistics of (never analysed, by
# ANALYZE or autovacuum), quoted for an ANALYZE statement.
_UNANALYZED = text(
    "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables"
    " WHERE schemaname = current_schema()"
    " AND last_analyze IS NULL AND last_autoanalyze IS NULL ORDER BY relname"
)


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


# A statement, and its rows, of whatever columns (SQLAlchemy types each column otherwise).
AnySelect: TypeAlias = Select[*tuple[Any, ...]]
AnyRow: TypeAlias = Row[*tuple[Any, ...]]


def utcnow() -> datetime:
    return datetime.now(UTC)


__all__ = [
    "AnyRow",
    "AnySelect",
    "AsyncSession",
    "Base",
    "Database",
    "JSONType",
    "UTCDateTime",
    "bulk_insert",
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
        top = await db.scalar(_sqlite_top(name), {"name": name})
        start = int(top or 0) + 1
        return list(range(start, start + count))
    # The sequence looked up once (an InitPlan), not for each id: 2.7 -> 0.3 µs an id (a
    # million contacts' load reserves about nine million).
    rows = await db.scalars(
        text(
            f"SELECT nextval((SELECT pg_get_serial_sequence('{name}', 'id')::regclass)) "
            "FROM generate_series(1, :n)"
        ),
        {"n": count},
    )
    return [int(row) for row in rows]


async def insert_objects(
    db: AsyncSession, model: type[_M], rows: Sequence[Mapping[str, Any]]
) -> list[_M]:
    """New rows of a mapped class, in the order given, as the session's objects: every column
    written (given, else its Python default, else NULL) by one plain INSERT, and the objects
    made from what was written, not read back. SQLite's ids are reserved first
    (``reserve_ids``: the writer holds the lock), PostgreSQL's come back from the INSERT in the
    rows' order.

    The unit of work's flush, or an ORM ``INSERT … RETURNING``, costs the ORM's Python for each
    row and statement (issue 14: a batch's new people and conversations cost more than its
    messages). A column with only a server default cannot be known without reading it back:
    such a class is refused."""
    if not rows:
        return []
    table = table_of(model)
    full = [
        {key: row[key] if key in row else default() for key, default in _written_columns(table)}
        for row in rows
    ]
    postgresql = db.get_bind().dialect.name == "postgresql"
    if postgresql:
        ids = list(await db.scalars(_returning_ids(table), full))
    else:
        ids = await reserve_ids(db, table, len(rows))
    stored = [{"id": ident, **row} for ident, row in zip(ids, full, strict=True)]
    if not postgresql:
        await db.execute(insert_into(table), stored)
    return [loaded_object(db, model, row) for row in stored]


@cache
def _returning_ids(table: Table) -> Insert:
    return insert(table).returning(table.c.id, sort_by_parameter_order=True)


def loaded_object(db: AsyncSession, model: type[_M], values: Mapping[str, Any]) -> _M:
    """An object of ``model`` for a row as the database holds it (just written, or read as
    plain columns), in the session as if the ORM had loaded it (nothing left to flush)."""
    # As a loaded row is made: its values put in place, without the attribute events of the
    # constructor (most of a message's cost as an object).
    made: _M = manager_of_class(model).new_instance()
    instance_dict(made).update(values)
    make_transient_to_detached(made)
    db.add(made)
    return made


async def loaded_objects(
    db: AsyncSession, model: type[_M], statement: Select[Any], params: Any = None
) -> list[_M]:
    """The rows of ``statement``, a plain select of ``model``'s table's columns, as the
    session's objects in order: one the session holds already is that one, as the ORM answers
    (its values kept, what a rollback expired loaded from the row), the others made as a
    loaded row is (``loaded_object``). A writer on SQLite runs such a select straight through
    (``kit.direct.run_direct``), where a select of the class goes through the ORM (issue 14: a
    batch's reads of its contacts, conversations, channel and filters cost ~0.3 ms). Nothing
    is flushed first, as the ORM's select would: for a caller whose own unflushed changes
    cannot bear on which rows are read."""
    rows = await db.execute(statement, params)
    held = db.sync_session.identity_map
    found: list[_M] = []
    for row in rows:
        values = row._asdict()
        present = held.get(identity_key(model, values["id"]))
        if present is None:
            found.append(loaded_object(db, model, values))
            continue
        # What it no longer holds (expired by a rollback) is loaded from the row, as the ORM
        # loads it; what it holds stays.
        for key in instance_state(present).unloaded & values.keys():
            set_committed_value(present, key, values[key])
        found.append(present)
    return found


def loaded_columns(table: Table) -> list[Column[Any]]:
    """The columns an object of the table's class is loaded and written with: all but those
    derived (``info={"derived": True}``: written by their own writer, read in SQL alone)."""
    return [column for column in table.columns if not column.info.get("derived")]


@cache
def _written_columns(table: Table) -> list[tuple[str, Callable[[], Any]]]:
    """The table's columns but its id and those derived (loaded_columns), each with what it
    takes when a row leaves it out."""
    columns: list[tuple[str, Callable[[], Any]]] = []
    for column in loaded_columns(table):
        if column.key == "id":
            continue
        default = column.default
        if default is None:
            if column.server_default is not None:
                raise TypeError(f"{table.name}.{column.key}: a server default alone")
            if isinstance(column.type, JSON):
                raise TypeError(f"{table.name}.{column.key}: None would be written as JSON null")
            columns.append((column.key, _constant(None)))
        elif default.is_scalar:
            columns.append((column.key, _constant(default.arg)))  # type: ignore[attr-defined]
        elif default.is_callable:
            columns.append((column.key, _called(default.arg)))  # type: ignore[attr-defined]
        else:
            raise TypeError(f"{table.name}.{column.key}: a default computed in SQL")
    return columns


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _called(default: Callable[[Any], Any]) -> Callable[[], Any]:
    """A Python default SQLAlchemy wrapped to take its execution context (none is used)."""
    return lambda: default(None)


@cache
def _sqlite_top(name: str) -> TextClause:
    """The highest id a SQLite table ever gave out (built once for each table)."""
    return text(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = :name), 0), "
        f"coalesce((SELECT max(id) FROM {name}), 0))"
    )


# Fewer rows than this are inserted by one executemany on PostgreSQL too: COPY takes a round
# trip more, which pays off only when many rows share it (a message as it arrives does not).
COPY_ROWS = 64


async def bulk_insert(db: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert many rows in the session's transaction, as ``insert(table)`` with these rows
    would: a column a row leaves out takes its default (a JSON column left out is SQL NULL,
    one given None is JSON null, as with the ORM). Rows with the same keys go together.

    PostgreSQL gets them by COPY in text form: a row costs the server a fraction of an
    INSERT's, and the text is built here in one pass, where asyncpg's binary encoding of an
    array checks each element against abstract base classes (a search entry's hundreds of
    grams cost more than the rest of the row). SQLite, or a few rows: one executemany."""
    if not rows:
        return
    groups: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    copy = len(rows) >= COPY_ROWS and db.get_bind().dialect.name == "postgresql"
    for keys, group in groups.items():
        if copy:
            await _copy(db, table, keys, group)
        else:
            await db.execute(insert_into(table), group)


async def _copy(
    db: AsyncSession, table: Table, keys: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
) -> None:
    await db.flush()  # as an INSERT through the session would: the rows may refer to pending ones
    connection = await db.connection()
    dialect = connection.dialect
    given = [table.c[key] for key in keys]
    # What an INSERT would fill in from Python (a server default COPY fills in itself).
    defaults: list[tuple[Column[Any], Any]] = []
    for column in table.columns:
        default = column.default
        if column.key in keys or default is None:
            continue
        if default.is_scalar:
            defaults.append((column, default.arg))  # type: ignore[attr-defined]
        elif default.is_callable:
            defaults.append((column, default.arg(None)))  # type: ignore[attr-defined]
    columns = [*given, *(column for column, _ in defaults)]
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in given]
    tail = "".join(
        "\t" + _copy_field(_processed(column, value, dialect)) for column, value in defaults
    )
    lines = []
    for row in rows:
        fields = []
        for key, process in zip(keys, processors, strict=True):
            value = row[key]
            if process is not None:
                value = process(value)
            fields.append(_COPY_FORMATS.get(type(value), _copy_field)(value))
        lines.append("\t".join(fields) + tail)
    data = ("\n".join(lines) + "\n").encode()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:
        raise RuntimeError("the database connection is closed")
    if not driver.is_in_transaction():
        # The driver begins the session's transaction with its first statement.
        await connection.exec_driver_sql("SELECT 1")
    await driver.copy_to_table(
        table.name,
        source=io.BytesIO(data),
        columns=[column.name for column in columns],
        schema_name=table.schema,
        format="text",
    )


def _processed(column: Column[Any], value: Any, dialect: Dialect) -> Any:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if process is None else process(value)


def _copy_text(value: str) -> str:
    """A text field of COPY's text format: backslash, tab and line ends escaped."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    return value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _array_literal(values: Sequence[Any]) -> str:
    """An array as PostgreSQL reads it in text ({"a","b"}), each element quoted."""
    if not values:
        return "{}"
    try:
        # The common case, a list of texts (grams), in one pass: NUL is in no stored text.
        joined = "\x00".join(values)
    except TypeError:
        return "{" + ",".join(_array_element(value) for value in values) + "}"
    if "\\" in joined or '"' in joined:
        joined = joined.replace("\\", "\\\\").replace('"', '\\"')
    return '{"' + joined.replace("\x00", '","') + '"}'


def _array_element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return _array_literal(value)
    text_form = _plain(value)
    return '"' + text_form.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _plain(value: Any) -> str:
    """A value as PostgreSQL reads it in text, before COPY's escaping."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int | float | Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    raise TypeError(f"no COPY text form for {type(value).__name__}")


def _copy_field(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, list | tuple):
        return _copy_text(_array_literal(value))
    return _copy_text(_plain(value))


def _copy_number(value: int | float) -> str:
    return str(value)


def _copy_moment(value: datetime | date) -> str:
    return value.isoformat()


# The usual types' fields by exact type, without _copy_field's questions.
_COPY_FORMATS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "\\N",
    bool: lambda value: "t" if value else "f",
    int: _copy_number,
    float: _copy_number,
    str: _copy_text,
    datetime: _copy_moment,
    date: _copy_moment,
    list: lambda value: _copy_text(_array_literal(value)),
}
