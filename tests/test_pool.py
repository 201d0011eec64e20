"""The PostgreSQL pool pings a connection only when it sat idle (kit.db): a connection the
server dropped meanwhile is replaced without the request noticing, and a busy pool pays no
round trips for pings."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from madoguchi.config import Settings
from madoguchi.kit import db


def _needs_postgresql(settings: Settings) -> str:
    if not settings.database_url:
        pytest.skip("the pool's ping is PostgreSQL's (the services leg)")
    return settings.sqlalchemy_url


async def test_a_connection_the_server_dropped_while_idle_is_replaced_unnoticed(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _needs_postgresql(settings)
    engine = db.create_engine(url, pool_size=1)
    admin = db.create_engine(url, pool=False)
    pings: list[Any] = []
    real_ping = engine.sync_engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        return real_ping(dbapi_connection)

    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counted)
    try:
        async with engine.connect() as connection:
            first = await connection.scalar(text("SELECT pg_backend_pid()"))
        # Taken again at once: the same connection, and no ping.
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_backend_pid()")) == first
        assert pings == []

        # The server drops it (a restart, an idle timeout) while it sits in the pool.
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)  # it has sat idle long enough
        async with engine.connect() as connection:
            again = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert again != first
        assert len(pings) == 1  # the dead one was pinged; its replacement is new, not pinged

        # An idle connection that still answers is pinged and kept.
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT pg_backend_pid()")) == again
        assert len(pings) == 2
    finally:
        await engine.dispose()
        await admin.dispose()


async def test_postgresql_compiles_none_of_our_statements(settings: Settings) -> None:
    """JIT off on every connection (kit.db): a list's walk stops after a page, but PostgreSQL
    estimates it as if it read whole indexes, and compiling it cost twenty times running it."""
    url = _needs_postgresql(settings)
    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SHOW jit")) == "off"
            await connection.execute(text("SET jit_above_cost = 0"))
            plan = await connection.scalar(
                text("EXPLAIN (ANALYZE, FORMAT JSON) SELECT sum(g) FROM generate_series(1, 9) g")
            )
        assert "JIT" not in plan[0], plan
    finally:
        await engine.dispose()
