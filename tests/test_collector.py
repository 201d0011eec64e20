"""kit.collector: the cyclic garbage collector held off while a loader works, its cycles
collected every so many batches, and the collector as it was afterwards."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from madoguchi.kit.collector import collector_off, collector_paused


class _Node:
    """An object in a cycle: reference counting alone never frees it."""

    def __init__(self) -> None:
        self.me: Any = self


def _cycle() -> weakref.ref[_Node]:
    return weakref.ref(_Node())


def test_cycles_wait_for_every_nth_batch_and_the_collector_comes_back() -> None:
    """Inside, the collector is off and what was there before is out of its walks; cyclic
    garbage is collected at every third batch; after, all is as before."""
    assert gc.isenabled() and gc.get_freeze_count() == 0
    with collector_paused(3) as written:
        assert not gc.isenabled() and gc.get_freeze_count() > 0
        cycle = _cycle()
        # Ten thousand more: the automatic collector, were it on, would have run many times.
        garbage = [_cycle() for _ in range(10_000)]
        written()
        written()
        assert cycle() is not None and all(node() is not None for node in garbage)
        written()  # the third batch: everything collected
        assert cycle() is None and all(node() is None for node in garbage)
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_what_a_process_froze_itself_stays_frozen() -> None:
    """A serving process freezes what it starts with (app._warm): a load inside it leaves
    that as it was."""
    gc.freeze()
    try:
        with collector_paused(1) as written:
            written()
        assert gc.get_freeze_count() > 0 and gc.isenabled()
    finally:
        gc.unfreeze()


def test_a_collector_already_off_stays_off_and_an_error_passes_through() -> None:
    gc.disable()
    try:
        with pytest.raises(RuntimeError, match="batch"), collector_paused(1) as written:
            written()
            raise RuntimeError("a batch failed")
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), collector_paused(1):
        raise RuntimeError
    assert gc.isenabled()


def test_every_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"), collector_paused(0):
        pass


def test_the_collector_off_for_a_while_and_as_it_was_after() -> None:
    """Off inside, on again after only where it was on: the inner of two stays off."""
    with collector_off():
        assert not gc.isenabled()
        cycle = _cycle()
        garbage = [_cycle() for _ in range(10_000)]
        assert cycle() is not None and all(node() is not None for node in garbage)
        with collector_off():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.collect()
    assert cycle() is None
