"""PostgreSQL's statistics as the lists read them (kit.pgstats): once a while, not at each
request, and the estimates drawn from them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from madoguchi.conversations import repository, workflow
from madoguchi.conversations.repository import InboxQuery
from madoguchi.kit import pgstats
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.fixtures import Factory, statements_run


@contextmanager
def _columns_read() -> Iterator[list[tuple[str, str]]]:
    """The (table, column) pairs whose statistics are read meanwhile."""
    read: list[tuple[str, str]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_args: Any) -> None:
        if "pg_stats" in sql:
            read.extend(zip(*parameters, strict=True))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield read
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


async def test_a_columns_statistics_are_read_once_a_while_and_estimate_a_values_rows(
    ctx: Ctx, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The columns asked for are read in one statement, then kept until STATISTICS_SECONDS
    have passed. A value among the commonest has its share of the rows; another, the rest
    spread over the other values; a column never analysed says so; a table that does not
    exist is left out."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite has no statistics of its own: the lists count there")
    member = await factory.member(role="owner")
    channel = await factory.channel()
    for n in range(10):
        ingested = await factory.inbound(channel, contact=f"stat-{n}", text="こんにちは")
        if n < 4:
            await workflow.assign(
                ctx, conversation_id=ingested.conversation.id, member_id=member.id, actor=None
            )
    await ctx.commit()
    await ctx.db.execute(text("ANALYZE conversations"))
    assignee, state = ("conversations", "assignee_id"), ("conversations", "state")
    unanalysed = ("conversations", "no_such_column")
    wanted = [assignee, state, unanalysed, ("no_such_table", "id")]

    with _columns_read() as read:
        first = await pgstats.columns(ctx.db, wanted)
    assert read == wanted
    with _columns_read() as read:
        again = await pgstats.columns(ctx.db, wanted)
    assert read == [("no_such_table", "id")]  # asked for again: nothing was kept of it
    assert first.keys() == {assignee, state, unanalysed}
    assert again == {key: first[key] for key in again}
    assigned = first[assignee]
    assert assigned.analysed and assigned.rows == 10
    assert assigned.null_share == pytest.approx(0.6)
    assert round(assigned.rows_of(member.id)) == 4
    assert round(assigned.rows_of(member.id + 1)) == 0
    assert first[state].values == {"open": 1.0}
    assert not first[unanalysed].analysed

    monkeypatch.setattr(pgstats, "STATISTICS_SECONDS", -1.0)
    with _columns_read() as read:
        await pgstats.columns(ctx.db, [assignee])
    assert read == [assignee]


async def test_a_view_searched_again_and_again_reads_the_statistics_once(
    ctx: Ctx, factory: Factory
) -> None:
    """Whether 担当: 自分 or 未確認 holds enough of the conversations to walk the search entries
    goes by PostgreSQL's statistics; the second request's answer is the first's, with no
    statement of its own for it (it read pg_stats at every request: 11–14 ms at a million)."""
    if ctx.dialect != "postgresql":
        pytest.skip("SQLite walks the view: it reads no statistics")
    member = await factory.member(role="owner")
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="view-stat", text="ご予約の件")
    await workflow.assign(
        ctx, conversation_id=ingested.conversation.id, member_id=member.id, actor=None
    )
    await ctx.commit()
    await ctx.db.execute(text("ANALYZE conversations, conversation_team_unreads"))
    reads = []
    for view in (repository.View.mine, repository.View.unread, repository.View.mine):
        with _columns_read() as read:
            page = await repository.list_conversation_ids(
                ctx.db, member_id=member.id, query=InboxQuery(view=view, q="予約")
            )
        assert page.ids == [ingested.conversation.id]
        reads.append(sorted(read))
    state, assignee = ("conversations", "state"), ("conversations", "assignee_id")
    unread = ("conversation_team_unreads", "conversation_id")
    # 担当: 自分 reads the state and the assignee (and the grams'); 未確認 the unread marks'
    # rows alone (the conversations' are kept); 担当: 自分 again, nothing.
    assert {state, assignee} <= set(reads[0])
    assert unread in reads[1] and state not in reads[1]
    assert reads[2] == []


async def _unanalysed(database: Database) -> list[str]:
    async with database.engine.connect() as connection:
        found = await connection.exec_driver_sql(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema()"
            " AND last_analyze IS NULL AND last_autoanalyze IS NULL ORDER BY relname"
        )
        return list(found.scalars())


async def test_a_process_start_analyses_only_the_tables_without_statistics(
    database: Database,
) -> None:
    """At a process's start (``missing_only``) PostgreSQL analyses the tables it holds no
    statistics of (a migration's new table, a restored database's) and leaves the others to
    autovacuum: a whole ANALYZE of a million contacts' database took seconds at every start.
    A whole one, as the worker and the demo's load ask, still analyses every table."""
    if database.dialect != "postgresql":
        pytest.skip("SQLite's ANALYZE at a start is a quick sample of every table")
    await database.analyze()
    assert await _unanalysed(database) == []
    async with database.engine.connect() as connection:
        await connection.exec_driver_sql(
            "SELECT pg_stat_reset_single_table_counters('messages'::regclass)"
        )
        await connection.commit()
    assert await _unanalysed(database) == ["messages"]

    with statements_run() as ran:
        await database.analyze(missing_only=True)
    analysed = [sql for sql in ran if sql.startswith("ANALYZE")]
    assert len(analysed) == 1 and analysed[0].endswith(".messages")
    assert await _unanalysed(database) == []

    with statements_run() as ran:
        await database.analyze(missing_only=True)
    assert [sql for sql in ran if sql.startswith("ANALYZE")] == []
    with statements_run() as ran:
        await database.analyze()
    assert [sql for sql in ran if sql.startswith("ANALYZE")] == ["ANALYZE"]
