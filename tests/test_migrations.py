"""Every revision goes down and up again on the database under test (SQLite, or PostgreSQL when
DATABASE_URL is set), on a database of its own."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from madoguchi import search
from madoguchi.config import Settings
from madoguchi.kit.migrate import alembic_config, upgrade
from madoguchi.search import entries, indexes
from tests.conftest import _pg_admin, _pg_url

T = TypeVar("T")


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Settings]:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        yield Settings(_env_file=None, data_dir=tmp_path, database_url=None)  # type: ignore[call-arg]
        return
    name = f"madoguchi_migrations_{secrets.token_hex(4)}"
    _pg_admin(database_url, f'CREATE DATABASE "{name}"')
    url = _pg_url(database_url, name)
    try:
        yield Settings(_env_file=None, data_dir=tmp_path, database_url=url)  # type: ignore[call-arg]
    finally:
        _pg_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run(settings: Settings, read: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_async_engine(settings.sqlalchemy_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _tables(settings: Settings) -> set[str]:
    names = _run(settings, lambda connection: inspect(connection).get_table_names())
    return set(names) - {"alembic_version"}


def test_every_revision_goes_down_and_up_again(fresh: Settings) -> None:
    upgrade(fresh)
    built = _tables(fresh)
    assert {"conversations", "messages", "contacts", "contact_tags"} <= built
    command.downgrade(alembic_config(fresh), "base")
    assert _tables(fresh) == set()
    upgrade(fresh)
    assert _tables(fresh) == built


def test_postgresql_search_indexes_keep_no_pending_list(fresh: Settings) -> None:
    if fresh.is_sqlite:
        pytest.skip("SQLite's FTS5 tables have no pending list")
    upgrade(fresh)
    rows = _run(
        fresh,
        lambda connection: connection.execute(
            text(
                "SELECT relname, reloptions FROM pg_class WHERE relname IN "
                "('ix_message_search_grams', 'ix_contact_search_grams', "
                "'ix_conversation_search_grams')"
            )
        ).all(),
    )
    options = {name: list(values) for name, values in rows}
    assert options == {
        "ix_message_search_grams": ["fastupdate=off"],
        "ix_contact_search_grams": ["fastupdate=off"],
        "ix_conversation_search_grams": ["fastupdate=off"],
    }


def test_postgresql_compresses_conversation_entries_with_lz4_and_back(fresh: Settings) -> None:
    """0030: an entry's grams with lz4 where the server has it (Debian's has), the default
    (pglz, "") after going down again."""
    if fresh.is_sqlite:
        pytest.skip("SQLite has no column compression")
    compression = text(
        "SELECT attcompression::text FROM pg_attribute "
        "WHERE attrelid = 'conversation_search'::regclass AND attname = 'grams'"
    )
    upgrade(fresh)
    assert _run(fresh, lambda connection: connection.scalar(compression)) == "l"
    command.downgrade(alembic_config(fresh), "0029")
    assert _run(fresh, lambda connection: connection.scalar(compression)) == ""
    upgrade(fresh)


def test_the_index_of_marked_messages_holds_them_alone_and_answers_the_mark_filter(
    fresh: Settings,
) -> None:
    """0031: ix_messages_mark_conversation keeps only messages with a mark, and the mark
    filter's condition (crm.filters: mark_id IN …) and a mark's removal (mark_id = …) still
    read it."""
    upgrade(fresh)
    condition = "SELECT conversation_id FROM messages WHERE mark_id {test}"

    def plans(connection: Connection) -> list[str]:
        if fresh.is_sqlite:
            explain = "EXPLAIN QUERY PLAN "
        else:
            connection.execute(text("SET enable_seqscan = off"))
            explain = "EXPLAIN "
        found = []
        for test in ("IN (1, 2)", "= 3"):
            rows = connection.execute(text(explain + condition.format(test=test))).all()
            found.append(" ".join(str(part) for row in rows for part in row))
        return found

    for plan in _run(fresh, plans):
        assert "ix_messages_mark_conversation" in plan, plan
    definition = _run(
        fresh,
        lambda connection: connection.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_messages_mark_conversation'"
                if fresh.is_sqlite
                else "SELECT indexdef FROM pg_indexes "
                "WHERE indexname = 'ix_messages_mark_conversation'"
            )
        ).scalar_one(),
    )
    assert "mark_id IS NOT NULL" in definition


def _yamada_s_conversation(*, contact_id: int) -> list[str]:
    """SQL for a channel, a contact (山田 花子, ``contact_id``) and their conversation 7, as
    any revision since 0008 stores them."""
    return [
        "INSERT INTO channels (id, kind, name, settings, enabled, created_at) "
        "VALUES (1, 'api', 'API', '{}', true, '2026-01-01 00:00:00')",
        "INSERT INTO contacts (id, channel_id, external_id, channel_name, display_name, "
        "search_text, hidden, blocked, mail_opt_in, created_at, updated_at) VALUES "
        f"({contact_id}, 1, 'x', '山田', '山田 花子', '山田山田花子', false, false, true, "
        "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        "INSERT INTO conversations (id, contact_id, channel_id, state, last_activity_at, "
        "last_message_preview, created_at) VALUES "
        f"(7, {contact_id}, 1, 'open', '2026-02-03 04:05:06', '', '2026-01-01 00:00:00')",
    ]


def _one_who_never_wrote(*, contact_id: int) -> str:
    """SQL for a contact of channel 1 made by hand (手入力), with no conversation."""
    return (
        "INSERT INTO contacts (id, channel_id, external_id, channel_name, display_name, "
        "search_text, hidden, blocked, mail_opt_in, created_at, updated_at) VALUES "
        f"({contact_id}, 1, 'y', '手入力', '手入力', '手入力', false, false, false, "
        "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    )


def _yamada_and_one_who_never_wrote() -> list[str]:
    """SQL for 山田 花子 (contact 1, last active at 2026-02-03 04:05:06, her conversation's
    time) and contact 2, who never wrote: the activity copies a revision gives rows of theirs."""
    return [
        *_yamada_s_conversation(contact_id=1),
        "UPDATE contacts SET activity_at = '2026-02-03 04:05:06' WHERE id = 1",
        _one_who_never_wrote(contact_id=2),
    ]


def test_conversations_already_there_get_their_search_entries(fresh: Settings) -> None:
    """0009 gives every existing conversation its entry: names and messages (not system
    lines), keyed by its last activity; the inbox search then finds it. On PostgreSQL 0029
    gives the entry the signature Python would (search.entries.signature), computed in SQL."""
    _upgrade_to(fresh, "0008")

    statements = [
        *_yamada_s_conversation(contact_id=1),
        "INSERT INTO messages (id, conversation_id, channel_id, kind, text, search_text, "
        "created_at) VALUES (1, 7, 1, 'inbound', 'カット予約', 'かっと予約', "
        "'2026-02-03 04:05:06'), (2, 7, 1, 'system', '担当者を変更', '', "
        "'2026-02-03 04:05:06')",
    ]

    _fill(fresh, statements)
    upgrade(fresh)
    seq, grams = _run(
        fresh,
        lambda connection: connection.execute(
            text("SELECT seq, grams FROM conversation_search WHERE conversation_id = 7")
        ).one(),
    )
    held = set(grams.split() if isinstance(grams, str) else grams)
    assert {"山田", "花子", "かっ", "予約"} <= held
    if not fresh.is_sqlite:
        stored = _run(
            fresh,
            lambda connection: connection.execute(
                text("SELECT signature::text FROM conversation_search WHERE conversation_id = 7")
            ).scalar_one(),
        )
        in_sql = entries.read_signature(stored)
        assert in_sql == entries.signature(g for g in held if not g.startswith("@"))
        assert in_sql != 0
    assert "担当" not in held
    at = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert seq == search.activity_seq(at, 7)
    if fresh.is_sqlite:
        found = _run(
            fresh,
            lambda connection: connection.execute(
                text(
                    "SELECT rowid FROM conversation_search_fts "
                    'WHERE conversation_search_fts MATCH \'"予約" AND "山田"\''
                )
            ).all(),
        )
        assert found == [(seq,)]


def _upgrade_to(settings: Settings, revision: str) -> None:
    """Migrate the database up to ``revision`` (its folder made first, as upgrade makes it)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings), revision)


def _fill(settings: Settings, statements: Sequence[str]) -> None:
    """Run these statements on the database, in one committed transaction."""

    def write(connection: Connection) -> None:
        for statement in statements:
            connection.execute(text(statement))
        connection.commit()

    async def run() -> None:
        engine = create_async_engine(settings.sqlalchemy_url)
        try:
            async with engine.connect() as connection:
                await connection.run_sync(write)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_a_conversation_unread_for_any_active_member_is_unread_for_the_team(
    fresh: Settings,
) -> None:
    """0020: the team's 未確認 starts as what any active member had not read."""
    _upgrade_to(fresh, "0018")

    at = "'2026-02-03 04:05:06'"
    statements = [
        "INSERT INTO channels (id, kind, name, settings, enabled, created_at) "
        "VALUES (1, 'api', 'API', '{}', true, '2026-01-01 00:00:00')",
        "INSERT INTO contacts (id, channel_id, external_id, channel_name, display_name, "
        "search_text, hidden, blocked, mail_opt_in, created_at, updated_at) VALUES "
        "(1, 1, 'x', '山田', '山田 花子', '', false, false, true, "
        "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        "INSERT INTO conversations (id, contact_id, channel_id, state, last_activity_at, "
        f"last_message_preview, created_at) VALUES (7, 1, 1, 'open', {at}, '', {at}), "
        f"(8, 1, 1, 'open', {at}, '', {at}), (9, 1, 1, 'open', {at}, '', {at})",
        "INSERT INTO members (id, email, name, role, send_shortcut, language, "
        "notify_assigned, notify_mentions, active, password_must_change, created_at) VALUES "
        f"(1, 'a@example.com', 'A', 'owner', 'enter', 'ja', true, true, true, false, {at}), "
        f"(2, 'b@example.com', 'B', 'agent', 'enter', 'ja', true, true, true, false, {at}), "
        f"(3, 'c@example.com', 'C', 'agent', 'enter', 'ja', true, true, false, false, {at})",
        # 7: unread for both active members; 8: only for the one who left; 9: read by all.
        "INSERT INTO conversation_unreads (member_id, conversation_id, activity_at, count) "
        f"VALUES (1, 7, {at}, 3), (2, 7, {at}, 1), (3, 8, {at}, 2)",
    ]

    _fill(fresh, statements)
    upgrade(fresh)
    rows = _run(
        fresh,
        lambda connection: connection.execute(
            text("SELECT conversation_id, count FROM conversation_team_unreads")
        ).all(),
    )
    assert [tuple(row) for row in rows] == [(7, 3)]


def test_the_hidden_view_finds_the_hidden_contacts_in_their_own_index(fresh: Settings) -> None:
    """0032: ix_contacts_hidden holds the hidden contacts alone, and the 非表示中 view's condition
    as the inbox writes it on this database can read it (not every contact). On an empty
    SQLite database without statistics the planner walks the list's order instead; unordered,
    it takes the smallest index the condition allows."""
    from sqlalchemy import select

    from madoguchi.contacts.models import Contact
    from madoguchi.conversations import repository
    from madoguchi.conversations.models import Conversation

    upgrade(fresh)

    def plan(connection: Connection) -> str:
        statement = (
            select(Conversation.id)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(*repository._view_conditions(repository.View.hidden, 0))
        )
        if not fresh.is_sqlite:
            statement = statement.order_by(Conversation.last_activity_at.desc()).limit(51)
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        if fresh.is_sqlite:
            explain = "EXPLAIN QUERY PLAN "
        else:
            connection.execute(text("SET enable_seqscan = off"))
            explain = "EXPLAIN "
        rows = connection.execute(text(explain + str(compiled))).all()
        return " ".join(str(part) for row in rows for part in row)

    assert "ix_contacts_hidden" in _run(fresh, plan)


def test_contact_block_tokens_are_added_to_what_is_stored_and_taken_out_again(
    fresh: Settings,
) -> None:
    """0033 (PostgreSQL): each row of the contacts' index and each conversation's entry gets the
    token of its contact's block, an entry's before its epoch token (the writers' order); their
    GIN indexes are built again as they were, and the grams' statistics gathered again. Going
    down takes the tokens out, the rest in its order."""
    if fresh.is_sqlite:
        pytest.skip("SQLite's indexes have no blocks")
    _upgrade_to(fresh, "0032")

    statements = [
        *_yamada_s_conversation(contact_id=9000),
        "INSERT INTO contact_search (owner_id, grams) VALUES (9000, '{山田,花子}')",
        "INSERT INTO conversation_search (conversation_id, seq, grams, signature) "
        "VALUES (7, 1, '{予約,山田,@e5}', B'0'::bit(2048))",
        "ANALYZE contact_search",
        "ANALYZE conversation_search",
    ]

    def analysed(connection: Connection) -> list[str]:
        return list(
            connection.execute(
                text(
                    "SELECT tablename FROM pg_stats WHERE attname = 'grams' AND tablename IN "
                    "('contact_search', 'conversation_search') ORDER BY tablename"
                )
            ).scalars()
        )

    def stored(connection: Connection) -> tuple[list[str], list[str], list[str]]:
        return (
            connection.execute(text("SELECT grams FROM contact_search")).scalar_one(),
            connection.execute(text("SELECT grams FROM conversation_search")).scalar_one(),
            connection.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE indexname IN "
                    "('ix_contact_search_grams', 'ix_conversation_search_grams') "
                    "ORDER BY indexname"
                )
            )
            .scalars()
            .all(),
        )

    _fill(fresh, statements)
    assert _run(fresh, analysed) == ["contact_search", "conversation_search"]
    upgrade(fresh)
    # The rewrite forgets the grams' statistics, which the search planner reads: analysed again.
    assert _run(fresh, analysed) == ["contact_search", "conversation_search"]
    token = indexes.contact_token(indexes.contact_block(9000))
    assert token == "@k2"
    assert _run(fresh, stored) == (
        ["山田", "花子", token],
        ["予約", "山田", token, "@e5"],
        ["ix_contact_search_grams", "ix_conversation_search_grams"],
    )
    command.downgrade(alembic_config(fresh), "0032")
    assert _run(fresh, stored) == (
        ["山田", "花子"],
        ["予約", "山田", "@e5"],
        ["ix_contact_search_grams", "ix_conversation_search_grams"],
    )


def test_contacts_get_the_signature_of_their_entries_in_the_reading_index(
    fresh: Settings,
) -> None:
    """0034 (PostgreSQL): a contact's signature is its conversations' entries' together, the
    leftmost bit (their runs) only where every entry has it; a contact without a conversation
    has none. The reading index holds it, and the table is vacuumed. Going down takes it out,
    and the index as it was.
    SQLite gets the column, which stays empty."""
    _upgrade_to(fresh, "0033")
    if fresh.is_sqlite:
        upgrade(fresh)
        assert "signature" in {c["name"] for c in _run(fresh, _contact_columns)}
        command.downgrade(alembic_config(fresh), "0033")
        assert "signature" not in {c["name"] for c in _run(fresh, _contact_columns)}
        return
    with_runs = entries.text_signature("予約 山田")
    without_runs = entries.signature(["山田", "花子"])
    assert with_runs & entries.RUNS_HELD and not without_runs & entries.RUNS_HELD

    statements = [
        *_yamada_s_conversation(contact_id=9000),
        "INSERT INTO conversations (id, contact_id, channel_id, state, last_activity_at, "
        "last_message_preview, created_at) VALUES "
        "(8, 9000, 1, 'open', '2026-02-03 04:05:07', '', '2026-01-01 00:00:00')",
        _one_who_never_wrote(contact_id=9001),
    ]
    for conversation_id, bits in ((7, with_runs), (8, without_runs)):
        statements.append(
            "INSERT INTO conversation_search (conversation_id, seq, grams, signature) VALUES "
            f"({conversation_id}, {conversation_id}, '{{山田}}', "
            f"'{entries.stored_signature(bits)}'::bit(2048))"
        )

    def signatures(connection: Connection) -> dict[int, int | None]:
        rows = connection.execute(text("SELECT id, signature::text FROM contacts ORDER BY id"))
        return {
            contact_id: None if stored is None else entries.read_signature(stored)
            for contact_id, stored in rows
        }

    def reading_index(connection: Connection) -> str:
        return str(
            connection.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_contacts_reading'")
            ).scalar_one()
        )

    _fill(fresh, statements)
    upgrade(fresh)
    assert _run(fresh, signatures) == {
        9000: (with_runs | without_runs) & ~entries.RUNS_HELD,
        9001: None,
    }
    assert "INCLUDE (signature)" in _run(fresh, reading_index)
    # Its VACUUM commits the revision's work before the version is stamped: stopped there, the
    # revision runs again.
    command.stamp(alembic_config(fresh), "0033")
    upgrade(fresh)
    assert _run(fresh, signatures)[9001] is None
    assert "INCLUDE (signature)" in _run(fresh, reading_index)
    # Vacuumed: the walk reads the reading index alone, not each contact's row too.
    vacuumed = text(
        "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'contacts'"
    )
    assert _run(fresh, lambda connection: connection.execute(vacuumed).scalar_one())
    command.downgrade(alembic_config(fresh), "0033")
    assert "signature" not in {c["name"] for c in _run(fresh, _contact_columns)}
    assert "INCLUDE" not in _run(fresh, reading_index)


def _contact_columns(connection: Connection) -> list[dict[str, str]]:
    return list(inspect(connection).get_columns("contacts"))  # type: ignore[arg-type]


def test_profile_values_already_there_take_their_contact_s_activity(fresh: Settings) -> None:
    """0037: each profile value gets a copy of its contact's latest activity (none for a contact
    that never wrote), as the tag rows have theirs; the inbox filtered by a field walks them in
    their own index. Run again (0034's VACUUM commits what came before: a run stopped after it
    takes the later revisions again), it changes nothing; going down takes both out."""
    _upgrade_to(fresh, "0036")

    statements = [
        *_yamada_and_one_who_never_wrote(),
        "INSERT INTO fields (id, key, label, type, options, show_in_chat, position) "
        "VALUES (1, 'gender', '性別', 'select', '[]', true, 0)",
        "INSERT INTO field_values (contact_id, field_id, value_text, updated_at) VALUES "
        "(1, 1, '女性', '2026-01-01 00:00:00'), (2, 1, 'その他', '2026-01-01 00:00:00')",
    ]

    def copies(connection: Connection) -> dict[int, str | None]:
        rows = connection.execute(
            text("SELECT contact_id, activity_at FROM field_values ORDER BY contact_id")
        )
        return {contact_id: None if at is None else str(at)[:19] for contact_id, at in rows}

    def indexes_of(connection: Connection) -> set[str]:
        return {index["name"] for index in inspect(connection).get_indexes("field_values")}

    _fill(fresh, statements)
    upgrade(fresh)
    want = {1: "2026-02-03 04:05:06", 2: None}
    assert _run(fresh, copies) == want
    assert "ix_field_values_field_activity" in _run(fresh, indexes_of)
    command.stamp(alembic_config(fresh), "0036")
    upgrade(fresh)
    assert _run(fresh, copies) == want
    command.downgrade(alembic_config(fresh), "0036")
    columns = _run(fresh, lambda c: {col["name"] for col in inspect(c).get_columns("field_values")})
    assert "activity_at" not in columns
    assert "ix_field_values_field_activity" not in _run(fresh, indexes_of)


def test_record_spans_sum_up_each_contact_s_records_of_a_book(fresh: Settings) -> None:
    """0038: one span a contact and book, its newest and oldest record's time and a copy of the
    contact's activity (none for a contact that never wrote); no span without records. Run
    again (a run stopped after 0034's VACUUM takes the later revisions again), the same; going
    down takes the table out."""
    _upgrade_to(fresh, "0037")

    statements = [
        *_yamada_and_one_who_never_wrote(),
        "INSERT INTO record_books (id, name, fields, position) VALUES "
        "(1, '施術履歴', '[]', 0), (2, '電話', '[]', 1)",
        'INSERT INTO records (id, book_id, contact_id, at, "values", created_at, '
        "updated_at) VALUES "
        "(1, 1, 1, '2026-01-05 01:00:00', '{}', '2026-01-05 01:00:00', '2026-01-05 01:00:00'), "
        "(2, 1, 1, '2026-01-20 01:00:00', '{}', '2026-01-20 01:00:00', '2026-01-20 01:00:00'), "
        "(3, 1, 1, '2026-01-10 01:00:00', '{}', '2026-01-10 01:00:00', '2026-01-10 01:00:00'), "
        "(4, 1, 2, '2026-01-07 01:00:00', '{}', '2026-01-07 01:00:00', '2026-01-07 01:00:00')",
    ]

    def spans(connection: Connection) -> dict[tuple[int, int], tuple[str, ...]]:
        rows = connection.execute(
            text("SELECT contact_id, book_id, newest_at, oldest_at, activity_at FROM record_spans")
        )
        return {
            (contact_id, book_id): tuple(str(at)[:19] for at in times)
            for contact_id, book_id, *times in rows
        }

    _fill(fresh, statements)
    upgrade(fresh)
    want = {
        (1, 1): ("2026-01-20 01:00:00", "2026-01-05 01:00:00", "2026-02-03 04:05:06"),
        (2, 1): ("2026-01-07 01:00:00", "2026-01-07 01:00:00", "None"),
    }
    assert _run(fresh, spans) == want
    command.stamp(alembic_config(fresh), "0037")
    upgrade(fresh)
    assert _run(fresh, spans) == want
    command.downgrade(alembic_config(fresh), "0037")
    assert "record_spans" not in _tables(fresh)


def test_the_spans_indexes_of_a_record_s_time_hold_the_contact_and_its_activity(
    fresh: Settings,
) -> None:
    """0039: the indexes of the newest and the oldest record hold each span's contact and
    activity copy (a range's few spans are read from the index alone); run again, the same;
    going down, the time alone again."""

    def indexed(connection: Connection) -> dict[str, list[str | None]]:
        found = inspect(connection).get_indexes("record_spans")
        return {index["name"]: index["column_names"] for index in found if index["name"]}

    held = ["contact_id", "activity_at"]
    want = {
        "ix_record_spans_book_activity": ["book_id", "activity_at", "contact_id"],
        "ix_record_spans_book_newest": ["book_id", "newest_at", *held],
        "ix_record_spans_book_oldest": ["book_id", "oldest_at", *held],
    }
    upgrade(fresh)
    assert _run(fresh, indexed) == want
    command.stamp(alembic_config(fresh), "0038")
    upgrade(fresh)
    assert _run(fresh, indexed) == want
    command.downgrade(alembic_config(fresh), "0038")
    assert _run(fresh, indexed) == {
        **want,
        "ix_record_spans_book_newest": ["book_id", "newest_at"],
        "ix_record_spans_book_oldest": ["book_id", "oldest_at"],
    }


_PARTS = {"ix_contacts_email_parts", "ix_contacts_phone_parts"}


def _part_indexes(settings: Settings) -> set[str]:
    def read(connection: Connection) -> set[str]:
        return {str(index["name"]) for index in inspect(connection).get_indexes("contacts")}

    return _run(settings, read) & _PARTS


def test_addresses_and_numbers_get_an_index_of_their_parts(fresh: Settings) -> None:
    """0040: PostgreSQL indexes the parts (pg_trgm) of each address and number; run again, the
    same; going down, they go (the extension stays). SQLite has none."""
    upgrade(fresh)
    if fresh.is_sqlite:
        assert _part_indexes(fresh) == set()
        return
    assert _part_indexes(fresh) == _PARTS
    command.stamp(alembic_config(fresh), "0039")
    upgrade(fresh)
    assert _part_indexes(fresh) == _PARTS
    command.downgrade(alembic_config(fresh), "0039")
    assert _part_indexes(fresh) == set()
    upgrade(fresh)
    assert _part_indexes(fresh) == _PARTS


def test_a_role_that_may_not_make_pg_trgm_migrates_without_those_indexes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """0040 for a role that owns no database and may not make extensions (its tables in a
    schema it was given): the migration goes on without the indexes of address parts, and a
    warning says where to read how to make them later."""
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        pytest.skip("SQLite has no extensions")
    role = f"madoguchi_plain_{secrets.token_hex(4)}"
    name = f"madoguchi_granted_{secrets.token_hex(4)}"
    admin, url = _pg_url(database_url, name), _pg_url(database_url, name, role)
    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=url)  # type: ignore[call-arg]
    _pg_admin(database_url, f"CREATE ROLE {role} LOGIN")
    try:
        _pg_admin(database_url, f'CREATE DATABASE "{name}"')
        _pg_admin(admin, f"GRANT CREATE ON SCHEMA public TO {role}")
        with caplog.at_level("WARNING"):
            upgrade(settings)
        assert _part_indexes(settings) == set()
        assert "pg_trgm could not be made" in caplog.text
        assert "docs/deployment.md" in caplog.text
    finally:
        _pg_admin(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin(database_url, f"DROP ROLE {role}")


def _hot_updates(settings: Settings) -> int:
    """Of 300 day rows each changed once, how many changes stayed on the row's page (a
    "heap-only" update, no new entry in the primary key's index): counted in the transaction
    itself, which is rolled back."""

    def change(connection: Connection) -> int:
        connection.execute(
            text(
                "INSERT INTO stats_days (day, channel_id, member_id, messages_in, messages_out) "
                "SELECT DATE '2026-01-01' + n, 1, 0, 1, 0 FROM generate_series(1, 300) AS n"
            )
        )
        connection.execute(text("UPDATE stats_days SET messages_in = messages_in + 1"))
        hot = connection.scalar(
            text("SELECT pg_stat_get_xact_tuples_hot_updated('stats_days'::regclass)")
        )
        connection.rollback()
        return int(hot or 0)

    return _run(settings, change)


def test_day_counts_change_beside_themselves(fresh: Settings) -> None:
    """0041: PostgreSQL fills stats_days's pages to a fifth, so that a day's row changed (every
    message changes one) stays on its page, where its dead versions are cleared, instead of
    adding an entry to the primary key's index each time; going down, pages are filled again
    (and most changes leave their page). SQLite changes rows in place."""
    upgrade(fresh)
    if fresh.is_sqlite:
        return
    assert _hot_updates(fresh) == 300
    command.stamp(alembic_config(fresh), "0040")
    upgrade(fresh)
    assert _hot_updates(fresh) == 300
    command.downgrade(alembic_config(fresh), "0040")
    assert _hot_updates(fresh) < 100
