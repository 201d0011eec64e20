"""Benchmarks: ``python -m bench.run`` (``make bench``). See docs/benchmarks.md."""

from __future__ import annotations

import argparse


def non_negative(text: str) -> int:
    """An argparse type: a whole number, 0 or more (argparse answers anything else with a
    sentence and exit code 2, never a traceback halfway through a run)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is less than 0")
    return value


def positive(text: str) -> int:
    """An argparse type: a whole number, 1 or more (a count of things to make or time)."""
    value = non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def positives(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated whole numbers, each 1 or more (sizes, batches)."""
    values = tuple(positive(part.strip()) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError("no number given")
    return values
