"""kit.db.bulk_insert: rows written in bulk (by COPY on PostgreSQL) read back exactly as the
same rows inserted one by one through SQLAlchemy: texts with tabs, line ends, backslashes and
quotes, JSON given, JSON null and no JSON at all, timestamps with their zone, booleans, and the
defaults of the columns a row leaves out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, insert, select, text

from madoguchi import search
from madoguchi.conversations.models import Message
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import COPY_ROWS, bulk_insert, reserve_ids
from tests.fixtures import Factory

MESSAGES = cast(Table, Message.__table__)
START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
# What a COPY line could trip on, and what JSON could.
TEXTS = [
    "こんにちは",
    "タブ\tと\n改行と\r\nと \\ と \\N と \\t",
    'a "quoted" word, {braces}, NULL',
    "",
    "絵文字 😀",
]
METAS: list[Any] = [
    {"event": "closed", "actor": "美咲"},
    {"text": 'a\tb\nc \\ "d"', "list": [1, None, "x"]},
    None,  # JSON null, as the ORM stores None given
]


def _rows(
    conversation_id: int, channel_id: int, ids: list[int], *, way: str = "bulk"
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for n, message_id in enumerate(ids):
        row: dict[str, Any] = {
            "id": message_id,
            "conversation_id": conversation_id,
            "channel_id": channel_id,
            "kind": "inbound" if n % 2 else "note",
            "text": TEXTS[n % len(TEXTS)],
            "external_id": None if n % 3 else f"{way}\t{n}",
            # Another zone than UTC: stored as the same moment.
            "created_at": (START + timedelta(minutes=n)).astimezone(timezone(timedelta(hours=9))),
        }
        if n % 4:  # without the key: SQL NULL, as a row the ORM leaves without
            row["meta"] = METAS[n % len(METAS)]
        if n % 5 == 0:  # left out otherwise: the column's default
            row["broadcast"] = True
        rows.append(row)
    return rows


async def _stored(ctx: Ctx, ids: list[int]) -> list[tuple[Any, ...]]:
    rows = await ctx.db.execute(
        select(
            Message.kind,
            Message.text,
            Message.external_id,
            Message.meta,
            # JSON null is not SQL NULL, though both read back as None.
            text("meta IS NULL"),
            Message.created_at,
            Message.broadcast,
            Message.search_text,
            Message.delivery,
        )
        .where(Message.id.in_(ids))
        .order_by(Message.id)
    )
    return [tuple(row) for row in rows]


async def test_rows_in_bulk_read_back_as_rows_inserted_one_by_one(
    ctx: Ctx, factory: Factory
) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    conversation_id = ingested.conversation.id
    count = 2 * COPY_ROWS  # enough for COPY on PostgreSQL
    ids = await reserve_ids(ctx.db, MESSAGES, 2 * count)
    one_by_one, in_bulk = ids[:count], ids[count:]
    for row in _rows(conversation_id, channel.id, one_by_one, way="one"):
        await ctx.db.execute(insert(MESSAGES), [row])
    await bulk_insert(ctx.db, MESSAGES, _rows(conversation_id, channel.id, in_bulk))
    await ctx.db.commit()

    expected, found = await _stored(ctx, one_by_one), await _stored(ctx, in_bulk)
    assert [row[:2] + row[3:] for row in found] == [row[:2] + row[3:] for row in expected]
    assert [row[2] for row in found] == [
        None if row[2] is None else row[2].replace("one", "bulk") for row in expected
    ]
    assert len(found) == count
    assert {row[1] for row in found} == set(TEXTS)
    assert found[1][5] == START + timedelta(minutes=1)
    # No key, JSON null and a JSON object are three different things.
    assert {(row[3] is None, row[4]) for row in found} == {
        (True, True),
        (True, False),
        (False, False),
    }


async def test_a_failed_bulk_insert_leaves_nothing_and_the_transaction_rolls_back(
    ctx: Ctx, factory: Factory
) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    ids = await reserve_ids(ctx.db, MESSAGES, 2 * COPY_ROWS)
    rows = _rows(ingested.conversation.id, channel.id, ids)
    rows[-1]["conversation_id"] = 10**9  # no such conversation
    with pytest.raises(Exception, match="conversation"):
        await bulk_insert(ctx.db, MESSAGES, rows)
    await ctx.db.rollback()
    assert await _stored(ctx, ids) == []


async def test_arrays_by_copy_hold_what_they_were_given(ctx: Ctx, factory: Factory) -> None:
    """PostgreSQL's search tables keep text arrays: each element comes back as given, even
    those an array literal would otherwise read as something else."""
    if ctx.dialect != "postgresql":
        pytest.skip("text arrays are PostgreSQL's")
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    ids = await reserve_ids(ctx.db, MESSAGES, 2 * COPY_ROWS)
    await bulk_insert(ctx.db, MESSAGES, _rows(ingested.conversation.id, channel.id, ids))
    odd = ["NULL", "", "a,b", "{x}", 'say "hi"', "back\\slash", "tab\tline\nend", "日本"]
    table = search.MESSAGES.pg_table
    await bulk_insert(
        ctx.db,
        table,
        [{"owner_id": owner_id, "grams": odd if n % 2 else []} for n, owner_id in enumerate(ids)],
    )
    stored = dict(
        (
            await ctx.db.execute(
                select(table.c.owner_id, table.c.grams).where(table.c.owner_id.in_(ids))
            )
        ).all()
    )
    assert stored == {owner_id: odd if n % 2 else [] for n, owner_id in enumerate(ids)}
