"""kit.db.one_at_a_time: two transactions with the same key pass one after the other."""

from __future__ import annotations

import asyncio

import pytest

from madoguchi.kit.db import Database, one_at_a_time


async def test_the_same_key_waits_for_the_first_transaction_and_another_key_does_not(
    database: Database,
) -> None:
    if database.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: there is nothing to lock (a no-op there)")
    async with (
        database.write_sessions() as first,
        database.write_sessions() as second,
        database.write_sessions() as other,
    ):
        await one_at_a_time(first, "line:1:U1")
        waiting = asyncio.create_task(one_at_a_time(second, "line:1:U1"))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # held by the first transaction
        await asyncio.wait_for(one_at_a_time(other, "line:1:U2"), 2)  # another person: free
        await first.commit()
        await asyncio.wait_for(waiting, 2)  # released with the first transaction
        await second.rollback()
        await other.rollback()
