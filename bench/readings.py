"""How long suggesting a reading (フリガナ, F46) takes per name: the names ``demo --scale`` makes
(a surname and a given name from the pools, some with 【担当者】 before them or an emoji after),
suggested one by one as a new contact's would be, after the converter is built once.

    .venv/bin/python -m bench.readings --names 20000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=20000)
    args = parser.parse_args()
    started = time.perf_counter()
    reading.suggest("佐藤")  # builds the converter (the dictionary is read once per process)
    first = time.perf_counter() - started
    timings = []
    suggested = 0
    for name in names(args.names):
        started = time.perf_counter()
        found = reading.suggest(name)
        timings.append(time.perf_counter() - started)
        suggested += found is not None
    timings.sort()
    p50 = statistics.median(timings) * 1000
    p95 = timings[int(len(timings) * 0.95)] * 1000
    p99 = timings[int(len(timings) * 0.99)] * 1000
    print(f"converter built in {first * 1000:.0f} ms (once per process)")
    print(
        f"{len(timings)} names, {suggested} with a reading: p50 {p50:.3f} ms, p95 {p95:.3f} ms, "
        f"p99 {p99:.3f} ms, max {timings[-1] * 1000:.3f} ms (goal ≤ {GOAL_MS} ms)"
    )


if __name__ == "__main__":
    main()
