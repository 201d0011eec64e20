"""The inbox benchmark: list and search latency at two sizes, and inbound ingest throughput.

For each size a fresh database is filled by ``madoguchi demo --scale N``'s code, a real server
(``madoguchi serve``) is started on it in a process of its own, and requests go over HTTP. The
machine is noisy, so every figure is also given as a ratio to a baseline measured at the same
time against the same server: ``GET /healthz`` (the app's floor: routing, one ``SELECT 1``).

    python -m bench.run                      # 1,000 and 100,000 contacts on SQLite
    python -m bench.run --quick              # a smoke run on small sizes
    DATABASE_URL=postgresql://… python -m bench.run   # PostgreSQL (a database per size)

Prints a Markdown report and writes it to ``bench/results/latest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import platform
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import select

from bench import non_negative, positive, positives
from madoguchi.channels import service as channels
from madoguchi.channels.models import ChannelKind
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.contacts import reading
from madoguchi.contacts.models import Contact
from madoguchi.demo import load_scale
from madoguchi.kit.migrate import upgrade
from madoguchi.kit.text import like_pattern, normalize
from madoguchi.members import service as members

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
MADOGUCHI = str(Path(sys.executable).parent / "madoguchi")

# Queries the scale generator's pools make common (names, message words); the rare full name is
# picked from the data.
COMMON_NAME = "佐藤"
COMMON_READING = "さとう"
COMMON_WORD = "予約"
# In about 1% of conversations at any size: a few at 1,000 contacts, about a thousand at 100,000.
UNCOMMON_WORD = "松本様"
ONE_CHARACTER = "カ"
# The flatness goal: the large size's p95 at most this many times the small size's.
FLAT = 1.2


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = (1000, 100_000)
    requests: int = 200
    warmup: int = 20
    ingest: int = 1000
    clients: int = 4
    database_url: str | None = None
    out: Path = RESULTS
    keep: bool = False


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", type=positives, help="contact counts, comma-separated (default 1000,100000)"
    )
    parser.add_argument(
        "--requests", type=positive, help="timed requests per scenario (default 200)"
    )
    parser.add_argument("--warmup", type=non_negative, help="untimed requests per scenario first")
    parser.add_argument(
        "--ingest", type=positive, help="messages posted per ingest run (default 1000)"
    )
    parser.add_argument(
        "--clients", type=positive, help="concurrent clients for ingest (default 4)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and counts: a smoke run")
    parser.add_argument(
        "--database-url", help="a PostgreSQL server to make databases on (default: $DATABASE_URL)"
    )
    parser.add_argument("--out", type=Path, help=f"where the report goes (default {RESULTS})")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    args = parser.parse_args(argv)
    base = (
        Options(sizes=(200, 1000), requests=20, warmup=3, ingest=60, clients=2)
        if args.quick
        else Options()
    )
    return Options(
        sizes=args.sizes or base.sizes,
        requests=args.requests or base.requests,
        warmup=args.warmup if args.warmup is not None else base.warmup,
        ingest=args.ingest or base.ingest,
        clients=args.clients or base.clients,
        database_url=args.database_url or os.environ.get("DATABASE_URL") or None,
        out=args.out or base.out,
        keep=args.keep,
    )


# --- figures ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    """Latencies in milliseconds."""

    samples: tuple[float, ...]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        if len(self.samples) < 2:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=20, method="inclusive")[18]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    # Conversations it matches (for context), when known.
    hits: int | None = None


@dataclass
class Ingest:
    clients: int
    messages: int
    seconds: float
    healthz_per_second: float

    @property
    def per_second(self) -> float:
        return self.messages / self.seconds


@dataclass
class SizeResult:
    size: int
    messages: int
    generate_seconds: float
    scenarios: list[Scenario]
    latency: dict[str, Stats]
    sql_baseline: Stats
    ingest: list[Ingest]
    # LINE webhook events accepted (signed bodies of ten events each), one client.
    webhooks: Ingest | None = None
    # The 1-minute load average before and after measuring: other work on the machine shows here.
    load: tuple[float, float] = (0.0, 0.0)


# --- a database per size ----------------------------------------------------------------------


@dataclass
class Site:
    """A filled database for one size, and how to reach and remove it."""

    settings: Settings
    token: str
    api_channel_id: int
    line_channel_id: int
    rare_name: str
    messages: int
    generate_seconds: float
    drop: Callable[[], None]


def _pg_admin(url: str, statement: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(_plain_pg_url(url))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def _plain_pg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


@contextlib.contextmanager
def scratch_settings(database_url: str | None, label: str) -> Iterator[Settings]:
    """Settings on a fresh, migrated database for one benchmark run: a SQLite file in a
    temporary folder, or (``database_url``: a PostgreSQL server) a database of its own, dropped
    afterwards."""
    with tempfile.TemporaryDirectory() as workdir:
        url = None
        if database_url:
            name = f"madoguchi_bench_{label}_{secrets.token_hex(3)}"
            _pg_admin(database_url, f'CREATE DATABASE "{name}"')
            url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
        try:
            settings = Settings(_env_file=None, data_dir=Path(workdir), database_url=url)
            upgrade(settings)
            yield settings
        finally:
            if url and database_url:
                _pg_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_site(size: int, options: Options, workdir: Path) -> Site:
    data_dir = workdir / f"size-{size}"
    data_dir.mkdir(parents=True)
    database_url = None
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if options.database_url:
        name = f"madoguchi_bench_{size}_{secrets.token_hex(3)}"
        admin_url = options.database_url
        _pg_admin(admin_url, f'CREATE DATABASE "{name}"')
        database_url = urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))

        def drop() -> None:
            _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    settings = Settings(_env_file=None, data_dir=data_dir, database_url=database_url)
    upgrade(settings)

    async def fill() -> tuple[float, int, str, int, int, str]:
        async with command_ctx(settings) as ctx:
            started = time.perf_counter()
            made = await load_scale(ctx, contacts=size)
            seconds = time.perf_counter() - started
            member = (await members.list_members(ctx.db))[0]
            token = await members.create_token(ctx, member=member, name="bench")
            api_channel_id = next(
                c.id for c in await channels.list_channels(ctx.db) if c.kind == ChannelKind.api
            )
            names = list(await ctx.db.scalars(select(Contact.display_name)))
            # Its profile API points nowhere: a new sender's name is simply not found.
            line = await channels.create_channel(
                ctx,
                kind="line",
                name="bench LINE",
                settings={
                    "channel_secret": LINE_SECRET,
                    "access_token": "bench",
                    "api_base": "http://127.0.0.1:9",
                },
            )
            return seconds, made.messages, token, api_channel_id, line.id, _rare_full_name(names)

    seconds, messages, token, channel_id, line_id, rare = asyncio.run(fill())
    return Site(settings, token, channel_id, line_id, rare, messages, seconds, drop)


def _hiragana_reading(name: str) -> str:
    """The name's reading as someone types it: in hiragana, without spaces."""
    return normalize(reading.suggest(name) or name).replace(" ", "")


def _rare_full_name(display_names: Sequence[str], among: Sequence[str] | None = None) -> str:
    """The least common 【担当者】顧客氏名 customer name (ties: the first in sort order); with
    ``among``, the least common of the names found there (a rare name that a view holds)."""
    counts = Counter(name.partition("】")[2] for name in display_names if "】" in name)
    if among is not None:
        wanted = {name.partition("】")[2] for name in among}
        counts = Counter({name: n for name, n in counts.items() if name in wanted})
    if not counts:
        return (among or display_names)[0]
    return min(counts, key=lambda name: (counts[name], name))


# --- the server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def server(settings: Settings) -> Iterator[str]:
    """``madoguchi serve`` on a free port, in its own process; yields its base URL."""
    with server_process(settings) as (url, _pid):
        yield url


@contextlib.contextmanager
def server_process(
    settings: Settings, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """``madoguchi serve`` on a free port, in its own process; yields (base URL, pid)."""
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("MADOGUCHI_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env["MADOGUCHI_DATA_DIR"] = str(settings.data_dir)
    env["MADOGUCHI_LOG_LEVEL"] = "warning"  # no access log: it would be measured too
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    env.update(extra_env or {})
    process = subprocess.Popen(
        [MADOGUCHI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=settings.data_dir,  # no stray .env
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    with answering(process, url, "the server"):
        yield url, process.pid


@contextlib.contextmanager
def answering(process: subprocess.Popen[bytes], url: str, what: str) -> Iterator[None]:
    """Wait until the started ``process`` answers ``{url}/healthz``; stop it at the end."""
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with {process.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer /healthz within 60 s")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- measuring --------------------------------------------------------------------------------


def measure_latency(
    client: httpx.Client, scenarios: Sequence[Scenario], *, requests: int, warmup: int
) -> dict[str, Stats]:
    """Each scenario ``requests`` times, round-robin, so that noise falls on all alike."""
    samples: dict[str, list[float]] = {s.name: [] for s in scenarios}
    for round_ in range(warmup + requests):
        for scenario in scenarios:
            elapsed = timed_get(client, scenario)
            if round_ >= warmup:
                samples[scenario.name].append(elapsed)
    return {name: Stats(tuple(values)) for name, values in samples.items()}


def timed_get(client: httpx.Client, scenario: Scenario) -> float:
    """One request of the scenario: how long it took (ms); anything but 200 stops the run."""
    started = time.perf_counter()
    response = client.get(scenario.path, params=scenario.params)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{scenario.name}: {response.status_code} {response.text}")
    return elapsed


SMALL_PAGE = "5"
# The API's page when no limit is given.
PAGE = 50


def _hits(result: SizeResult, name: str) -> int:
    hits = next(s.hits for s in result.scenarios if s.name == name)
    return hits if hits is not None else 0


def list_scenarios(client: httpx.Client, site: Site) -> list[Scenario]:
    path = "/api/v1/conversations"
    first = client.get(path).json()
    scenarios = [
        Scenario("healthz", "/healthz"),
        Scenario("all", path, hits=_count(site.settings, "SELECT count(*) FROM conversations")),
        Scenario(
            "all, page 2", path, {"cursor": first["next_cursor"]} if first["next_cursor"] else {}
        ),
        Scenario(
            "unread", path, {"view": "unread"}, hits=_count(site.settings, UNREAD_OF_FIRST_MEMBER)
        ),
    ]
    searches = [
        ("q: common name", COMMON_NAME),
        ("q: rare full name", site.rare_name),
        ("q: common word", COMMON_WORD),
        ("q: uncommon word", UNCOMMON_WORD),
        ("q: 1 character", ONE_CHARACTER),
        # F46: names found by their reading, typed in hiragana (the contacts hold katakana).
        ("q: reading of the common name", COMMON_READING),
        ("q: reading of the rare full name", _hiragana_reading(site.rare_name)),
    ]
    for name, q in searches:
        scenarios.append(Scenario(name, path, {"q": q}, hits=count_matches(site.settings, q)))
    # The uncommon word has fewer matches than a page at 1,000 contacts (6) and a full page at
    # 100,000: its page of 50 compares 6 rows with 50. Pages of 5 are full at both sizes, so
    # their ratio is the search's own; "all" in pages of 5 is what those rows cost unsearched.
    scenarios += [
        Scenario("all, 5 per page", path, {"limit": SMALL_PAGE}),
        Scenario(
            "q: uncommon word, 5 per page",
            path,
            {"q": UNCOMMON_WORD, "limit": SMALL_PAGE},
            hits=count_matches(site.settings, UNCOMMON_WORD),
        ),
    ]
    scenarios += filter_scenarios(site.settings, path)
    scenarios += board_scenarios(site.settings)
    return scenarios


def board_scenarios(settings: Settings) -> list[Scenario]:
    """The board (F44): a column's first page (the commonest status's, and 「なし」), each the
    list query narrowed to one status, and every column's first page at once (the page's
    columns). Their ratio to /healthz is to stay as flat as the list's."""
    statuses = _rows(settings, MOST_USED.format(column="status_id", table="contacts"))
    open_of = (
        "SELECT count(*) FROM conversations c JOIN contacts k ON k.id = c.contact_id "
        "WHERE c.state = 'open' AND NOT k.hidden AND k.status_id {test}"
    )
    scenarios = []
    if statuses:
        status_id = int(max(statuses, key=lambda row: row[1])[0])
        scenarios.append(
            Scenario(
                "board: status column",
                f"/ui/board/columns/{status_id}",
                hits=_count(settings, open_of.format(test=f"= {status_id}")),
            )
        )
    scenarios += [
        Scenario(
            "board: none column",
            "/ui/board/columns/none",
            hits=_count(settings, open_of.format(test="IS NULL")),
        ),
        Scenario("board: every column", "/ui/board"),
    ]
    return scenarios


# The figure: the inbox filtered by a tag and a status, against the unfiltered list.
FILTER_GOAL = 1.5
MOST_USED = (
    "SELECT {column}, count(*) AS n FROM {table} WHERE {column} IS NOT NULL GROUP BY {column}"
)


def filter_scenarios(settings: Settings, path: str) -> list[Scenario]:
    """A tag about a fifth of the contacts carry and the commonest status, alone and together
    (none when the generated data has no tags)."""
    tags = _rows(settings, MOST_USED.format(column="tag_id", table="contact_tags"))
    statuses = _rows(settings, MOST_USED.format(column="status_id", table="contacts"))
    if not tags or not statuses:
        return []
    contacts = _count(settings, "SELECT count(*) FROM contacts")
    tag_id = min(tags, key=lambda row: abs(row[1] - contacts / 5))[0]
    status_id = max(statuses, key=lambda row: row[1])[0]
    both = (
        "SELECT count(*) FROM conversations c JOIN contacts k ON k.id = c.contact_id "
        f"WHERE k.status_id = {int(status_id)} AND c.state = 'open' AND EXISTS (SELECT 1 FROM "
        f"contact_tags t WHERE t.contact_id = k.id AND t.tag_id = {int(tag_id)})"
    )
    return [
        Scenario(
            "filter: tag",
            path,
            {"tag": str(tag_id)},
            hits=_count(
                settings, f"SELECT count(*) FROM contact_tags WHERE tag_id = {int(tag_id)}"
            ),
        ),
        Scenario(
            "filter: tag + status",
            path,
            {"tag": str(tag_id), "status": str(status_id)},
            hits=_count(settings, both),
        ),
    ]


def _rows(settings: Settings, sql: str) -> list[tuple[Any, int]]:
    if settings.is_sqlite:
        with contextlib.closing(sqlite3.connect(_sqlite_path(settings))) as db:
            return [(row[0], int(row[1])) for row in db.execute(sql).fetchall()]
    rows = _pg_run(settings, lambda db: db.fetch(sql))
    return [(row[0], int(row[1])) for row in rows]


def _sqlite_path(settings: Settings) -> str:
    return settings.sqlalchemy_url.removeprefix("sqlite+aiosqlite:///")


MATCHES = (
    "SELECT count(*) FROM conversations c JOIN contacts k ON k.id = c.contact_id "
    "WHERE k.search_text LIKE {p} ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m "
    "WHERE m.conversation_id = c.id AND m.search_text LIKE {p} ESCAPE '\\')"
)
NEWEST_PAGE = "SELECT * FROM conversations ORDER BY last_activity_at DESC, id DESC LIMIT 51"


# 未確認 is the team's by default (bench/unread.py compares it with each member's own).
UNREAD_OF_FIRST_MEMBER = "SELECT count(*) FROM conversation_team_unreads"


def count_matches(settings: Settings, q: str) -> int:
    """Conversations a search for ``q`` should find (a plain scan; for the report)."""
    pattern = like_pattern(q)
    if settings.is_sqlite:
        return _count(settings, MATCHES.format(p="?"), pattern, pattern)
    return _count(settings, MATCHES.format(p="$1"), pattern)


def _count(settings: Settings, sql: str, *params: str) -> int:
    if settings.is_sqlite:
        with contextlib.closing(sqlite3.connect(_sqlite_path(settings))) as db:
            return int(db.execute(sql, params).fetchone()[0])
    return int(_pg_run(settings, lambda db: db.fetchval(sql, *params)))


def _pg_run(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        connection = await asyncpg.connect(_plain_pg_url(settings.sqlalchemy_url))
        try:
            return await work(connection)
        finally:
            await connection.close()

    return asyncio.run(run())


def measure_sql(settings: Settings, *, requests: int, warmup: int) -> Stats:
    """The bare newest-first page on the same database, without the app: a reference floor."""
    samples: list[float] = []
    if settings.is_sqlite:
        with contextlib.closing(sqlite3.connect(_sqlite_path(settings))) as db:
            for round_ in range(warmup + requests):
                started = time.perf_counter()
                db.execute(NEWEST_PAGE).fetchall()
                if round_ >= warmup:
                    samples.append((time.perf_counter() - started) * 1000)
        return Stats(tuple(samples))

    async def timed(db: Any) -> None:
        for round_ in range(warmup + requests):
            started = time.perf_counter()
            await db.fetch(NEWEST_PAGE)
            if round_ >= warmup:
                samples.append((time.perf_counter() - started) * 1000)

    _pg_run(settings, timed)
    return Stats(tuple(samples))


# A request to make: method, path and JSON body (or None).
Request = tuple[str, str, dict[str, Any] | None]


async def _throughput(
    url: str, token: str, *, clients: int, count: int, request: Callable[[int], Request]
) -> float:
    """Seconds for ``count`` requests over ``clients`` connections working in parallel."""
    numbers = iter(range(count))
    headers = {"Authorization": f"Bearer {token}"}

    async def worker(client: httpx.AsyncClient) -> None:
        for number in numbers:
            method, path, body = request(number)
            response = await client.request(method, path, json=body)
            if response.status_code not in (200, 201):
                raise RuntimeError(f"{response.status_code} {response.text}")

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        return time.perf_counter() - started


def measure_ingest(url: str, site: Site, *, messages: int, clients: int) -> list[Ingest]:
    """Customer messages through the API channel (one contact per 5 messages), one client and
    then several; beside each, /healthz throughput with as many clients."""
    run_id = secrets.token_hex(3)
    path = f"/api/v1/channels/{site.api_channel_id}/inbound"
    figures = []
    for parallel in sorted({1, clients}):
        prefix = f"{run_id}-{parallel}"

        def inbound(number: int, prefix: str = prefix) -> Request:
            body = {
                "contact": {"external_id": f"bench-{prefix}-{number // 5}", "name": "ベンチ 太郎"},
                "external_id": f"bench-{prefix}-m{number}",
                "text": f"ベンチマークの問い合わせです。予約番号 {number} の件でご連絡しました。",
            }
            return ("POST", path, body)

        def healthz(_number: int) -> Request:
            return ("GET", "/healthz", None)

        warm = max(10, messages // 20)
        asyncio.run(_throughput(url, site.token, clients=parallel, count=warm, request=healthz))
        health_seconds = asyncio.run(
            _throughput(url, site.token, clients=parallel, count=messages, request=healthz)
        )
        seconds = asyncio.run(
            _throughput(url, site.token, clients=parallel, count=messages, request=inbound)
        )
        figures.append(Ingest(parallel, messages, seconds, messages / health_seconds))
    return figures


LINE_SECRET = "bench-line-secret"
EVENTS_PER_BODY = 10


def line_text_event(event_id: str, user: str, text: str) -> dict[str, Any]:
    """A LINE text message event as LINE sends it (message id = event id)."""
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1764000000000,
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "source": {"type": "user", "userId": user},
        "message": {"id": event_id, "type": "text", "text": text},
    }


def signed_line_body(secret: str, events: list[dict[str, Any]]) -> tuple[bytes, str]:
    """A webhook body and its X-Line-Signature."""
    raw = json.dumps({"destination": "Ubench", "events": events}).encode()
    signature = base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest())
    return raw, signature.decode()


def measure_webhooks(url: str, site: Site, *, events: int) -> Ingest:
    """Signed LINE webhook bodies of ten text events each (twenty senders), one client; beside
    it, /healthz requests per second."""
    run_id = secrets.token_hex(3)
    bodies = [
        signed_line_body(
            LINE_SECRET,
            [
                line_text_event(f"{run_id}-{n}", f"U{run_id}{n % 20}", f"予約の確認です {n}")
                for n in range(start, min(start + EVENTS_PER_BODY, events))
            ],
        )
        for start in range(0, events, EVENTS_PER_BODY)
    ]

    def healthz(_number: int) -> Request:
        return ("GET", "/healthz", None)

    health_seconds = asyncio.run(
        _throughput(url, site.token, clients=1, count=len(bodies), request=healthz)
    )
    path = f"/webhooks/line/{site.line_channel_id}"
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        for raw, signature in bodies:
            response = client.post(
                path,
                content=raw,
                headers={"X-Line-Signature": signature, "Content-Type": "application/json"},
            )
            if response.status_code != 200:
                raise RuntimeError(f"webhook: {response.status_code} {response.text}")
        seconds = time.perf_counter() - started
    return Ingest(1, events, seconds, len(bodies) / health_seconds)


# After making a size, the database is still writing what it was given (PostgreSQL's
# checkpoint, the system's dirty pages): /healthz measured then moved by 31-33 % against the
# small size and the run refused its verdict twice (issue 14). A checkpoint now, then a wait
# for the one-minute load to come down: below this, or for at most a quarter of the time the
# size took to make (nothing for the small sizes), and never more than SETTLE_MAX_SECONDS.
SETTLE_LOAD = 1.0
SETTLE_MAX_SECONDS = 240.0


def settle(site: Site, *, sleep: Callable[[float], None] = time.sleep) -> tuple[float, float]:
    """Let the machine come back to rest after making ``site``: (seconds waited, load then)."""
    if site.settings.database_url:
        try:
            _pg_admin(site.settings.database_url, "CHECKPOINT")
        except asyncpg.PostgresError as error:  # not a superuser (nor pg_checkpoint)
            print(f"… no CHECKPOINT: {error}", file=sys.stderr, flush=True)
    limit = min(SETTLE_MAX_SECONDS, site.generate_seconds / 4)
    waited = 0.0
    while os.getloadavg()[0] > SETTLE_LOAD and waited < limit:
        pause = min(5.0, limit - waited)
        sleep(pause)
        waited += pause
    return waited, os.getloadavg()[0]


def run_size(size: int, options: Options, workdir: Path) -> SizeResult:
    print(f"… {size:,} contacts: generating", file=sys.stderr, flush=True)
    site = make_site(size, options, workdir)
    try:
        waited, load = settle(site)
        print(
            f"… {size:,} contacts: made in {site.generate_seconds:.1f} s; settled for "
            f"{waited:.0f} s (load {load:.2f}); measuring",
            file=sys.stderr,
            flush=True,
        )
        load_before = os.getloadavg()[0]
        with server(site.settings) as url:
            headers = {"Authorization": f"Bearer {site.token}"}
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                scenarios = list_scenarios(client, site)
                latency = measure_latency(
                    client, scenarios, requests=options.requests, warmup=options.warmup
                )
            sql = measure_sql(site.settings, requests=options.requests, warmup=options.warmup)
            ingest = measure_ingest(url, site, messages=options.ingest, clients=options.clients)
            webhooks = measure_webhooks(url, site, events=options.ingest)
        return SizeResult(
            size=size,
            messages=site.messages,
            generate_seconds=site.generate_seconds,
            scenarios=scenarios,
            latency=latency,
            sql_baseline=sql,
            ingest=ingest,
            webhooks=webhooks,
            load=(load_before, os.getloadavg()[0]),
        )
    finally:
        if not options.keep:
            site.drop()


# --- the report -------------------------------------------------------------------------------


def _machine(options: Options) -> list[str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    database = (
        "PostgreSQL (DATABASE_URL)" if options.database_url else f"SQLite {sqlite3.sqlite_version}"
    )
    return [
        f"- Machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, database: {database}",
        f"- {options.requests} timed requests per scenario after {options.warmup} warm-up, "
        "round-robin over the scenarios; one `madoguchi serve` process, one client process",
    ]


def _normalised(
    small_stats: Stats, large_stats: Stats, small: SizeResult, large: SizeResult, quantile: str
) -> float:
    """How much slower at the large size, each size first divided by its own /healthz."""

    def at(stats: Stats, result: SizeResult) -> float:
        value: float = getattr(stats, quantile) / getattr(result.latency["healthz"], quantile)
        return value

    return at(large_stats, large) / at(small_stats, small)


# How far /healthz may move between sizes before the flatness verdicts mean nothing: the
# baseline itself changed (other work on the machine), so each ratio would measure the machine.
HEALTHZ_DRIFT = 0.30


def healthz_drift(small: SizeResult, large: SizeResult) -> float:
    """How much /healthz moved between two sizes, as a share (0.3 = 30 %), either way, at p50 or
    p95, whichever moved more."""
    moved = [
        getattr(large.latency["healthz"], q) / getattr(small.latency["healthz"], q)
        for q in ("p50", "p95")
    ]
    return max(max(m, 1 / m) for m in moved) - 1


def verdict_refused(results: Sequence[SizeResult]) -> bool:
    """True when the report gives no flatness verdict: /healthz moved by more than
    HEALTHZ_DRIFT between the smallest and the largest size."""
    return len(results) >= 2 and healthz_drift(results[0], results[-1]) > HEALTHZ_DRIFT


def _ratio(value: float) -> str:
    """Two decimals, or two significant digits below 0.1: the bare query can be a few
    thousandths of /healthz, which two decimals would print as 0.00."""
    return f"{value:.2f}" if value >= 0.1 else f"{value:.2g}"


def render(results: Sequence[SizeResult], options: Options) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Madoguchi benchmark ({when})", "", *_machine(options), ""]
    lines += ["## Data (`madoguchi demo --scale N`)", ""]
    lines += ["| contacts | messages | made in | contacts/s |", "|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r.size:,} | {r.messages:,} | {r.generate_seconds:.1f} s "
            f"| {r.size / r.generate_seconds:,.0f} |"
        )
    for r in results:
        healthz = r.latency["healthz"]
        lines += ["", f"## Inbox list at {r.size:,} contacts", ""]
        lines += [f"Load average {r.load[0]:.2f} before measuring, {r.load[1]:.2f} after.", ""]
        lines += [
            "| request | matches | p50 ms | p95 ms | p95 ÷ /healthz p95 |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in r.scenarios:
            stats = r.latency[s.name]
            label = s.name + (f" (`{s.params['q']}`)" if "q" in s.params else "")
            hits = f"{s.hits:,}" if s.hits is not None else ""
            lines.append(
                f"| {label} | {hits} | {stats.p50:.2f} | {stats.p95:.2f} "
                f"| {_ratio(stats.p95 / healthz.p95)} |"
            )
        sql = r.sql_baseline
        lines.append(
            f"| bare SQL: newest 51 conversations (no HTTP) | | {sql.p50:.3f} | {sql.p95:.3f} "
            f"| {_ratio(sql.p95 / healthz.p95)} |"
        )
    if len(results) >= 2:
        small, large = results[0], results[-1]
        lines += ["", f"## Flatness: {large.size:,} vs {small.size:,} contacts (goal ≤ {FLAT})", ""]
        refused = verdict_refused(results)
        if refused:
            lines += [
                f"**No verdict: /healthz itself moved by {healthz_drift(small, large):.0%} between "
                f"the sizes (more than {HEALTHZ_DRIFT:.0%}): the machine changed under the "
                "measurement. Run it again on a quieter machine.**",
                "",
            ]
        lines += [
            "| request | p95 ratio | p95 ratio ÷ /healthz's | p50 ratio ÷ /healthz's | flat? |",
            "|---|---:|---:|---:|:---:|",
        ]
        for s in small.scenarios:
            if s.name == "healthz":
                continue
            raw = large.latency[s.name].p95 / small.latency[s.name].p95
            p95 = _normalised(small.latency[s.name], large.latency[s.name], small, large, "p95")
            p50 = _normalised(small.latency[s.name], large.latency[s.name], small, large, "p50")
            verdict = "yes" if p95 <= FLAT else "**no**"
            if refused:
                verdict = "(no verdict)"
            page = int(s.params.get("limit", PAGE))
            if s.hits is not None and s.hits < page and _hits(large, s.name) >= page:
                # A short page against a full one: more rows to send, not a slower search.
                verdict = f"{verdict} ({s.hits} vs {page} rows)"
            lines.append(f"| {s.name} | {raw:.2f} | {p95:.2f} | {p50:.2f} | {verdict} |")
        raw = large.sql_baseline.p95 / small.sql_baseline.p95
        p95 = _normalised(small.sql_baseline, large.sql_baseline, small, large, "p95")
        p50 = _normalised(small.sql_baseline, large.sql_baseline, small, large, "p50")
        lines.append(f"| bare SQL (reference) | {raw:.2f} | {p95:.2f} | {p50:.2f} | |")
        health = large.latency["healthz"].p95 / small.latency["healthz"].p95
        lines.append(f"| /healthz (the baseline itself) | {health:.2f} | 1.00 | 1.00 | |")
    filtered = [s.name for s in results[-1].scenarios if s.name.startswith("filter:")]
    if filtered:
        lines += ["", f"## Filters against the unfiltered list (goal ≤ {FILTER_GOAL})", ""]
        lines += [
            "| contacts | request | p50 ÷ all's p50 | p95 ÷ all's p95 | within? |",
            "|---:|---|---:|---:|:---:|",
        ]
        for r in results:
            every = r.latency["all"]
            for name in filtered:
                if name not in r.latency:
                    continue
                p50 = r.latency[name].p50 / every.p50
                p95 = r.latency[name].p95 / every.p95
                verdict = "yes" if p95 <= FILTER_GOAL else "**no**"
                lines.append(f"| {r.size:,} | {name} | {p50:.2f} | {p95:.2f} | {verdict} |")
    lines += ["", "## Inbound ingest through the API channel", ""]
    lines += [
        "| contacts | clients | messages | messages/s | /healthz req/s | ÷ /healthz |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for i in r.ingest:
            lines.append(
                f"| {r.size:,} | {i.clients} | {i.messages:,} | {i.per_second:,.0f} "
                f"| {i.healthz_per_second:,.0f} | {i.per_second / i.healthz_per_second:.2f} |"
            )
    lines += ["", "## LINE webhook events accepted", ""]
    lines += [
        "| contacts | events | events/s | /healthz req/s | ÷ /healthz |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if r.webhooks is not None:
            w = r.webhooks
            lines.append(
                f"| {r.size:,} | {w.messages:,} | {w.per_second:,.0f} "
                f"| {w.healthz_per_second:,.0f} | {w.per_second / w.healthz_per_second:.2f} |"
            )
    return "\n".join(lines) + "\n"


def run(options: Options) -> list[SizeResult]:
    """Measure every size, each in a database of its own (removed afterwards unless ``keep``)."""
    workdir = Path(tempfile.mkdtemp(prefix="madoguchi-bench-"))
    try:
        return [run_size(size, options, workdir) for size in options.sizes]
    finally:
        if options.keep:
            print(f"(the databases are kept in {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    results = run(options)
    report = render(results, options)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(report, encoding="utf-8")
    print(report)
    print(f"(written to {options.out})", file=sys.stderr)
    if verdict_refused(results):
        print("No verdict: /healthz moved by more than 30 % between sizes; rerun.", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
