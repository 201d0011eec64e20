"""The request floor (issue 14, item 1): what every request costs before any work, against a bare
FastAPI app served by the same uvicorn on the same box, measured side by side in one run.

- **bare**: ``bench/bare.py``, one JSON route (``GET /healthz`` answering ``{"status": "ok"}``)
  in its own ``uvicorn`` process, with the options ``madoguchi serve`` gives uvicorn;
- **app**: ``madoguchi serve`` on a fresh migrated database: ``/healthz`` (routing, one
  ``SELECT 1``), a static file, a path no route has (404), and a page of the API unsigned (401).

One client with keep-alive per server, the requests round-robin so that noise falls on all
alike. Each row is its p50 and its ratio to the bare route's p50 (goal for ``/healthz``: ≤ 1.5).

    .venv/bin/python -m bench.floor --requests 2000
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx

from bench import non_negative, positive
from bench.run import Stats, _free_port, answering, scratch_settings, server_process

GOAL = 1.5


@dataclass(frozen=True)
class Probe:
    name: str
    server: str  # "bare" or "app"
    path: str
    status: int


PROBES = (
    Probe("bare FastAPI JSON route (reference)", "bare", "/healthz", 200),
    Probe("/healthz (routing, one SELECT 1)", "app", "/healthz", 200),
    Probe("static file (/static/favicon.svg)", "app", "/static/favicon.svg", 200),
    Probe("a path no route has (404)", "app", "/no/such/page", 404),
    Probe("an API page, not signed in (401)", "app", "/api/v1/conversations", 401),
)


@contextlib.contextmanager
def bare_server() -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare", str(port)], stdout=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    with answering(process, url, "the bare app"):
        yield url


def measure(urls: dict[str, str], *, requests: int, warmup: int) -> dict[str, Stats]:
    samples: dict[str, list[float]] = {probe.name: [] for probe in PROBES}
    with httpx.Client(base_url=urls["bare"]) as bare, httpx.Client(base_url=urls["app"]) as app:
        clients = {"bare": bare, "app": app}
        for round_ in range(warmup + requests):
            for probe in PROBES:
                started = time.perf_counter()
                response = clients[probe.server].get(probe.path)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != probe.status:
                    raise RuntimeError(f"{probe.name}: {response.status_code}, not {probe.status}")
                if round_ >= warmup:
                    samples[probe.name].append(elapsed)
    return {name: Stats(tuple(values)) for name, values in samples.items()}


def render(stats: dict[str, Stats]) -> str:
    reference = stats[PROBES[0].name].p50
    lines = [
        "## The request floor",
        "",
        "| request | p50 ms | p95 ms | p50 / bare |",
        "|---|---:|---:|---:|",
    ]
    for probe in PROBES:
        s = stats[probe.name]
        lines.append(f"| {probe.name} | {s.p50:.3f} | {s.p95:.3f} | {s.p50 / reference:.2f} |")
    healthz = stats[PROBES[1].name].p50 / reference
    verdict = "met" if healthz <= GOAL else "NOT met"
    lines.append("")
    lines.append(f"/healthz is {healthz:.2f}× the bare route (goal ≤ {GOAL}): {verdict}.")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=positive, default=2000)
    parser.add_argument("--warmup", type=non_negative, default=200)
    options = parser.parse_args(argv)
    with (
        scratch_settings(None, "floor") as settings,
        server_process(settings) as (app_url, _pid),
        bare_server() as bare_url,
    ):
        stats = measure(
            {"bare": bare_url, "app": app_url}, requests=options.requests, warmup=options.warmup
        )
    print(render(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
