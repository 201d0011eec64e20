"""A writer's plain statements run straight through the driver (kit/direct.py): on SQLite and,
in the suite's PostgreSQL leg, through asyncpg, with the rows, counts, types and errors that
SQLAlchemy's way gives."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError, IntegrityError

from madoguchi.channels.models import Channel
from madoguchi.kit import direct
from madoguchi.kit.db import Database, JSONType, UTCDateTime
from tests.conftest import _pg_admin, _pg_url
from tests.fixtures import statements_run


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own: a SQLite file, or in the PostgreSQL leg a database on that
    server, dropped afterwards."""
    server = os.environ.get("DATABASE_URL")
    if not server:
        yield f"sqlite+aiosqlite:///{tmp_path / 'typed.db'}"
        return
    name = f"madoguchi_direct_{secrets.token_hex(4)}"
    _pg_admin(server, f'CREATE DATABASE "{name}"')
    try:
        yield _pg_url(server, name).replace("postgresql://", "postgresql+asyncpg://", 1)
    finally:
        _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def scratch(scratch_url: str) -> AsyncIterator[Database]:
    """That database, holding ``typed``."""
    database = Database(scratch_url)
    try:
        async with database.write_sessions() as session:
            await session.run_sync(lambda sync: _typed.create_all(sync.connection()))
            await session.commit()
        yield database
    finally:
        await database.dispose()


_typed = MetaData()
TYPED = Table(
    "typed",
    _typed,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=True),
    Column("meta", JSONType, nullable=True),
    Column("flag", Boolean, nullable=False, default=False),
    Column("label", Text, unique=True),
)


async def _both_ways(
    database: Database, statement: Any, params: Any = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int, int]:
    """``statement``'s rows and rowcount run straight through the driver (``run_direct``), and
    SQLAlchemy's for the same statement on the same data, each in a transaction rolled back."""
    async with database.write_sessions() as session:
        async with direct.direct_writes(session):
            ran = await direct.run_direct(session, statement, params)
            assert ran is not None, "not run straight through the driver"
            fast_rows = [tuple(row) for row in ran]
            fast_count = ran.rowcount
        await session.rollback()
    async with database.write_sessions() as session:
        result = await session.execute(statement, params)
        slow_rows = [tuple(row) for row in result] if result.returns_rows else []
        slow_count = getattr(result, "rowcount", -1)
        await session.rollback()
    return fast_rows, slow_rows, fast_count, slow_count


async def test_a_writer_s_plain_statements_run_through_the_driver_give_what_sqlalchemy_gives(
    scratch: Database,
) -> None:
    database = scratch
    at = datetime(2026, 12, 5, 3, 4, 5, 678000, tzinfo=UTC)
    async with database.write_sessions() as session:
        async with direct.direct_writes(session):
            # Many rows at once: the types' own binding (a zone-aware time, JSON, a flag).
            ran = await direct.run_direct(
                session,
                insert(TYPED),
                [
                    {
                        "id": n,
                        "at": at,
                        "meta": {"n": n, "名": "花子"},
                        "flag": n % 2 == 0,
                        "label": f"row {n}",
                    }
                    for n in range(1, 6)
                ],
            )
            assert ran is not None
            # asyncpg does not count the rows of a statement run for many rows of parameters.
            assert ran.rowcount == (5 if database.dialect == "sqlite" else -1)
        await session.commit()
    by_columns = select(TYPED).where(TYPED.c.id.in_([2, 3, 9])).order_by(TYPED.c.id)
    fast, slow, _, _ = await _both_ways(database, by_columns)
    assert (
        fast
        == slow
        == [
            (2, at, {"n": 2, "名": "花子"}, True, "row 2"),
            (3, at, {"n": 3, "名": "花子"}, False, "row 3"),
        ]
    )
    by_text = text("SELECT id, label FROM typed WHERE id IN :ids ORDER BY id").bindparams(
        bindparam("ids", expanding=True)
    )
    fast, slow, _, _ = await _both_ways(database, by_text, {"ids": [1, 5]})
    assert fast == slow == [(1, "row 1"), (5, "row 5")]
    moved = (
        update(TYPED).where(TYPED.c.id == bindparam("_id")).values(at=bindparam("_at"), flag=True)
    )
    later = at + timedelta(hours=1)
    rows = [{"_id": 1, "_at": later}, {"_id": 3, "_at": later}, {"_id": 99, "_at": later}]
    _, _, fast_count, slow_count = await _both_ways(database, moved, rows)
    # asyncpg does not count the rows of a statement run for many rows of parameters.
    assert fast_count == slow_count == (2 if database.dialect == "sqlite" else -1)
    one = update(TYPED).where(TYPED.c.id.in_([1, 2, 99])).values(flag=False)
    _, _, fast_count, slow_count = await _both_ways(database, one)
    assert fast_count == slow_count == 2
    # A failure is SQLAlchemy's error, as the statement would have raised it.
    async with database.write_sessions() as session:
        with pytest.raises(IntegrityError):
            async with direct.direct_writes(session):
                await session.execute(insert(TYPED), {"id": 50, "label": "row 1"})
        await session.rollback()
    # Through the session: a read, a write and its rows as the ORM's callers use them.
    async with database.write_sessions() as session:
        async with direct.direct_writes(session):
            await session.execute(moved, rows)
            found = await session.execute(
                select(TYPED.c.id, TYPED.c.at).where(TYPED.c.flag).order_by(TYPED.c.id)
            )
            assert [(row.id, row.at) for row in found] == [
                (1, later),
                (2, at),
                (3, later),
                (4, at),
            ]
            assert await session.scalar(select(func.count()).select_from(TYPED)) == 5
        await session.commit()


async def test_what_needs_more_than_its_sql_takes_sqlalchemy_s_way(scratch: Database) -> None:
    database = scratch
    async with database.write_sessions() as session:
        async with direct.direct_writes(session):
            # A default computed in Python (the flag's), left to SQLAlchemy.
            assert await direct.run_direct(session, insert(TYPED), {"id": 1}) is None
            # Rows back from several rows of parameters: SQLAlchemy's insertmanyvalues.
            returning = insert(TYPED).returning(TYPED.c.id)
            rows = [{"id": n, "flag": True, "label": f"r{n}"} for n in (7, 8)]
            assert await direct.run_direct(session, returning, rows) is None
            # A statement naming a mapped class goes through the ORM (the session's objects).
            assert await direct.run_direct(session, select(Channel), None) is None
            # Execution options ask for SQLAlchemy's own handling.
            streamed = select(TYPED).execution_options(yield_per=10)
            assert await direct.run_direct(session, streamed, None) is None
            # Anything listening to statements (a test counting them) is told of each.
            with statements_run() as run:
                assert await direct.run_direct(session, select(TYPED), None) is None
                await session.execute(select(TYPED.c.id))
            assert run == ["SELECT typed.id FROM typed"]
        await session.rollback()
    # Outside a writer's inline block nothing changes.
    async with database.write_sessions() as session:
        assert await direct.run_direct(session, select(TYPED), None) is None
        await session.rollback()


async def test_a_savepoint_s_plain_statements_take_sqlalchemy_s_way_and_roll_back_with_it(
    scratch: Database,
) -> None:
    async with scratch.write_sessions() as session:
        await session.execute(
            text("INSERT INTO typed (id, flag, label) VALUES (:id, :flag, :label)"),
            [{"id": n, "flag": True, "label": f"row {n}"} for n in range(1, 4)],
        )
        await session.commit()
    async with scratch.write_sessions() as session:
        async with direct.direct_writes(session):
            await session.execute(
                text("INSERT INTO typed (id, flag, label) VALUES (-1, true, 'kept')")
            )
            with pytest.raises(IntegrityError):
                async with session.begin_nested():
                    # Run straight through SQLite, this would come before the SAVEPOINT the
                    # session emits on its connection's first use, and outlive its rollback.
                    assert await direct.run_direct(session, text("SELECT 1"), None) is None
                    await session.execute(
                        text("INSERT INTO typed (id, flag, label) VALUES (:n, true, :label)"),
                        [{"n": -2, "label": "gone"}, {"n": -3, "label": "row 1"}],
                    )
            # After the savepoint, the block's statements run inline again.
            assert await direct.run_direct(session, text("SELECT 1"), None) is not None
        await session.commit()
    async with scratch.read_sessions() as session:
        labels = await session.scalars(text("SELECT label FROM typed WHERE id < 0 ORDER BY id"))
        assert list(labels) == ["kept"]


async def test_one_statement_run_on_two_databases_is_compiled_for_each(
    scratch: Database, tmp_path: Path
) -> None:
    """A statement built once (as the services' are) keeps its compiled form per dialect: the
    same object run on another database (SQLite beside the PostgreSQL leg's) is compiled for
    that one, not given the first one's SQL."""
    other = Database(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    one = select(TYPED.c.label).where(TYPED.c.id == bindparam("id"))
    try:
        async with other.write_sessions() as session:
            await session.run_sync(lambda sync: _typed.create_all(sync.connection()))
            await session.commit()
        for database, label in ((scratch, "here"), (other, "there"), (scratch, "here")):
            async with database.write_sessions() as session:
                async with direct.direct_writes(session):
                    await session.execute(
                        text("INSERT INTO typed (id, flag, label) VALUES (7, true, :label)"),
                        {"label": label},
                    )
                    ran = await direct.run_direct(session, one, {"id": 7})
                    assert ran is not None
                    assert ran.scalar() == label
                await session.rollback()
    finally:
        await other.dispose()


async def test_an_in_list_s_sql_kept_by_its_length_binds_each_run_s_own_values(
    scratch: Database,
) -> None:
    """The SQL of a statement with IN lists is rendered once per lengths of its lists, and
    each run binds its own values (a kept rendering given the values of the run it came from
    would answer the same rows whatever was asked)."""
    async with scratch.write_sessions() as session:
        await session.execute(
            insert(TYPED), [{"id": n, "flag": n % 2 == 0, "label": f"row {n}"} for n in range(1, 7)]
        )
        await session.commit()
    both = (
        select(TYPED.c.id)
        .where(
            TYPED.c.id.in_(bindparam("ids", expanding=True)),
            TYPED.c.label.in_(bindparam("labels", expanding=True)),
        )
        .order_by(TYPED.c.id)
    )
    runs = [
        ([1, 5], ["row 1", "row 5"]),
        ([2, 3], ["row 3", "row 2"]),
        ([2, 3], ["row 2", "row 9"]),
        ([1, 2, 3], ["row 3"]),
        ([], ["row 1"]),
        ([4, 6], ["row 4", "row 6"]),
    ]
    for ids, labels in runs:
        fast, slow, _, _ = await _both_ways(scratch, both, {"ids": ids, "labels": labels})
        assert fast == slow == [(n,) for n in sorted(ids) if f"row {n}" in labels]
    # Literal lists (the values in the statement itself), of the same length each time.
    for wanted in ([2, 4], [5, 6], [1, 3]):
        literal = select(TYPED.c.id).where(TYPED.c.id.in_(wanted)).order_by(TYPED.c.id)
        fast, slow, _, _ = await _both_ways(scratch, literal)
        assert fast == slow == [(n,) for n in wanted]


async def test_a_connection_lost_in_the_block_fails_as_sqlalchemy_s_and_is_not_given_out_again(
    scratch: Database,
) -> None:
    """PostgreSQL ended the connection (a restart, an administrator): the statement run straight
    through asyncpg fails as SQLAlchemy's own disconnect error, and the pool never hands that
    connection out again."""
    if scratch.dialect != "postgresql":
        pytest.skip("a server's connection")
    async with scratch.write_sessions() as session:
        async with direct.direct_writes(session):
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            async with scratch.read_sessions() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as failed:
                await direct.run_direct(session, select(TYPED.c.id), None)
            assert failed.value.connection_invalidated
        await session.rollback()
    # The next sessions are served by live connections.
    for _ in range(3):
        async with scratch.write_sessions() as session:
            async with direct.direct_writes(session):
                ran = await direct.run_direct(
                    session, select(func.count()).select_from(TYPED), None
                )
                assert ran is not None and ran.scalar() == 0
            await session.rollback()
