"""A writer's plain statements, run straight through the driver.

SQLAlchemy's way costs ~50 µs of Python per plain statement (~150 µs for one naming a mapped
class) on top of the driver's: an execution context, a result proxy, the async adapter's trips
through a greenlet. A batch of inbound messages runs two dozen statements (issue 14's ingest),
so on SQLite that cost was more than SQLite's own work, and on PostgreSQL about a third of the
writer's CPU (the rest is asyncpg and the round trips).

Inside ``direct_writes`` (the intake's batch, a webhook body's messages), a plain statement (no
ORM entity, nothing computed in Python) is compiled and its parameters bound exactly as
SQLAlchemy would (its compiled cache, its type processors, its IN-list rendering), run by the
driver itself, its rows typed as SQLAlchemy would and a failure raised as SQLAlchemy's error:

- on SQLite, on the loop's thread (``kit.sqlite.execute_inline``: the block holds the write
  lock, so none of its statements can wait for one);
- on PostgreSQL, through SQLAlchemy's own asyncpg adapter (its prepared statements, its
  transaction, its translated errors), awaited directly rather than through a greenlet.

Everything else (an ORM statement, execution options, a savepoint, a listener counting the
statements) takes SQLAlchemy's way, which stays right for everything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_cursor,
)
from sqlalchemy.engine import Connection
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import WARN_LINTING, SQLCompiler

from madoguchi.kit import sqlite

# The session's key for the block's connection (``direct_writes``).
_DIRECT = "madoguchi.direct_writes"


class Ran(IteratorResult[Any]):
    """A statement's rows as ``run_direct`` read them, and how many rows it changed."""

    rowcount: int = -1


@asynccontextmanager
async def direct_writes(session: AsyncSession) -> AsyncIterator[None]:
    """Run ``session``'s plain statements straight through the driver until the block ends
    (see the module; begins the transaction). On SQLite, only a writer's (it holds the write
    lock: a reader's write would wait for it on the loop, stopping everything)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if isinstance(driver, sqlite.QuickConnection):
        if not sqlite.is_sqlite_writer(session.bind):
            yield
            return
        driver.inline_writes = True
    elif not isinstance(raw.dbapi_connection, AsyncAdapt_asyncpg_connection):
        yield
        return
    # The transaction's connection: closed once the transaction ends.
    session.info[_DIRECT] = connection.sync_connection
    try:
        yield
    finally:
        if isinstance(driver, sqlite.QuickConnection):
            driver.inline_writes = False
        session.info.pop(_DIRECT, None)


def _watched(connection: Connection) -> bool:
    """Whether anything listens to the connection's statements (a test counting them): then
    they take SQLAlchemy's way, which tells the listeners."""
    dispatch = connection.dispatch
    return bool(dispatch.before_cursor_execute or dispatch.after_cursor_execute)


def _plain(
    connection: Connection, statement: Any, keys: list[str], many: bool
) -> tuple[SQLCompiler, Any, Any] | None:
    """``statement`` compiled as SQLAlchemy compiles it (from the engine's compiled cache),
    with the values it carries; None when running it needs more than its SQL and parameters: an
    ORM entity (the session's objects), a default computed in Python, an ``inserted_primary_key``
    to fill, execution options, an IN list or RETURNING with several rows of parameters."""
    key = (id(statement), id(connection.dialect), tuple(keys), many)
    held = _COMPILED.get(key)
    if held is not None and held[0] is statement and held[1] is connection.dialect:
        return held[2]
    plain = _compiled(connection, statement, keys, many)
    if len(_COMPILED) >= COMPILED_KEPT:
        _COMPILED.clear()
    _COMPILED[key] = (statement, connection.dialect, plain)
    return plain


# ``_plain``'s answers by statement object (most are built once: ``functools.cache``), each kept
# with its statement and dialect so that their ids cannot be others': a statement's cache key,
# which finding it in SQLAlchemy's compiled cache takes, costs more than running a small
# statement on SQLite. Forgotten all at once when this many (statements built for each call
# come and go).
COMPILED_KEPT = 512
_COMPILED: dict[
    tuple[int, int, tuple[str, ...], bool], tuple[Any, Any, tuple[SQLCompiler, Any, Any] | None]
] = {}


def _compiled(
    connection: Connection, statement: Any, keys: list[str], many: bool
) -> tuple[SQLCompiler, Any, Any] | None:
    """``_plain``'s answer, worked out."""
    if not isinstance(statement, Executable) or statement._execution_options:
        return None
    if statement._propagate_attrs.get("compile_state_plugin") == "orm":
        return None
    compiled, extracted, collected, _hit = statement._compile_w_cache(
        dialect=connection.dialect,
        compiled_cache=connection.engine._compiled_cache,
        column_keys=keys,
        for_executemany=many,
        schema_translate_map=None,
        linting=connection.dialect.compiler_linting | WARN_LINTING,
    )
    if not isinstance(compiled, SQLCompiler) or not compiled.positional:
        return None
    expands = compiled.literal_execute_params or compiled.post_compile_params
    if (
        compiled.insert_prefetch
        or compiled.update_prefetch
        or compiled.implicit_returning
        or compiled.schema_translate_map
        or (many and (expands or compiled._result_columns))
    ):
        return None
    return compiled, extracted, collected


def _block_connection(session: AsyncSession) -> Connection | None:
    """The block's connection while its transaction lasts (``direct_writes``). Once it ended
    (a rollback inside the block), the session's next one takes SQLAlchemy's way; inside a
    savepoint too: the session begins it on its connection's first use, which a statement run
    here would skip (the savepoint's rollback would then leave the statement's rows)."""
    connection: Connection | None = session.info.get(_DIRECT)
    if (
        connection is None
        or connection.closed
        or not connection.in_transaction()
        or session.in_nested_transaction()
        or _watched(connection)
    ):
        return None
    return connection


async def run_direct(session: AsyncSession, statement: Any, params: Any) -> Ran | None:
    """Run a plain statement of a ``direct_writes`` block straight through the driver (see the
    module); None when it is not such a statement, and SQLAlchemy runs it."""
    connection = _block_connection(session)
    if connection is None:
        return None
    pooled = connection.connection
    driver, adapter = pooled.driver_connection, pooled.dbapi_connection
    if isinstance(driver, sqlite.QuickConnection):
        if not driver.inline_writes:
            return None
    elif not isinstance(adapter, AsyncAdapt_asyncpg_connection):
        return None
    given: list[Mapping[str, Any]] = (
        [] if not params else [params] if isinstance(params, Mapping) else list(params)
    )
    many = len(given) > 1
    plain = _plain(connection, statement, sorted(given[0]) if given else [], many)
    if plain is None:
        return None
    compiled, extracted, collected = plain
    sql, order = compiled.string, list(compiled.positiontup or ())
    processors: Mapping[str, Any] = compiled._bind_processors
    values: list[list[Any]] = []
    for group, row in enumerate(given or [{}]):
        bound = compiled.construct_params(
            row or None,
            escape_names=False,
            _group_number=group if many else None,
            extracted_parameters=extracted,
            _collected_params=collected,
        )
        if compiled.literal_execute_params or compiled.post_compile_params:
            # An IN list: the SQL as SQLAlchemy renders it for this many values.
            sql, order, processors = _expanded(compiled, bound)
        values.append([processors[k](bound[k]) if k in processors else bound[k] for k in order])
    dialect = connection.dialect
    error_class: type[Exception] = dialect.loaded_dbapi.Error
    try:
        if isinstance(driver, sqlite.QuickConnection):
            error_class = sqlite3.Error
            rows, description, changed = await sqlite.execute_inline(driver, sql, values, many)
        else:
            rows, description, changed = await _asyncpg(adapter, sql, values, many)
    except error_class as error:
        # The connection is gone (the server restarted, ended it): as SQLAlchemy does, it is
        # never handed out again, nor are the pool's connections older than it.
        lost = dialect.is_disconnect(cast(Any, error), adapter, None)
        if lost:
            connection.engine.pool._invalidate(pooled, error)
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql, values, error, error_class, dialect=dialect, connection_invalidated=lost
        ) from error
    keys = [column[0] for column in description or ()]
    if compiled._result_columns and len(compiled._result_columns) == len(keys):
        typed = [
            column[3]._cached_result_processor(dialect, described[1])
            for column, described in zip(compiled._result_columns, description, strict=True)
        ]
        if any(typed):
            rows = [
                tuple(f(v) if f else v for f, v in zip(typed, row, strict=True)) for row in rows
            ]
        keys = [column[0] for column in compiled._result_columns]
    ran = Ran(SimpleResultMetaData(keys), iter(rows))
    ran.rowcount = changed
    return ran


# The SQL of statements with IN lists as SQLAlchemy renders them, by the compiled statement and
# the lists' lengths (the SQL depends on nothing else: rendering it again for each batch was a
# twentieth of a batch's CPU), each kept with its compiled statement so that its id cannot be
# another's; forgotten all at once when this many.
EXPANDED_KEPT = 2048
_EXPANDED: dict[tuple[int, tuple[int, ...]], tuple[SQLCompiler, _Expansion]] = {}
# By compiled statement: the names of its IN lists (None: its rendering depends on more than
# their lengths, a literal or a tuple, and is not kept).
_EXPANDING: dict[int, tuple[SQLCompiler, tuple[str, ...] | None]] = {}


@dataclass(frozen=True)
class _Expansion:
    sql: str
    order: list[str]
    processors: Mapping[str, Any]
    # Each IN list's name, and the names its values take.
    names: Mapping[str, list[str]]


def _expanded(compiled: SQLCompiler, bound: MutableMapping[str, Any]) -> tuple[str, list[str], Any]:
    """The SQL, the order of its parameters and their processors for ``bound`` (its IN lists
    replaced by their values' own parameters, as SQLAlchemy's expansion does)."""
    held = _EXPANDING.get(id(compiled))
    lists = held[1] if held is not None and held[0] is compiled else _lists_of(compiled)
    key = (
        (id(compiled), tuple(len(bound[name]) for name in lists))
        if lists and all(name in bound for name in lists)
        else None
    )
    cached = _EXPANDED.get(key) if key else None
    if cached is not None and cached[0] is compiled:
        expansion = cached[1]
        for name, names in expansion.names.items():
            bound.update(zip(names, bound.pop(name), strict=True))
        return expansion.sql, expansion.order, expansion.processors
    state = compiled._process_parameters_for_postcompile(bound)
    expansion = _Expansion(
        state.statement,
        list(state.positiontup or ()),
        {**compiled._bind_processors, **state.processors},
        state.parameter_expansion,
    )
    if key is not None and set(expansion.names) == set(lists or ()):
        if len(_EXPANDED) >= EXPANDED_KEPT:
            _EXPANDED.clear()
        _EXPANDED[key] = (compiled, expansion)
    return expansion.sql, expansion.order, expansion.processors


def _lists_of(compiled: SQLCompiler) -> tuple[str, ...] | None:
    """The names of the compiled statement's IN lists, where its rendering depends on their
    lengths alone (no literal rendered, no tuple); kept."""
    plain = not compiled.literal_execute_params and all(
        not parameter.literal_execute and not parameter.type._is_tuple_type
        for parameter in compiled.post_compile_params
    )
    names = (
        tuple(
            name
            for name, parameter in compiled.binds.items()
            if parameter in compiled.post_compile_params
        )
        if plain
        else None
    )
    if len(_EXPANDING) >= EXPANDED_KEPT:
        _EXPANDING.clear()
    _EXPANDING[id(compiled)] = (compiled, names)
    return names


async def _asyncpg(
    adapter: AsyncAdapt_asyncpg_connection, sql: str, values: list[list[Any]], many: bool
) -> tuple[list[Any], Any, int]:
    """A statement through SQLAlchemy's asyncpg adapter, awaited here: its prepared
    statement cache, its transaction (begun on the first statement), its errors translated."""
    cursor = cast(AsyncAdapt_asyncpg_cursor, adapter.cursor())
    if many:
        await cursor._executemany(sql, values)  # type: ignore[no-untyped-call]
        return [], None, -1
    await cursor._prepare_and_execute(sql, values[0])  # type: ignore[no-untyped-call]
    return list(cursor._rows), cursor._description, cursor._rowcount
