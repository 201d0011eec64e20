"""Inbound ingest against a bare FastAPI app (issue 14, item 3), side by side in one run.

- **API channel**: ``--messages`` customer messages (one contact per 5) posted by ``--clients``
  concurrent clients to ``POST /api/v1/channels/{id}/inbound`` of ``--processes`` ``madoguchi
  serve`` processes (the clients spread over them), each answered only once committed; beside
  it, the same clients post as many bodies of the same size to the bare app's ``POST /inbound``
  (``bench/bare.py``, one process, answered 201). Rounds alternate bare and app, so that noise
  falls on both; the figure is the app's rate as a share of the bare rate (goal ≥ 0.5 on SQLite
  with one process and 8 clients; ≥ 1.0 on PostgreSQL with two processes and 16 clients).
- **LINE webhook**: signed bodies of ``--line-events`` text events (``--line-bodies`` of them,
  one client; each body's events stored before the next is sent, so that a body's answer is timed
  alone) against the bare route posted the same bytes (goal: a body in ≤ 20× one bare POST).

    .venv/bin/python -m bench.ingest
    .venv/bin/python -m bench.ingest --processes 2 --clients 16 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from bench import positive
from bench.floor import bare_server
from bench.run import (
    _count,
    _pg_admin,
    line_text_event,
    scratch_settings,
    server_process,
    signed_line_body,
)
from madoguchi.channels import service as channels
from madoguchi.channels.models import ChannelKind
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.members import service as members

LINE_SECRET = "bench-ingest-line-secret"


@dataclass(frozen=True)
class Site:
    token: str
    api_channel_id: int
    line_channel_id: int


async def _make_site(settings: Settings, line_api: str = "http://127.0.0.1:9") -> Site:
    """The members, token and channels the benchmark posts with; LINE's API at ``line_api``
    (by default nowhere: a new sender's name is simply not found, and a warning logged)."""
    async with command_ctx(settings) as ctx:
        owner = await members.create_member(
            ctx, email="bench@example.com", name="ベンチ", role="owner", password="bench-password-1"
        )
        token = await members.create_token(ctx, member=owner, name="bench")
        api = await channels.create_channel(ctx, kind=ChannelKind.api, name="API")
        line = await channels.create_channel(
            ctx,
            kind=ChannelKind.line,
            name="LINE",
            settings={
                "channel_secret": LINE_SECRET,
                "access_token": "bench",
                "api_base": line_api,
            },
        )
        return Site(token, api.id, line.id)


def message_body(run: str, number: int) -> dict[str, Any]:
    return {
        "contact": {"external_id": f"bench-{run}-{number // 5}", "name": "ベンチ 太郎"},
        "external_id": f"bench-{run}-m{number}",
        "text": f"ベンチマークの問い合わせです。予約番号 {number} の件でご連絡しました。",
    }


async def post_all(
    urls: Sequence[str], path: str, bodies: Sequence[dict[str, Any]], *, clients: int, token: str
) -> float:
    """Seconds for every body posted by ``clients`` connections working in parallel (client n on
    ``urls[n % len(urls)]``); any answer but 200/201 stops the run."""
    queue = iter(bodies)
    headers = {"Authorization": f"Bearer {token}"}

    async def client(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            for body in queue:
                response = await http.post(path, json=body)
                if response.status_code not in (200, 201):
                    raise RuntimeError(f"{url}{path}: {response.status_code} {response.text}")

    started = time.perf_counter()
    await asyncio.gather(*(client(urls[n % len(urls)]) for n in range(clients)))
    return time.perf_counter() - started


@dataclass(frozen=True)
class Round:
    bare_per_second: float
    app_per_second: float

    @property
    def share(self) -> float:
        return self.app_per_second / self.bare_per_second


def measure_api(
    app_urls: Sequence[str],
    bare_url: str,
    site: Site,
    *,
    messages: int,
    clients: int,
    rounds: int,
    settle: Callable[[], None] = lambda: None,
) -> list[Round]:
    """Rounds of bare POSTs, then the app's messages; ``settle`` runs before each of the app's,
    untimed."""
    path = f"/api/v1/channels/{site.api_channel_id}/inbound"
    # Warm both (imports, caches, the first contact).
    warm = secrets.token_hex(3)
    asyncio.run(
        post_all(
            app_urls, path, [message_body(warm, n) for n in range(20)], clients=2, token=site.token
        )
    )
    asyncio.run(
        post_all(
            [bare_url],
            "/inbound",
            [message_body(warm, n) for n in range(50)],
            clients=2,
            token=site.token,
        )
    )
    found = []
    for _ in range(rounds):
        run = secrets.token_hex(3)
        bodies = [message_body(run, n) for n in range(messages)]
        bare = asyncio.run(
            post_all([bare_url], "/inbound", bodies, clients=clients, token=site.token)
        )
        settle()
        app = asyncio.run(post_all(app_urls, path, bodies, clients=clients, token=site.token))
        found.append(Round(messages / bare, messages / app))
    return found


def line_body(run: str, body: int, events: int) -> tuple[bytes, str]:
    return signed_line_body(
        LINE_SECRET,
        [
            line_text_event(f"{run}-{body}-{n}", f"U{run}{n % 40}", f"予約の確認です {n}")
            for n in range(events)
        ],
    )


@dataclass(frozen=True)
class Webhook:
    events: int
    bare_ms: float  # p50 of one bare POST of such a body
    app_ms: float  # p50 of one body accepted by the app
    stored_ms: float  # p50 from a body's POST until all its events are stored

    @property
    def stored_per_second(self) -> float:
        return self.events / self.stored_ms * 1000

    @property
    def ratio(self) -> float:
        return self.app_ms / self.bare_ms


def _stored(settings: Settings, *, seconds: float = 120, poll: float = 0.05) -> None:
    """Wait until every kept webhook body is stored (the work after each answer)."""
    deadline = time.monotonic() + seconds
    while _count(settings, "SELECT count(*) FROM webhook_bodies"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"webhook bodies still kept after {seconds} s")
        time.sleep(poll)


def measure_line(
    settings: Settings, app_url: str, bare_url: str, site: Site, *, events: int, bodies: int
) -> Webhook:
    run = secrets.token_hex(3)
    made = [line_body(run, n, events) for n in range(bodies + 1)]
    headers = {"Content-Type": "application/json"}
    bare_times = []
    with httpx.Client(base_url=bare_url, timeout=60) as http:
        for n in range(bodies * 5 + 5):
            started = time.perf_counter()
            answer = http.post("/inbound", content=made[n % len(made)][0], headers=headers)
            if n >= 5:
                bare_times.append(time.perf_counter() - started)
            answer.raise_for_status()
    app_times = []
    stored_times = []
    path = f"/webhooks/line/{site.line_channel_id}"
    with httpx.Client(base_url=app_url, timeout=120) as http:
        for n, (raw, signature) in enumerate(made):  # the first warms the path
            started = time.perf_counter()
            answer = http.post(
                path, content=raw, headers={**headers, "X-Line-Signature": signature}
            )
            if answer.status_code != 200:
                raise RuntimeError(f"webhook: {answer.status_code} {answer.text}")
            if n:
                app_times.append(time.perf_counter() - started)
            # Each body is timed alone: not beside the storing of the one before.
            _stored(settings, poll=0.005)
            if n:
                stored_times.append(time.perf_counter() - started)
    return Webhook(
        events,
        statistics.median(bare_times) * 1000,
        statistics.median(app_times) * 1000,
        statistics.median(stored_times) * 1000,
    )


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.1f} / {five:.1f}"


def analyze(settings: Settings) -> None:
    """PostgreSQL's statistics brought up to date, as autovacuum keeps them in a running
    deployment (a table analysed once a tenth of it changed, a minute later at most). A round
    is quicker than that, and the database is new: the plans of the foreign keys' checks, made
    while the tables were empty, read every row (each message read every conversation), and
    each round was slower than the one before (228, 207, 178 messages a second; in eight
    rounds, PostgreSQL's CPU per message doubled)."""
    if settings.database_url:
        _pg_admin(str(settings.database_url), "ANALYZE")


@contextlib.contextmanager
def servers(settings: Settings, processes: int) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        urls = []
        for _ in range(processes):
            url, _pid = stack.enter_context(server_process(settings))
            urls.append(url)
        yield urls


def render(
    rounds: list[Round],
    webhook: Webhook,
    *,
    engine: str,
    processes: int,
    clients: int,
    messages: int,
    load: tuple[str, str],
) -> str:
    lines = [
        f"## Inbound ingest ({engine}, {processes} process(es), {clients} clients, "
        f"{messages:,} messages a round)",
        "",
        f"Load average (1 / 5 min): {load[0]} before, {load[1]} after.",
        "",
        "| round | bare POST /s | app messages /s | share of bare |",
        "|---:|---:|---:|---:|",
    ]
    for n, r in enumerate(rounds, 1):
        lines.append(
            f"| {n} | {r.bare_per_second:,.0f} | {r.app_per_second:,.1f} | {r.share:.3f} |"
        )
    share = statistics.median(r.share for r in rounds)
    lines += [
        "",
        f"Share of the bare rate (median of the rounds): **{share:.3f}**.",
        "",
        f"LINE webhook, a signed body of {webhook.events} events: p50 {webhook.app_ms:,.1f} ms "
        f"against {webhook.bare_ms:,.2f} ms for one bare POST of the same bytes: "
        f"**{webhook.ratio:,.1f}×** (goal ≤ 20×). Its events stored {webhook.stored_ms:,.0f} ms "
        f"after the POST (p50): {webhook.stored_per_second:,.0f} events/s.",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=positive, default=1000)
    parser.add_argument("--clients", type=positive, default=8)
    parser.add_argument("--processes", type=positive, default=1)
    parser.add_argument("--rounds", type=positive, default=3)
    parser.add_argument("--line-events", type=positive, default=100)
    parser.add_argument("--line-bodies", type=positive, default=5)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args(argv)
    before = _load()
    with (
        scratch_settings(options.database_url, "ingest") as settings,
        bare_server() as bare_url,
    ):
        # LINE's profile API is the bare app's: it answers each new sender's profile.
        site = asyncio.run(_make_site(settings, line_api=bare_url))
        with servers(settings, options.processes) as urls:
            print("… measuring", file=sys.stderr, flush=True)
            rounds = measure_api(
                urls,
                bare_url,
                site,
                messages=options.messages,
                clients=options.clients,
                rounds=options.rounds,
                settle=lambda: analyze(settings),
            )
            webhook = measure_line(
                settings,
                urls[0],
                bare_url,
                site,
                events=options.line_events,
                bodies=options.line_bodies,
            )
    print(
        render(
            rounds,
            webhook,
            engine="PostgreSQL" if options.database_url else "SQLite",
            processes=options.processes,
            clients=options.clients,
            messages=options.messages,
            load=(before, _load()),
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
