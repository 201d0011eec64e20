"""Every revision goes down and up again on the database under test (SQLite, or PostgreSQL when
DATABASE_URL is set), on a database of its own."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from madoguchi.config import Settings
from madoguchi.kit.migrate import alembic_config, upgrade
from tests.conftest import _pg_admin

T = TypeVar("T")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Settings]:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        yield Settings(_env_file=None, data_dir=tmp_path, database_url=None)  # type: ignore[call-arg]
        return
    name = f"madoguchi_migrations_{secrets.token_hex(4)}"
    _pg_admin(database_url, f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    try:
        yield Settings(_env_file=None, data_dir=tmp_path, database_url=url)  # type: ignore[call-arg]
    finally:
        _pg_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(settings: Settings, read: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_async_engine(settings.sqlalchemy_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(settings: Settings) -> set[str]:
    names = _run(settings, lambda connection: inspect(connection).get_table_names())
    return set(names) - {"alembic_version"}


def test_every_revision_goes_down_and_up_again(fresh: Settings) -> None:
    upgrade(fresh)
    built = _tables(fresh)
    assert {"conversations", "messages", "contacts", "contact_tags"} <= built
    command.downgrade(alembic_config(fresh), "base")
    assert _tables(fresh) == set()
    upgrade(fresh)
    assert _tables(fresh) == built


def test_postgresql_search_indexes_keep_no_pending_list(fresh: Settings) -> None:
    if fresh.is_sqlite:
        pytest.skip("SQLite's FTS5 tables have no pending list")
    upgrade(fresh)
    rows = _run(
        fresh,
        lambda connection: connection.execute(
            text(
                "SELECT relname, reloptions FROM pg_class WHERE relname IN "
                "('ix_message_search_grams', 'ix_contact_search_grams')"
            )
        ).all(),
    )
    options = {name: list(values) for name, values in rows}
    assert options == {
        "ix_message_search_grams": ["fastupdate=off"],
        "ix_contact_search_grams": ["fastupdate=off"],
    }
