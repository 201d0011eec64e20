"""kit.db.bulk_insert: rows written in bulk (by COPY on PostgreSQL) read back exactly as the
same rows inserted one by one through SQLAlchemy: texts with tabs, line ends, backslashes and
quotes, JSON given, JSON null and no JSON at all, timestamps with their zone, booleans, and the
defaults of the columns a row leaves out. And the session's objects made from rows written or
read as plain rows (insert_objects, loaded_objects) behave as the ORM's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, func, insert, select, text

from madoguchi import search
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Message
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import (
    COPY_ROWS,
    bulk_insert,
    insert_objects,
    loaded_objects,
    reserve_ids,
    table_of,
)
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


async def test_reserved_ids_are_new_and_never_given_again(ctx: Ctx, factory: Factory) -> None:
    """Ids reserved for rows written in bulk, and written with them in the transaction, are
    above every id the table had and all different; a row inserted afterwards (its id from the
    table's own default) gets none of them, and a second reservation neither."""
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    highest = await ctx.db.scalar(select(func.max(MESSAGES.c.id)))
    assert highest is not None
    first = await reserve_ids(ctx.db, MESSAGES, 2 * COPY_ROWS)
    assert len(set(first)) == len(first) and min(first) > highest
    await bulk_insert(ctx.db, MESSAGES, _rows(ingested.conversation.id, channel.id, first))
    later = await factory.inbound(channel, text="後から")
    second = await reserve_ids(ctx.db, MESSAGES, 5)
    assert later.message.id not in first and later.message.id not in second
    assert not set(first) & set(second) and min(second) > highest
    assert await reserve_ids(ctx.db, MESSAGES, 0) == []


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


async def test_objects_written_as_plain_rows_are_the_session_s_own(
    ctx: Ctx, factory: Factory
) -> None:
    channel = await factory.channel()
    made = await insert_objects(
        ctx.db,
        Contact,
        [
            {"channel_id": channel.id, "external_id": f"plain-{n}", "display_name": f"客 {n}"}
            for n in range(3)
        ],
    )
    # In the order given, with the ids the database gave, every column as written (a column
    # left out holds its default), nothing left to flush.
    assert [c.external_id for c in made] == ["plain-0", "plain-1", "plain-2"]
    assert made[0].id < made[1].id < made[2].id
    assert (made[0].hidden, made[0].blocked, made[0].email, made[0].channel_name) == (
        False,
        False,
        None,
        "",
    )
    assert not ctx.db.dirty and not ctx.db.new
    assert await ctx.db.get(Contact, made[1].id) is made[1]
    # A change to one is flushed as the ORM's own objects' are.
    made[1].display_name = "変わった客"
    await ctx.db.commit()
    contacts = table_of(Contact).c
    names = await ctx.db.execute(
        select(contacts.external_id, contacts.display_name, contacts.hidden)
        .where(contacts.id.in_([c.id for c in made]))
        .order_by(contacts.id)
    )
    assert [tuple(row) for row in names] == [
        ("plain-0", "客 0", False),
        ("plain-1", "変わった客", False),
        ("plain-2", "客 2", False),
    ]


async def test_rows_read_as_plain_columns_are_the_session_s_objects(
    ctx: Ctx, factory: Factory
) -> None:
    channel = await factory.channel()
    first = await factory.inbound(channel, contact="held")
    second = await factory.inbound(channel, contact="read")
    await ctx.db.commit()
    contacts = table_of(Contact).c
    both = select(*contacts).where(contacts.channel_id == channel.id).order_by(contacts.id)
    held = await ctx.db.get(Contact, first.conversation.contact_id)
    assert held is not None
    held.display_name = "まだ書いていない名前"
    found = await loaded_objects(ctx.db, Contact, both)
    # One the session holds is that one, its unwritten change kept (as the ORM answers).
    assert found[0] is held and found[0].display_name == "まだ書いていない名前"
    assert found[1].id == second.conversation.contact_id and found[1].external_id == "read"
    await ctx.db.rollback()
    # Expired by the rollback: loaded again from the rows, nothing left to load lazily (an
    # attribute read would otherwise need the database, which an async session refuses).
    again = await loaded_objects(ctx.db, Contact, both)
    assert again[0] is held
    assert [c.display_name for c in again] == ["山田 花子", "山田 花子"]
