"""Shared fixtures: a real database (SQLite file, or PostgreSQL when DATABASE_URL is set), a real
event bus (Redis when REDIS_URL is set), the app in-process, and a live server for WebSockets
and the browser."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher, profiles
from sqlalchemy import insert, text

from madoguchi import search
from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.crm import defaults
from madoguchi.crm.models import Mark, Status
from madoguchi.events import Event, InProcessBus
from madoguchi.kit import pgstats, security
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Base, Database
from madoguchi.kit.migrate import upgrade
from tests.browser import browser  # noqa: F401 - the fixture, for every browser test
from tests.fixtures import Factory

# Passwords hashed in this process (members made, logins, the live server's thread) by argon2id
# at its cheapest: the product's strength (security.PASSWORD_PARAMETERS, ~0.2 s a hash by design)
# was a sixth of the PostgreSQL leg's time (19:49 -> 16:34 without it). Processes the tests
# start hash as the product does, and tests/members/test_service.py checks the product's own
# strength.
PRODUCT_HASHER = security._hasher
security._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)


# Modules whose tests take tens of seconds each (processes started, whole benchmarks, the API
# fuzzed, a browser over many pages), slowest first. They run before the rest, so that
# pytest-xdist's workers end on short tests together instead of one of them idling while the
# other finishes a minute-long test collected last.
SLOW_FIRST = (
    "tests/test_bench.py",
    "tests/test_api_fuzz.py",
    "tests/test_scaleout.py",
    "tests/test_cli.py",
    "tests/test_demo.py",
    "tests/channels/test_webhook_bodies.py",
    "tests/test_durability.py",
    "tests/test_proxies.py",
    "tests/contacts/test_transfer.py",
    "tests/e2e/test_list_panel_browser.py",
    "tests/e2e/test_hostile_texts_browser.py",
    "tests/test_operations.py",
    "tests/test_serving.py",
    "tests/test_logs.py",
)


_ROOT = Path(__file__).parent.parent
if gone := [path for path in SLOW_FIRST if not (_ROOT / path).is_file()]:
    raise RuntimeError(f"SLOW_FIRST names modules that are not there: {gone}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: place for place, path in enumerate(SLOW_FIRST)}

    def place(item: pytest.Item) -> int:
        return rank.get(item.path.relative_to(_ROOT).as_posix(), len(SLOW_FIRST))

    items.sort(key=place)  # stable: each module's tests keep their order


def _pg_url(url: str, database: str, role: str | None = None) -> str:
    """The URL of another database on the server of ``url`` (as ``role``, where given)."""
    at = urlsplit(url)
    netloc = at.netloc if role is None else f"{role}@{at.hostname}:{at.port or 5432}"
    return urlunsplit(at._replace(path=f"/{database}", netloc=netloc))


def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    async def run() -> None:
        dsn = url.replace("postgresql+asyncpg://", "postgresql://")
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("data")
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    overrides: dict[str, object] = {
        "data_dir": data_dir,
        "redis_url": redis_url,
        "redis_prefix": f"madoguchi-test-{secrets.token_hex(4)}",
        "login_max_failures": 5,
        # Tests drive the worker themselves, with a clock of their own.
        "worker": False,
    }
    test_database = None
    if database_url:
        # Each run gets a database of its own on the given server, dropped at the end.
        parts = urlsplit(database_url)
        test_database = f"madoguchi_test_{secrets.token_hex(4)}"
        _pg_admin(database_url, f'CREATE DATABASE "{test_database}"')
        overrides["database_url"] = urlunsplit(parts._replace(path=f"/{test_database}"))
    else:
        overrides["database_url"] = None
    built = Settings(_env_file=None, **overrides)  # type: ignore[call-arg]
    upgrade(built)
    yield built
    if database_url and test_database:
        _pg_admin(database_url, f'DROP DATABASE IF EXISTS "{test_database}" WITH (FORCE)')


async def _wipe(database: Database) -> None:
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    async with database.write_sessions() as session:
        # DELETE, child tables first: far quicker than TRUNCATE for a test's few rows.
        if database.dialect == "sqlite":
            for name in tables:
                await session.execute(text(f"DELETE FROM {name}"))
            for index in (search.MESSAGES, search.CONTACTS):
                await session.execute(
                    text(f"INSERT INTO {index.name}({index.name}) VALUES ('delete-all')")
                )
            await session.execute(text("DELETE FROM sqlite_sequence"))
        else:
            # In one round trip (a script of statements, in one transaction): ~85 statements
            # one at a time were ~25 ms of every test.
            tables += [index.name for index in (search.MESSAGES, search.CONTACTS)]
            raw = await (await session.connection()).get_raw_connection()
            assert raw.driver_connection is not None
            await raw.driver_connection.execute("".join(f"DELETE FROM {name};" for name in tables))
        # A wiped workspace starts as a new one does.
        await session.execute(insert(Status), defaults.status_rows())
        await session.execute(insert(Mark), defaults.mark_rows())
        await session.commit()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.sqlalchemy_url)
    await _wipe(database)
    pgstats.clear()  # the statistics of the rows wiped
    yield database
    await database.dispose()


class RecordingBus(InProcessBus):
    """The in-process bus, remembering what was published."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.published.append(event)
        await super().publish(event)

    def types(self) -> list[str]:
        return [event.type for event in self.published]


@pytest.fixture
async def ctx(database: Database, settings: Settings) -> AsyncIterator[Ctx]:
    """A writer context on the test database, with a recording bus."""
    async with database.write_sessions() as session:
        yield Ctx(db=session, bus=RecordingBus(), settings=settings)


@pytest.fixture
def factory(ctx: Ctx) -> Factory:
    return Factory(ctx)


@pytest.fixture
async def client(database: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process (its lifespan run), over httpx."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# How long a server (a process, or the live server's thread) may take to answer: importing the
# app and migrating take a few seconds on a quiet machine and ten times that on a loaded CI box.
# A bound on "it started", not a speed test.
SERVER_START_SECONDS = 180


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Links the server makes (the web chat's script, public images) point at itself.
        own = settings.model_copy(update={"base_url": self.url})
        config = uvicorn.Config(
            create_app(own), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_server_session(settings: Settings) -> Iterator[LiveServer]:
    server = LiveServer(settings)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def live_server(live_server_session: LiveServer, database: Database) -> LiveServer:
    """A real uvicorn server on a free port (shared by the session; the data is wiped per test)."""
    return live_server_session


@pytest.fixture
def tmp_data_dir(tmp_path: Path) -> Path:
    return tmp_path
