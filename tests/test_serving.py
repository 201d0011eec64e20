"""The serving process's own settings of the interpreter (issue 14)."""

from __future__ import annotations

import contextlib
import gc
import sqlite3
from typing import Any

import pytest
from sqlalchemy import make_url, text

from madoguchi import app as app_module
from madoguchi import cli
from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.kit.db import Database
from tests.fixtures import eventually


async def test_a_served_app_freezes_what_the_process_holds_once_started(
    settings: Settings, database: Database
) -> None:
    assert gc.get_freeze_count() == 0
    # An app in another's process (a test, an embedding) leaves the collector alone.
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass  # its end waits for the reading dictionary's warm-up
    assert gc.get_freeze_count() == 0
    served = create_app(settings, freeze_start=True)
    try:
        async with served.router.lifespan_context(served):
            pass
        # The modules, the app and the reading dictionary: out of every collection's walk.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()


def test_madoguchi_serve_serves_the_app_with_its_start_frozen(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}

    def create(given: Settings, **options: Any) -> str:
        made.update(options, data_dir=given.data_dir)
        return "the app"

    monkeypatch.setenv("MADOGUCHI_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setattr(app_module, "create_app", create)
    monkeypatch.setattr("uvicorn.run", lambda app, **_: made.update(served=app))
    cli.serve(host=None, port=None)
    assert made == {"freeze_start": True, "data_dir": settings.data_dir, "served": "the app"}


async def test_a_served_app_copies_sqlite_s_log_into_the_database_file_on_a_timer(
    settings: Settings, database: Database
) -> None:
    """The serving process's commits never checkpoint SQLite's log (a request would wait for
    it): its own task copies the log into the database file, every second."""
    if database.dialect != "sqlite":
        pytest.skip("PostgreSQL keeps no such log")
    path = make_url(settings.sqlalchemy_url).database
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        served: Database = app.state.runtime.database
        assert served.checkpoints_apart
        async with served.write_sessions() as session:
            await session.execute(
                text("INSERT INTO workspace_values (key, value) VALUES ('served', 'yes')")
            )
            await session.commit()

        async def in_the_file() -> str | None:
            # The database file alone, without its log: what checkpoints copied there.
            uri = f"file:{path}?immutable=1"
            with contextlib.closing(sqlite3.connect(uri, uri=True)) as file:
                row = file.execute(
                    "SELECT value FROM workspace_values WHERE key = 'served'"
                ).fetchone()
            return None if row is None else str(row[0])

        assert await eventually(in_the_file, seconds=10) == "yes"
