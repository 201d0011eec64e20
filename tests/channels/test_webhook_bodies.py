"""A webhook body is answered once kept, and its events stored after the answer
(connectors.webhooks): a killed process loses nothing it acknowledged, the worker stores what a
stopped process left, and a body that keeps failing is left for a person."""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from madoguchi.channels import service as channels
from madoguchi.channels.models import Channel, WebhookBody
from madoguchi.config import Settings
from madoguchi.connectors import webhooks
from madoguchi.conversations.models import Message
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.channels.conftest import Recorder
from tests.channels.test_line import post, sign, text_event
from tests.conftest import _free_port
from tests.fixtures import eventually
from tests.test_durability import start_server


async def kept_bodies(database: Database) -> list[WebhookBody]:
    async with database.read_sessions() as session:
        return list(await session.scalars(select(WebhookBody).order_by(WebhookBody.id)))


async def stored_ids(database: Database) -> list[str | None]:
    async with database.read_sessions() as session:
        return sorted(await session.scalars(select(Message.external_id)), key=str)


async def test_an_answered_body_is_stored_and_forgotten_in_process(
    client: httpx.AsyncClient, line: Channel, database: Database
) -> None:
    answered = await post(client, line, [text_event("8001", "予約できますか", user="U81")])
    assert answered.status_code == 200
    # In process the answer's background work is done when the client has the answer.
    assert await stored_ids(database) == ["8001"]
    assert await kept_bodies(database) == []


async def test_a_killed_server_loses_no_acknowledged_body(
    settings: Settings, database: Database, ctx: Ctx, recorder: Recorder
) -> None:
    line = await channels.create_channel(
        ctx,
        kind="line",
        name="LINE",
        settings={"channel_secret": "s3cret", "access_token": "t", "api_base": recorder.url},
    )
    # LINE's profile API takes its time: the events cannot be stored before the kill.
    for user in ("U91", "U92"):
        recorder.hold("GET", f"/v2/bot/profile/{user}")
    port = _free_port()
    server = start_server(settings, port)
    events = [
        text_event("9101", "一通目", user="U91"),
        text_event("9102", "二通目", user="U92"),
        text_event("9103", "三通目", user="U91"),
    ]
    body = json.dumps({"destination": "U0", "events": events}, ensure_ascii=False).encode()
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            answered = await http.post(
                f"http://127.0.0.1:{port}/webhooks/line/{line.id}",
                content=body,
                headers={
                    "X-Line-Signature": sign(body, "s3cret"),
                    "Content-Type": "application/json",
                },
            )
        # Answered while the profile is still being asked for: kept, not yet stored.
        assert answered.status_code == 200, answered.text
        await eventually(lambda: _asked(recorder, "/v2/bot/profile/U91"))
        assert await stored_ids(database) == []
        [kept] = await kept_bodies(database)
        assert kept.body == body
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    recorder.release()

    # As if a minute passed: the kept body is the worker's now, in a new process.
    async with database.write_sessions() as session:
        await session.execute(
            update(WebhookBody).values(received_at=datetime.now(UTC) - timedelta(minutes=2))
        )
        await session.commit()
    restarted = start_server(settings, port, MADOGUCHI_WORKER_INTERVAL="0.2")
    try:

        async def all_stored() -> list[str | None] | None:
            stored = await stored_ids(database)
            return stored if len(stored) == 3 and not await kept_bodies(database) else None

        assert await eventually(all_stored, seconds=60) == ["9101", "9102", "9103"]
    finally:
        restarted.terminate()
        restarted.wait(10)


async def _asked(recorder: Recorder, path: str) -> bool | None:
    return True if recorder.calls("GET", path) else None


def _body(channel: Channel, *events: dict[str, Any]) -> bytes:
    return json.dumps({"destination": "U0", "events": list(events)}).encode()


async def _keep(ctx: Ctx, channel: Channel, raw: bytes, *, age: timedelta) -> int:
    kept = WebhookBody(
        channel_id=channel.id,
        kind=channel.kind,
        body=raw,
        received_at=datetime.now(UTC) - age,
        attempts=0,
    )
    ctx.db.add(kept)
    await ctx.commit()
    return kept.id


async def test_the_worker_stores_bodies_left_a_minute_and_only_those(
    ctx: Ctx, line: Channel, database: Database, settings: Settings
) -> None:
    await _keep(
        ctx, line, _body(line, text_event("7001", "残された", user="U71")), age=timedelta(minutes=2)
    )
    await _keep(
        ctx, line, _body(line, text_event("7002", "いま届いた", user="U72")), age=timedelta(0)
    )
    await ctx.db.rollback()
    worker = Worker(settings=settings, database=database, bus=ctx.bus)
    assert (await worker.tick()).webhook_bodies == 1
    assert await stored_ids(database) == ["7001"]
    # The one just come is its own request's to store; the worker leaves it for a minute.
    [left] = await kept_bodies(database)
    assert json.loads(left.body)["events"][0]["message"]["id"] == "7002"
    assert (await worker.tick()).webhook_bodies == 0


async def test_a_body_of_a_stopped_channel_is_forgotten_unstored(
    ctx: Ctx, line: Channel, database: Database, settings: Settings
) -> None:
    await _keep(
        ctx, line, _body(line, text_event("7101", "止めた後", user="U71")), age=timedelta(minutes=5)
    )
    line.enabled = False
    await ctx.commit()
    await ctx.db.rollback()
    worker = Worker(settings=settings, database=database, bus=ctx.bus)
    assert (await worker.tick()).webhook_bodies == 0
    assert await stored_ids(database) == []
    assert await kept_bodies(database) == []


async def test_a_body_that_keeps_failing_is_tried_again_then_left_for_a_person(
    ctx: Ctx,
    line: Channel,
    database: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    body_id = await _keep(ctx, line, b"{}", age=timedelta(minutes=5))
    await ctx.db.rollback()
    worker = Worker(settings=settings, database=database, bus=ctx.bus)

    async def failing(_ctx: Ctx, _channel: Channel, _raw: bytes) -> None:
        raise RuntimeError("the disk is full")

    now = datetime.now(UTC)
    assert await webhooks.store_left(worker.ctx, {"line": failing}, now=now) == 0
    [kept] = await kept_bodies(database)
    # Kept, tried once, and claimed a minute ahead: the next tick leaves it alone.
    assert (kept.id, kept.attempts) == (body_id, 1)
    assert await webhooks.store_left(worker.ctx, {"line": failing}, now=now) == 0
    assert (await kept_bodies(database))[0].attempts == 1
    assert "not stored (attempt 1 of 10)" in caplog.text
    for _ in range(2, webhooks.MAX_ATTEMPTS + 2):
        now += webhooks.LEFT_AFTER
        await webhooks.store_left(worker.ctx, {"line": failing}, now=now)
    # Tried MAX_ATTEMPTS times in all, then kept for a person to look at, no longer taken up.
    [kept] = await kept_bodies(database)
    assert kept.attempts == webhooks.MAX_ATTEMPTS
    async with database.read_sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebhookBody)) == 1


async def test_a_redelivery_of_stored_messages_keeps_nothing(
    client: httpx.AsyncClient, line: Channel, database: Database
) -> None:
    first = await post(client, line, [text_event("8101", "一度だけ", user="U82")])
    assert first.status_code == 200
    again = await post(client, line, [text_event("8101", "一度だけ", user="U82", redelivery=True)])
    assert again.status_code == 200
    assert await stored_ids(database) == ["8101"]
    assert await kept_bodies(database) == []


async def test_a_body_given_up_on_is_listed_and_retried_on_the_command_line(
    ctx: Ctx, line: Channel, database: Database, settings: Settings
) -> None:
    from tests.test_cli import run

    nothing = run(settings, "webhooks", "list")
    assert (nothing.returncode, nothing.stdout.strip()) == (0, "No webhook bodies are waiting.")
    body_id = await _keep(
        ctx, line, _body(line, text_event("7201", "やり直し", user="U72")), age=timedelta(hours=3)
    )
    await ctx.db.execute(
        update(WebhookBody).where(WebhookBody.id == body_id).values(attempts=webhooks.MAX_ATTEMPTS)
    )
    await ctx.commit()
    await ctx.db.rollback()
    worker = Worker(settings=settings, database=database, bus=ctx.bus)
    assert (await worker.tick()).webhook_bodies == 0  # given up on: not taken

    listed = run(settings, "webhooks", "list")
    assert listed.returncode == 0, listed.stderr
    [header, row] = listed.stdout.strip().splitlines()
    assert header.split("\t") == ["ID", "CHANNEL", "KIND", "RECEIVED", "ATTEMPTS"]
    assert row.split("\t")[:3] == [str(body_id), str(line.id), "line"]
    assert row.endswith("10 (given up)")

    retried = run(settings, "webhooks", "retry", str(body_id))
    assert retried.returncode == 0, retried.stderr
    assert (await worker.tick()).webhook_bodies == 1
    assert await stored_ids(database) == ["7201"]
    assert await kept_bodies(database) == []

    missing = run(settings, "webhooks", "retry", str(body_id))
    assert missing.returncode == 1
    assert f"No kept webhook body with id {body_id}." in missing.stderr
