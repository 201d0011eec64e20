"""Live delivery to many members (issue 14, item 4): N members connected by WebSocket, spread
over P ``madoguchi serve`` processes (PostgreSQL + Redis when P > 1), and customers' messages
posted to the first process one at a time. For every message and every connection: the time from
sending the POST to that connection receiving its ``message.created`` frame. Reports p50 / p99
over all of them, and each server process's memory (RSS) with every member connected.

The first few messages (``--warmup``) are delivered and timed but not counted: a process's first
message compiles the statements it will reuse (its deliveries took ~80 ms against ~45 ms for the
next ones), and with 40 messages its 500 deliveries alone would be the p99. The slowest delivery
of the first message after start is reported on its own line.

The members' connections are shared among several client processes (``--clients``), each with
its own event loop, so that reading 500 frames one after another on one loop does not count as
the server's delay. Their clocks are the machine's one clock (``time.time``).

    .venv/bin/python -m bench.live --members 500 --processes 2 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python -m bench.live --members 200          # one process, SQLite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import httpx

from bench import non_negative, positive
from bench.run import scratch_settings, server_process
from madoguchi.channels import service as channels
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.members import service as members

P99_GOAL_MS = 50.0
RSS_GOAL_MB = 300.0
PASSWORD = "bench live password"


@dataclass(frozen=True)
class Result:
    members: int
    processes: int
    messages: int
    latencies_ms: tuple[float, ...]
    rss_mb: tuple[float, ...]
    database: str
    # The servers on one CPU, the clients on the others (``--pin``).
    pinned: bool = False
    # Messages delivered before the counted ones, and the slowest delivery of the first.
    warmup: int = 0
    first_ms: float | None = None

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[98]


async def _prepare(settings: Settings, count: int) -> tuple[list[str], int]:
    async with command_ctx(settings) as ctx:
        tokens = []
        for n in range(count):
            member = await members.create_member(
                ctx,
                email=f"live{n}@bench.example",
                name=f"スタッフ{n}",
                role="agent",
                password=PASSWORD,
            )
            tokens.append(await members.create_token(ctx, member=member, name="bench"))
        channel = await channels.create_channel(ctx, kind="api", name="API")
        return tokens, channel.id


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _listen(
    urls: Sequence[str], tokens: Sequence[str], expected: int, pipe: Connection
) -> None:
    """Connect every token to its server, say so, then note when each message.created frame
    arrives (per connection), and send the notes back when all expected frames came."""
    import websockets

    arrivals: list[tuple[int, float]] = []
    done = asyncio.Event()
    remaining = expected * len(tokens)

    async def one(url: str, token: str, ready: asyncio.Event) -> None:
        nonlocal remaining
        ws_url = url.replace("http://", "ws://") + "/ws"
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(ws_url, additional_headers=headers, max_queue=None) as ws:
            json.loads(await ws.recv())  # ready
            ready.set()
            async for raw in ws:
                at = time.time()
                frame = json.loads(raw)
                if frame.get("type") == "message.created":
                    arrivals.append((int(frame["message_id"]), at))
                    remaining -= 1
                    if remaining <= 0:
                        done.set()
                        return

    readies = [asyncio.Event() for _ in tokens]
    tasks = [
        asyncio.create_task(one(url, token, ready))
        for url, token, ready in zip(urls, tokens, readies, strict=True)
    ]
    await asyncio.gather(*(ready.wait() for ready in readies))
    pipe.send("ready")
    try:
        await asyncio.wait_for(done.wait(), 120)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    pipe.send(arrivals)


def _listener(
    urls: list[str], tokens: list[str], expected: int, pipe: Connection, cpus: set[int] | None
) -> None:
    if cpus:
        os.sched_setaffinity(0, cpus)
    asyncio.run(_listen(urls, tokens, expected, pipe))


def split_cpus() -> tuple[set[int], set[int]] | None:
    """The servers' CPUs and the clients' (``--pin``): the first CPU for the servers, the rest
    for the clients, so that reading 500 connections' frames is not counted as the servers'
    delay. None on a machine of one CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


@contextlib.contextmanager
def servers(
    settings: Settings, count: int, redis_url: str | None
) -> Iterator[list[tuple[str, int]]]:
    extra = {"MADOGUCHI_WORKER": "false"}
    if redis_url:
        extra.update(
            REDIS_URL=redis_url, MADOGUCHI_REDIS_PREFIX=f"bench-live-{secrets.token_hex(3)}"
        )
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(server_process(settings, extra)) for _ in range(count)]


def measure(
    settings: Settings,
    *,
    members_count: int,
    processes: int,
    messages: int,
    clients: int,
    redis_url: str | None,
    pin: bool = False,
    warmup: int = 0,
) -> Result:
    tokens, channel_id = asyncio.run(_prepare(settings, members_count))
    cpus = split_cpus() if pin else None
    with servers(settings, processes, redis_url) as running:
        if cpus is not None:
            for _url, pid in running:
                os.sched_setaffinity(pid, cpus[0])
            os.sched_setaffinity(0, cpus[1])  # the posting client too, until the end
        try:
            return _deliveries(
                settings, running, tokens, channel_id, messages, clients, cpus, processes, warmup
            )
        finally:
            if cpus is not None:
                os.sched_setaffinity(0, cpus[0] | cpus[1])


def _deliveries(
    settings: Settings,
    running: list[tuple[str, int]],
    tokens: list[str],
    channel_id: int,
    messages: int,
    clients: int,
    cpus: tuple[set[int], set[int]] | None,
    processes: int,
    warmup: int,
) -> Result:
    """Connect every member, post the messages one at a time (the warm-up's first), and time
    each delivery."""
    urls = [url for url, _pid in running]
    # Member n connects to process n mod P; the members are split among the clients.
    assigned = [(urls[n % processes], token) for n, token in enumerate(tokens)]
    share = [assigned[k::clients] for k in range(clients)]
    listeners = []
    for part in share:
        if not part:
            continue
        ours, theirs = multiprocessing.Pipe()
        process = multiprocessing.Process(
            target=_listener,
            args=(
                [u for u, _ in part],
                [t for _, t in part],
                warmup + messages,
                theirs,
                cpus[1] if cpus else None,
            ),
        )
        process.start()
        listeners.append((process, ours))
    for _process, pipe in listeners:
        if not pipe.poll(180) or pipe.recv() != "ready":
            raise RuntimeError("the members did not all connect within 3 minutes")
    rss = tuple(_rss_mb(pid) for _url, pid in running)
    sent: dict[int, float] = {}
    warming: set[int] = set()
    first: int | None = None
    with httpx.Client(base_url=urls[0], headers={"Authorization": f"Bearer {tokens[0]}"}) as http:
        for n in range(warmup + messages):
            started = time.time()
            answer = http.post(
                f"/api/v1/channels/{channel_id}/inbound",
                json={
                    "contact": {"external_id": f"live-{n % 10}", "name": "ライブ 花子"},
                    "external_id": f"live-m{n}",
                    "text": f"届いていますか {n}",
                },
            )
            answer.raise_for_status()
            message_id = int(answer.json()["id"])
            sent[message_id] = started
            if n < warmup:
                warming.add(message_id)
            if n == 0:
                first = message_id
            time.sleep(0.05)  # one message at a time, as customers write
    latencies: list[float] = []
    firsts: list[float] = []
    for process, pipe in listeners:
        if not pipe.poll(180):
            raise RuntimeError("a client did not receive every message within 3 minutes")
        for message_id, at in pipe.recv():
            took = (at - sent[message_id]) * 1000
            if message_id == first:
                firsts.append(took)
            if message_id not in warming:
                latencies.append(took)
        process.join(10)
    rss = tuple(max(a, _rss_mb(pid)) for a, (_url, pid) in zip(rss, running, strict=True))
    database = "PostgreSQL + Redis" if settings.database_url else "SQLite"
    return Result(
        len(tokens),
        processes,
        messages,
        tuple(latencies),
        rss,
        database,
        cpus is not None,
        warmup,
        max(firsts) if firsts else None,
    )


def render(result: Result) -> str:
    lines = [
        f"## Live delivery: {result.members} members on {result.processes} process(es), "
        f"{result.database}",
        "",
        f"{result.messages} customer messages, one at a time; each reached every member "
        f"({len(result.latencies_ms):,} deliveries)"
        + (f", after {result.warmup} not counted." if result.warmup else ".")
        + (
            " The servers on one CPU, the clients on the others (PostgreSQL and Redis unpinned)."
            if result.pinned
            else " Servers and clients share the CPUs."
        ),
        "",
        "| figure | value | goal |",
        "|---|---:|---:|",
        f"| delivery p50 | {result.p50:.1f} ms | |",
        f"| delivery p99 | {result.p99:.1f} ms | ≤ {P99_GOAL_MS:.0f} ms |",
    ]
    if result.first_ms is not None:
        lines.append(
            f"| the first message after start: slowest delivery | {result.first_ms:.1f} ms | |"
        )
    for n, rss in enumerate(result.rss_mb, 1):
        lines.append(f"| process {n} memory (RSS) | {rss:.0f} MB | ≤ {RSS_GOAL_MB:.0f} MB |")
    met = result.p99 <= P99_GOAL_MS and all(r <= RSS_GOAL_MB for r in result.rss_mb)
    lines += ["", f"Goal {'met' if met else 'NOT met'}. Load average {os.getloadavg()[0]:.2f}."]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.live", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--members", type=positive, default=500)
    parser.add_argument("--processes", type=positive, default=1)
    parser.add_argument("--messages", type=positive, default=40)
    parser.add_argument(
        "--warmup", type=non_negative, default=5, help="messages delivered first and not counted"
    )
    parser.add_argument(
        "--clients", type=positive, default=4, help="client processes for the members"
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the servers on the first CPU, the clients on the others (Linux)",
    )
    args = parser.parse_args(argv)
    if args.processes > 1 and not (args.database_url and args.redis_url):
        print(
            "Several processes need --database-url (PostgreSQL) and --redis-url.", file=sys.stderr
        )
        return 2
    with scratch_settings(args.database_url, "live") as settings:
        result = measure(
            settings,
            members_count=args.members,
            processes=args.processes,
            messages=args.messages,
            clients=args.clients,
            redis_url=args.redis_url if args.processes > 1 else None,
            pin=args.pin,
            warmup=args.warmup,
        )
    print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
