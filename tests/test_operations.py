"""Operating an installation: the online backup of the SQLite database and its restore, and the
timed work run as a process of its own (`madoguchi worker`)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from madoguchi.config import Settings
from madoguchi.contacts.models import Contact
from madoguchi.conversations import workflow
from madoguchi.conversations.models import Conversation, ConversationState
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database, utcnow
from tests.conftest import SERVER_START_SECONDS
from tests.fixtures import Factory
from tests.test_cli import MADOGUCHI, run

sqlite_only = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")), reason="the embedded database's backup"
)


def names_in(database_file: Path) -> set[str]:
    with sqlite3.connect(database_file) as db:
        return {name for (name,) in db.execute("SELECT display_name FROM contacts")}


def wal_beside(database_file: Path) -> bool:
    return Path(f"{database_file}-wal").exists()


def start_worker(settings: Settings) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["MADOGUCHI_DATA_DIR"] = str(settings.data_dir)
    env["MADOGUCHI_WORKER_INTERVAL"] = "0.2"
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    return subprocess.Popen(
        [MADOGUCHI, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@sqlite_only
async def test_a_backup_taken_while_a_write_is_open_restores_what_was_committed(
    settings: Settings, database: Database, factory: Factory, ctx: Ctx, tmp_path: Path
) -> None:
    channel = await factory.channel()
    await factory.inbound(channel, contact="kept", name="保存 された")
    await ctx.db.commit()
    # Another connection is in the middle of a write: the backup neither waits for it nor
    # holds it up, and copies only what was committed.
    live = Path(str(settings.sqlalchemy_url).split("///", 1)[1])
    writer = sqlite3.connect(live, timeout=30)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE contacts SET display_name = '書きかけ'")
    try:
        copy = tmp_path / "madoguchi-backup.db"
        result = run(settings, "backup", str(copy))
        assert result.returncode == 0, result.stderr
        assert str(copy) in result.stdout and "files" in result.stdout
    finally:
        writer.rollback()
        writer.close()
    await factory.inbound(channel, contact="later", name="後から 来た")
    await ctx.db.commit()

    # Restoring: the copy becomes the data folder's database.
    restored_dir = tmp_path / "restored"
    restored_dir.mkdir()
    (restored_dir / "madoguchi.db").write_bytes(copy.read_bytes())
    assert not wal_beside(copy)  # one self-contained file
    restored = Database(f"sqlite+aiosqlite:///{restored_dir / 'madoguchi.db'}")
    try:
        async with restored.write_sessions() as session:
            names = set(await session.scalars(select(Contact.display_name)))
    finally:
        await restored.dispose()
    assert names == {"保存 された"}
    assert names_in(live) == {"保存 された", "後から 来た"}


@sqlite_only
def test_a_backup_never_overwrites_or_leaves_half_a_file(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    existing = tmp_path / "old.db"
    existing.write_bytes(b"yesterday's backup")
    refused = run(settings, "backup", str(existing))
    assert refused.returncode == 1
    assert "already exists" in refused.stderr
    assert existing.read_bytes() == b"yesterday's backup"

    nowhere = run(settings, "backup", str(tmp_path / "no-such-folder" / "x.db"))
    assert nowhere.returncode == 1 and "does not exist" in nowhere.stderr
    assert run(settings, "backup", "--force", str(existing)).returncode == 0
    assert names_in(existing) == set()  # a real (empty) database now
    assert list(tmp_path.glob(".*.partial")) == []


def test_backup_on_postgresql_points_to_pg_dump(settings: Settings) -> None:
    if not settings.database_url:
        pytest.skip("the PostgreSQL leg's answer")
    result = run(settings, "backup", "/tmp/never-written.db")
    assert result.returncode == 2
    assert "pg_dump" in result.stderr
    assert not Path("/tmp/never-written.db").exists()


async def test_the_worker_process_does_the_timed_work_and_stops_cleanly(
    settings: Settings, database: Database, factory: Factory, ctx: Ctx
) -> None:
    channel = await factory.channel()
    member = await factory.member(role="owner")
    ingested = await factory.inbound(channel)
    conversation_id = ingested.conversation.id
    await workflow.snooze(
        ctx, conversation_id=conversation_id, until=utcnow() + timedelta(seconds=1), actor=member
    )
    await ctx.db.commit()

    process = start_worker(settings)
    try:
        state = ConversationState.snoozed.value
        deadline = time.monotonic() + SERVER_START_SECONDS
        while state != ConversationState.open and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            async with database.write_sessions() as session:
                state = await session.scalar(
                    select(Conversation.state).where(Conversation.id == conversation_id)
                )
        assert state == ConversationState.open  # woken by the worker process
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "stopped" in out
