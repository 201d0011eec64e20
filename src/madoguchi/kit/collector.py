"""Python's cyclic garbage collector, held off while a process makes and drops many objects.

Reference counting frees what holds no cycle the moment it is dropped; the cyclic collector
exists for the rest, and walks every container object that has lived long enough, again and
again. A bulk loader keeps a batch's rows (tens of thousands of dicts, lists and dataclasses)
alive while the batch is made and written, and the reading dictionary (a quarter of a million
lists) all along: each full collection walked them all, more often as the load went on
(without it, a million contacts' load took 597 CPU-seconds of Python instead of 960: issue 14,
docs/benchmarks.md).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def freeze_held() -> None:
    """Everything the process holds now (its modules, a dictionary loaded, an app built) left
    out of every later collection (``gc.freeze``), its garbage collected first: what lives as
    long as the process is walked no more."""
    gc.collect()
    gc.freeze()


@contextmanager
def collector_off() -> Iterator[None]:
    """The automatic collector off inside, as it was again after (on only if it was on), for
    a burst of objects made at once that hold no cycles among them (a dictionary read from
    disk: each collection meanwhile walked what had been read so far)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def collector_paused(every: int) -> Iterator[Callable[[], None]]:
    """The automatic collector off inside (collector_off), and what the process holds on
    entering (its modules, a dictionary loaded before) left out of every collection until
    then (freeze_held). What does make cycles meanwhile (a statement's exception and its
    traceback, an event loop's callbacks) is collected at every ``every``-th call of the
    function given, which the caller makes once a unit of its work (a batch) is done: memory
    stays bounded, and each collection walks only what is new."""
    if every < 1:
        raise ValueError("every must be at least 1")
    frozen_before = gc.get_freeze_count()
    freeze_held()
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if done % every == 0:
            gc.collect()

    try:
        with collector_off():
            yield tick
    finally:
        if not frozen_before:
            # A process that froze nothing itself (a serving one freezes what it starts with)
            # gets everything walked again.
            gc.unfreeze()
