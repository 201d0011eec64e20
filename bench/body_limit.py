"""The body-size probe: does a flood of huge request bodies raise the server's memory?

Starts ``madoguchi serve`` on a fresh SQLite data folder and a free loopback port, measures its
resident memory idle, then sends eight 100 MB bodies at once in each of three rounds (chunked JSON
to the API, webhooks declaring their Content-Length, chunked uploads) while sampling the
server's memory every 10 ms. The goal (issue 9): the peak stays under idle + 50 MB.

    .venv/bin/python -m bench.body_limit            # eight 100 MB bodies per round
    .venv/bin/python -m bench.body_limit --mb 20 --clients 2

Prints a Markdown table; exits 1 when a round misses the goal or a body is not answered 413.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import positive
from bench.run import server_process
from madoguchi.config import Settings

MIB = 1024 * 1024
GOAL = 50 * MIB
CHUNK = 256 * 1024


BOUNDARY = "probe"


@dataclass(frozen=True)
class Round:
    name: str
    path: str
    chunked: bool
    multipart: bool = False


ROUNDS = (
    Round("JSON API, chunked", "/api/v1/auth/login", chunked=True),
    Round("webhook, Content-Length", "/webhooks/line/1", chunked=False),
    Round("image upload form, chunked", "/api/v1/files", chunked=True, multipart=True),
    Round("JSON to the upload address, chunked", "/api/v1/files", chunked=True),
)


@dataclass
class Outcome:
    round: Round
    statuses: list[int]
    peak: int
    seconds: float


def resident(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def post(url: str, probe: Round, total: int) -> int:
    """Send ``total`` bytes while reading the answer; the status, or 0 when none came."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    chunked = probe.chunked
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    content_type = (
        f"multipart/form-data; boundary={BOUNDARY}" if probe.multipart else "application/json"
    )
    writer.write(
        f"POST {probe.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
        f"{framing}\r\n\r\n".encode()
    )
    chunk = b"[" * CHUNK

    async def send_body() -> None:
        if probe.multipart:  # one file part that never ends
            part = (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
                'filename="a.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
        for _ in range(total // CHUNK):
            writer.write(b"%x\r\n%s\r\n" % (CHUNK, chunk) if chunked else chunk)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    sender = asyncio.create_task(send_body())
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 120)
        return int(head.split(b" ", 2)[1])
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        return 0
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()


def run_round(url: str, pid: int, probe: Round, *, clients: int, total: int) -> Outcome:
    peak = resident(pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident(pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()

    async def flood() -> list[int]:
        sends = (post(url, probe, total) for _ in range(clients))
        return list(await asyncio.gather(*sends))

    try:
        statuses = asyncio.run(flood())
    finally:
        done.set()
        sampler.join()
    return Outcome(probe, statuses, peak, time.monotonic() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=positive, default=100, help="size of each body (MB)")
    parser.add_argument("--clients", type=positive, default=8, help="bodies sent at once")
    options = parser.parse_args(argv)
    total = options.mb * MIB
    with (
        tempfile.TemporaryDirectory() as folder,
        server_process(Settings(_env_file=None, data_dir=Path(folder), database_url=None)) as (
            url,
            pid,
        ),
    ):
        for _ in range(20):  # warm: the first requests import and cache what the rest use
            httpx.get(f"{url}/healthz")
            httpx.post(f"{url}/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
        time.sleep(0.5)
        idle = resident(pid)
        outcomes = [
            run_round(url, pid, probe, clients=options.clients, total=total) for probe in ROUNDS
        ]
    print(
        f"Server idle: {idle / MIB:.1f} MB resident; goal: peak under {(idle + GOAL) / MIB:.1f} MB"
    )
    print(f"{options.clients} × {options.mb} MB bodies at once per round\n")
    print("| Round | Answers | Peak resident | Above idle | Time |")
    print("|---|---|---:|---:|---:|")
    failed = False
    for outcome in outcomes:
        answers = ", ".join(
            f"{n}×{s}" for s in sorted(set(outcome.statuses)) for n in [outcome.statuses.count(s)]
        )
        above = outcome.peak - idle
        failed = failed or above >= GOAL or set(outcome.statuses) != {413}
        print(
            f"| {outcome.round.name} | {answers} | {outcome.peak / MIB:.1f} MB | "
            f"{above / MIB:+.1f} MB | {outcome.seconds:.2f} s |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
