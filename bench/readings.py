"""How long suggesting a reading (フリガナ, F46) takes per name: the names ``demo --scale`` makes
(a surname and a given name from the pools, some with 【担当者】 before them or an emoji after),
suggested one by one as a new contact's would be, after the converter is built once.

    .venv/bin/python -m bench.readings --names 20000
"""

from __future__ import annotations

import argparse
import random
import time

from bench import positive
from madoguchi.contacts import reading
from madoguchi.demo.pools import EMOJI, GIVEN_NAMES, SURNAME_WEIGHTS, SURNAMES

GOAL_MS = 1.0


def names(count: int, seed: int = 20261204) -> list[str]:
    rng = random.Random(seed)
    made = []
    for _ in range(count):
        name = f"{rng.choices(SURNAMES, SURNAME_WEIGHTS)[0][0]} {rng.choice(GIVEN_NAMES)[0]}"
        roll = rng.random()
        if roll < 0.3:
            name = f"【{rng.choice(GIVEN_NAMES)[0]}】{name}"
        elif roll < 0.4:
            name += rng.choice(EMOJI)
        made.append(name)
    return made


def _percentiles(timings: list[float]) -> str:
    ordered = sorted(timings)
    at = [ordered[int(len(ordered) * share)] * 1000 for share in (0.5, 0.95, 0.99)]
    return (
        f"p50 {at[0]:.3f} ms, p95 {at[1]:.3f} ms, p99 {at[2]:.3f} ms, "
        f"max {ordered[-1] * 1000:.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=positive, default=20000)
    args = parser.parse_args()
    started = time.perf_counter()
    reading.warm()  # the dictionary is read once per process (the app does it at start)
    built = time.perf_counter() - started
    wall: list[float] = []
    cpu: list[float] = []
    suggested = 0
    for name in names(args.names):
        reading.suggest.cache_clear()  # every name as if never seen: the cache is not measured
        started, used = time.perf_counter(), time.thread_time()
        found = reading.suggest(name)
        cpu.append(time.thread_time() - used)
        wall.append(time.perf_counter() - started)
        suggested += found is not None
    print(f"dictionary loaded in {built * 1000:.0f} ms (once per process)")
    print(f"{len(wall)} names, {suggested} with a reading (goal ≤ {GOAL_MS} ms a name)")
    print(f"  CPU time of this thread: {_percentiles(cpu)}")
    print(f"  wall clock (other processes' load included): {_percentiles(wall)}")


if __name__ == "__main__":
    main()
