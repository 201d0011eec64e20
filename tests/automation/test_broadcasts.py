"""一斉配信: broadcasts to a segment, now, at a time or on a schedule, through each contact's chat
channel (LINE by multicast) or by e-mail with a one-click unsubscribe; each contact gets an
occurrence once, whatever restarts or second workers do."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message as Mail
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select

from madoguchi.broadcasts import segments, sending, service
from madoguchi.broadcasts.models import Broadcast, BroadcastDelivery
from madoguchi.channels.models import Channel
from madoguchi.config import Settings
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import repository
from madoguchi.conversations.models import Conversation, Message
from madoguchi.conversations.repository import InboxQuery
from madoguchi.crm import fields
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.channels.conftest import Recorder, line, recorder, recorder_server
from tests.channels.test_email import catcher, mail_channel
from tests.fixtures import Factory, auth

__all__ = ["catcher", "line", "mail_channel", "recorder", "recorder_server"]

MULTICAST = "/v2/bot/message/multicast"
PUSH = "/v2/bot/message/push"


def _worker(settings: Settings, database: Database, clock: Any = None) -> Worker:
    if clock is None:
        return Worker(settings=settings, database=database, bus=InProcessBus())
    return Worker(settings=settings, database=database, bus=InProcessBus(), clock=clock)


async def _replies(database: Database) -> list[tuple[int, str, str | None]]:
    """(contact, text, delivery) of every reply in every thread."""
    async with database.read_sessions() as session:
        rows = await session.execute(
            select(Conversation.contact_id, Message.text, Message.delivery)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Message.kind == "reply")
            .order_by(Message.id)
        )
        return [(contact_id, text, delivery) for contact_id, text, delivery in rows]


async def _line_customers(ctx: Ctx, factory: Factory, line: Channel) -> dict[str, int]:
    ids = {}
    for user, name in (
        ("U1", "佐藤 美咲"),
        ("U2", "鈴木 彩"),
        ("U3", "高橋 結衣"),
        ("U4", "田中 翼"),
    ):
        ingested = await factory.inbound(line, contact=user, name=name, text="こんにちは")
        ids[user] = ingested.conversation.contact_id
    await contacts.update_contact(
        ctx, contact_id=ids["U4"], changes=contacts.ContactChanges(blocked=True)
    )
    return ids


async def test_bad_broadcasts_are_refused_with_a_sentence_and_nothing_is_stored(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    owner = auth(await factory.token(await factory.member(role="owner")))
    agent = auth(await factory.token(await factory.member(role="agent")))
    segment = await segments.create_segment(
        ctx, name="全員", conditions=[{"field": "hidden", "op": "eq", "value": False}]
    )
    url = "/api/v1/broadcasts"
    for body, status, sentence in (
        ({"segment": segment.id, "text": "x", "cron": "every noon"}, 422, "not a schedule"),
        (
            {"segment": segment.id, "text": "x", "cron": "0 12 * * *", "timezone": "Asia/Edo"},
            422,
            "not a time zone",
        ),
        ({"segment": segment.id, "text": "x", "cron": "* * * * *"}, 422, "once an hour"),
        ({"segment": 999, "text": "x"}, 404, "No segment"),
        ({"segment": segment.id, "template": 999}, 404, "No template"),
        ({"segment": segment.id, "text": "{{name}}様 {{points}}pt"}, 422, "{{points}}"),
        ({"segment": segment.id}, 422, "a text or a template"),
        ({"segment": segment.id, "text": "  "}, 422, "empty"),
        ({"segment": segment.id, "text": "x", "at": "2020-01-01T12:00:00+09:00"}, 422, "past"),
        ({"segment": segment.id, "text": "x", "via": "email"}, 422, "e-mail channel"),
    ):
        refused = await client.post(url, json=body, headers=owner)
        assert refused.status_code == status, (body, refused.text)
        assert sentence in refused.json()["detail"], refused.text
    assert (
        await client.post(url, json={"segment": segment.id, "text": "x"}, headers=agent)
    ).status_code == 403
    assert (await client.get(url, headers=owner)).json() == {"items": []}

    await fields.create_field(ctx, key="points", label="ポイント", type="number")
    made = await client.post(
        url,
        json={"segment": segment.id, "text": "{{name}}様 {{points}}pt", "cron": "0 12 * * *"},
        headers=owner,
    )
    assert made.status_code == 201, made.text
    answer = made.json()
    assert answer["status"] == "scheduled" and answer["timezone"] == "Asia/Tokyo"
    assert answer["counts"] == {"total": 0, "pending": 0, "sent": 0, "failed": 0, "skipped": 0}
    one = f"{url}/{answer['id']}"
    assert (await client.post(f"{one}/resume", headers=owner)).status_code == 409
    assert (await client.post(f"{one}/pause", headers=agent)).status_code == 403
    assert (await client.post(f"{one}/pause", headers=owner)).json()["status"] == "paused"
    assert (await client.post(f"{one}/resume", headers=owner)).json()["status"] == "scheduled"
    assert (await client.post(f"{one}/cancel", headers=owner)).json()["status"] == "cancelled"
    assert (await client.post(f"{one}/pause", headers=owner)).status_code == 409
    assert (await client.get(f"{one}/deliveries", headers=agent)).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert (await client.get(f"{url}/999", headers=agent)).status_code == 404


async def test_a_broadcast_now_goes_by_one_multicast_and_two_workers_send_it_once(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    line: Channel,
    recorder: Recorder,
    client: httpx.AsyncClient,
) -> None:
    owner = auth(await factory.token(await factory.member(role="owner")))
    ids = await _line_customers(ctx, factory, line)
    shop = await factory.channel(kind="api", name="店舗")
    walk_in = (await factory.inbound(shop, contact="c-1", name="伊藤 蓮")).conversation.contact_id
    everyone = await segments.create_segment(
        ctx, name="全員", conditions=[{"field": "hidden", "op": "eq", "value": False}]
    )
    made = await client.post(
        "/api/v1/broadcasts",
        json={"segment": everyone.id, "text": "12月のキャンペーンのお知らせです。"},
        headers=owner,
    )
    assert made.status_code == 201, made.text
    broadcast_id = made.json()["id"]

    await asyncio.gather(_worker(settings, database).tick(), _worker(settings, database).tick())
    await _worker(settings, database).tick()
    calls = recorder.calls("POST", MULTICAST)
    assert len(calls) == 1
    assert sorted(calls[0].json()["to"]) == ["U1", "U2", "U3"]
    assert calls[0].json()["messages"] == [
        {"type": "text", "text": "12月のキャンペーンのお知らせです。"}
    ]
    assert calls[0].headers["x-line-retry-key"]
    assert recorder.calls("POST", PUSH) == []
    replies = await _replies(database)
    assert sorted(contact for contact, _, _ in replies) == sorted(
        [ids["U1"], ids["U2"], ids["U3"], walk_in]
    )
    assert {delivery for _, _, delivery in replies} == {"sent"}

    answer = (await client.get(f"/api/v1/broadcasts/{broadcast_id}", headers=owner)).json()
    assert answer["status"] == "done"
    assert answer["counts"] == {"total": 5, "pending": 0, "sent": 4, "failed": 0, "skipped": 1}
    rows = (await client.get(f"/api/v1/broadcasts/{broadcast_id}/deliveries", headers=owner)).json()
    by_contact = {row["contact_id"]: row for row in rows["items"]}
    assert by_contact[ids["U4"]]["status"] == "skipped"
    assert by_contact[ids["U4"]]["detail"] == "Blocked"
    assert by_contact[ids["U1"]]["status"] == "sent"


async def test_a_copy_stays_in_its_thread_and_neither_moves_nor_finds_its_conversation(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    mail_channel: Channel,
    catcher: Any,
    client: httpx.AsyncClient,
) -> None:
    """Sent to thousands at once, a copy that moved its conversation would push every customer
    who wrote out of sight, and its text would find every conversation."""
    owner = await factory.token(await factory.member(role="owner"))
    shop = await factory.channel(kind="api", name="店舗")
    older = (
        await factory.inbound(shop, contact="c-1", name="伊藤 蓮", text="予約できますか")
    ).conversation
    newer = (
        await factory.inbound(shop, contact="c-2", name="山本 光", text="ありがとう")
    ).conversation
    older_id, newer_id, older_contact = older.id, newer.id, older.contact_id
    by_hand = await contacts.create_contact(ctx, display_name="小林 花", email="hana@example.jp")
    await contacts.update_contact(
        ctx, contact_id=by_hand.id, changes=contacts.ContactChanges(mail_opt_in=True)
    )
    by_hand_id = by_hand.id
    everyone = await segments.create_segment(
        ctx, name="全員", conditions=[{"field": "hidden", "op": "eq", "value": False}]
    )
    before = {
        c.id: (c.last_activity_at, c.last_message_preview, c.state)
        for c in (
            await repository.list_conversations(ctx.db, member_id=0, query=InboxQuery())
        ).conversations
    }
    for via in ("chat", "email"):
        await service.create_broadcast(
            ctx,
            new=service.NewBroadcast(
                segment_id=everyone.id, text="年末年始の営業時間のお知らせです。", via=via
            ),
            actor=None,
        )
    await ctx.db.rollback()
    await _worker(settings, database).tick()

    async with database.write_sessions() as db:
        listed = await repository.list_conversations(db, member_id=0, query=InboxQuery())
        assert [c.id for c in listed.conversations] == [newer_id, older_id]
        assert {
            c.id: (c.last_activity_at, c.last_message_preview, c.state)
            for c in listed.conversations
        } == before
        for q in ("年末年始", "営業時間のお知らせ"):
            found = await repository.list_conversations(db, member_id=0, query=InboxQuery(q=q))
            assert found.conversations == [], q
        found = await repository.list_conversations(db, member_id=0, query=InboxQuery(q="予約"))
        assert [c.id for c in found.conversations] == [older_id]
        # The contact who never wrote has a conversation holding the copy, out of the inbox.
        [started] = list(
            await db.scalars(select(Conversation).where(Conversation.contact_id == by_hand_id))
        )
        assert started.state == "closed"
        assert started.last_message_preview == "年末年始の営業時間のお知らせです。"
        started_id = started.id
        # A rename rebuilds the entries from what is searched: still not the copy's words.
        await contacts.update_contact(
            Ctx(db=db, bus=InProcessBus(), settings=settings),
            contact_id=older_contact,
            changes=contacts.ContactChanges(display_name="伊藤 蓮太郎", rename=True),
        )
    async with database.read_sessions() as db:
        found = await repository.list_conversations(db, member_id=0, query=InboxQuery(q="年末年始"))
        assert found.conversations == []

    thread = await client.get(f"/api/v1/conversations/{older_id}/messages", headers=auth(owner))
    copies = [m for m in thread.json()["items"] if m["broadcast"]]
    assert [m["text"] for m in copies] == ["年末年始の営業時間のお知らせです。"]
    assert copies[0]["kind"] == "reply"
    # Its words were never indexed, and deleting its conversation says so (SQLite's index
    # would call itself corrupt on forgetting what it never held).
    for conversation_id in (older_id, started_id):
        deleted = await client.delete(
            f"/api/v1/conversations/{conversation_id}", headers=auth(owner)
        )
        assert deleted.status_code == 204, deleted.text


async def test_a_restart_mid_send_calls_line_again_with_the_same_retry_key_and_records_once(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    line: Channel,
    recorder: Recorder,
) -> None:
    ids = await _line_customers(ctx, factory, line)
    everyone = await segments.create_segment(
        ctx, name="全員", conditions=[{"field": "channel", "op": "eq", "value": line.id}]
    )
    await service.create_broadcast(
        ctx,
        new=service.NewBroadcast(segment_id=everyone.id, text="年末年始の営業時間のお知らせ"),
        actor=None,
    )
    start = ctx.now()
    worker = _worker(settings, database, clock=lambda: start)
    async with worker.ctx() as wctx:
        assert await sending.fire_due(wctx, now=start) == 1
    # The process claims the batch and records the messages, then dies before LINE answers.
    async with worker.ctx() as wctx:
        claimed = await sending._claim(wctx, start)
    assert claimed is not None and len(claimed) == 1
    assert recorder.calls("POST", MULTICAST) == []

    # Another process within the lease: nothing to take.
    assert (await _worker(settings, database, clock=lambda: start).tick()).broadcast == 0
    assert recorder.calls("POST", MULTICAST) == []
    # After the lease: the same call, with the same retry key; LINE says it had it (409).
    recorder.answer("POST", MULTICAST, (409, {"message": "The retry key is already accepted"}))
    later = start + sending.LEASE + timedelta(seconds=1)
    assert (await _worker(settings, database, clock=lambda: later).tick()).broadcast == 3
    calls = recorder.calls("POST", MULTICAST)
    assert len(calls) == 1
    assert calls[0].headers["x-line-retry-key"] == claimed[0].retry_key
    replies = await _replies(database)
    assert len(replies) == 3 and {d for _, _, d in replies} == {"sent"}
    assert ids["U4"] not in {c for c, _, _ in replies}
    # And nothing more, ever.
    await _worker(settings, database, clock=lambda: later + timedelta(hours=1)).tick()
    assert len(recorder.calls("POST", MULTICAST)) == 1
    async with database.read_sessions() as session:
        statuses = list(await session.scalars(select(BroadcastDelivery.status)))
    assert sorted(statuses) == ["sent", "sent", "sent", "skipped"]


async def test_a_personalised_text_is_pushed_to_each_with_their_name_and_fields(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    line: Channel,
    recorder: Recorder,
) -> None:
    ids = await _line_customers(ctx, factory, line)
    await fields.create_field(ctx, key="points", label="ポイント", type="number")
    await fields.set_value(ctx, contact_id=ids["U1"], key="points", value=120)
    segment = await segments.create_segment(
        ctx, name="LINE", conditions=[{"field": "channel", "op": "eq", "value": line.id}]
    )
    await service.create_broadcast(
        ctx,
        new=service.NewBroadcast(
            segment_id=segment.id, text="{{name}}様、ポイントは{{points}}点です"
        ),
        actor=None,
    )
    recorder.answer("POST", PUSH, (200, {}), (400, {"message": "Invalid user"}), (200, {}))
    await _worker(settings, database).tick()
    pushes = recorder.calls("POST", PUSH)
    assert recorder.calls("POST", MULTICAST) == []
    texts = sorted((c.json()["to"], c.json()["messages"][0]["text"]) for c in pushes)
    assert texts == [
        ("U1", "佐藤 美咲様、ポイントは120点です"),
        ("U2", "鈴木 彩様、ポイントは点です"),
        ("U3", "高橋 結衣様、ポイントは点です"),
    ]
    async with database.read_sessions() as session:
        rows = dict(
            (
                await session.execute(
                    select(BroadcastDelivery.contact_id, BroadcastDelivery.status)
                )
            ).all()
        )
        failed = await session.scalar(select(Message).where(Message.delivery == "failed"))
    assert sorted(rows.values()) == ["failed", "sent", "sent", "skipped"]
    assert failed is not None and "Invalid user" in (failed.delivery_error or "")


def test_schedules_follow_the_zone_and_its_daylight_saving() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    after = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 11:00 in Tokyo
    assert service.next_time("0 12 * * *", tokyo, after) == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    # Every Monday 10:00: 2026-12-07 is a Monday.
    assert service.next_time("0 10 * * 1", tokyo, after) == datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    new_york = ZoneInfo("America/New_York")
    before_dst = datetime(2027, 3, 13, 15, 0, tzinfo=UTC)
    first = service.next_time("0 9 * * *", new_york, before_dst)
    assert first == datetime(2027, 3, 14, 13, 0, tzinfo=UTC)  # 09:00 EDT, the day clocks move
    assert service.next_time("0 9 * * *", new_york, first - timedelta(days=1)) == datetime(
        2027, 3, 13, 14, 0, tzinfo=UTC
    )  # 09:00 EST


async def test_every_day_at_noon_in_tokyo_fires_at_noon_tokyo_time_once_a_day(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    line: Channel,
    recorder: Recorder,
) -> None:
    await _line_customers(ctx, factory, line)
    segment = await segments.create_segment(
        ctx, name="LINE", conditions=[{"field": "channel", "op": "eq", "value": line.id}]
    )
    morning = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)  # 10:30 in Tokyo
    ctx.clock = lambda: morning
    broadcast = await service.create_broadcast(
        ctx,
        new=service.NewBroadcast(segment_id=segment.id, text="本日のおすすめ", cron="0 12 * * *"),
        actor=None,
    )
    assert broadcast.next_run_at == datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
    moments: list[datetime] = [morning]
    worker = _worker(settings, database, clock=lambda: moments[-1])

    async def at(moment: datetime) -> int:
        moments.append(moment)
        await worker.tick()
        return len(recorder.calls("POST", MULTICAST))

    assert await at(datetime(2026, 12, 4, 2, 59, tzinfo=UTC)) == 0  # 11:59
    assert await at(datetime(2026, 12, 4, 3, 0, tzinfo=UTC)) == 1  # 12:00
    assert await at(datetime(2026, 12, 4, 9, 0, tzinfo=UTC)) == 1
    assert await at(datetime(2026, 12, 5, 2, 59, tzinfo=UTC)) == 1
    assert await at(datetime(2026, 12, 5, 3, 0, 30, tzinfo=UTC)) == 2  # the next day's noon
    async with database.read_sessions() as session:
        stored = await session.get(Broadcast, broadcast.id)
        assert stored is not None
        assert stored.status == "scheduled"
        assert stored.next_run_at == datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
        per_contact = await session.scalar(
            select(func.count())
            .select_from(BroadcastDelivery)
            .where(BroadcastDelivery.status == "sent")
        )
    assert per_contact == 6  # three customers, two days


def _header(mail: Mail, name: str) -> str:
    return str(mail[name] or "")


async def test_an_e_mail_broadcast_carries_one_click_unsubscribe_that_works_without_signing_in(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    mail_channel: Channel,
    catcher: Any,
    client: httpx.AsyncClient,
) -> None:
    handler, _port = catcher
    opted = await contacts.create_contact(ctx, display_name="佐藤 美咲", email="misaki@example.jp")
    await contacts.update_contact(
        ctx, contact_id=opted.id, changes=contacts.ContactChanges(mail_opt_in=True)
    )
    not_opted = await contacts.create_contact(ctx, display_name="鈴木 彩", email="aya@example.jp")
    segment = await segments.create_segment(
        ctx, name="全員", conditions=[{"field": "hidden", "op": "eq", "value": False}]
    )
    broadcast = await service.create_broadcast(
        ctx,
        new=service.NewBroadcast(
            segment_id=segment.id,
            text="{{name}}様\n冬のトリートメントキャンペーンのご案内です。",
            via="email",
            subject="冬のキャンペーン",
        ),
        actor=None,
    )
    await _worker(settings, database).tick()
    rows, _ = await service.deliveries(ctx.db, broadcast_id=broadcast.id)
    assert len(handler.mails) == 1, rows
    envelope = handler.mails[0]
    assert envelope.rcpt_tos == ["misaki@example.jp"]
    mail = message_from_bytes(envelope.content)
    assert _header(mail, "Subject") in ("冬のキャンペーン",) or "=?" in _header(mail, "Subject")
    assert _header(mail, "List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    link = "".join(_header(mail, "List-Unsubscribe").split()).strip("<>")
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "佐藤 美咲様" in body.decode() and link in body.decode()
    rows, _ = await service.deliveries(ctx.db, broadcast_id=broadcast.id)
    by_contact = {row.contact_id: row for row in rows}
    assert by_contact[opted.id].status == "sent"
    assert (by_contact[not_opted.id].status, by_contact[not_opted.id].detail) == (
        "skipped",
        "Not opted in to e-mail",
    )
    opted_id = opted.id
    await ctx.db.rollback()  # the one writer is the app's now

    path = urlsplit(link).path
    page = await client.get(path)
    assert page.status_code == 200 and "配信停止" in page.text
    assert (
        await client.post(path[:-4] + "0000", data={"List-Unsubscribe": "One-Click"})
    ).status_code == 404
    done = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200, done.text
    async with database.read_sessions() as session:
        stored = await session.get(Contact, opted_id)
        assert stored is not None and stored.mail_opt_in is False


@pytest.mark.parametrize("via", ["chat"])
async def test_a_paused_broadcast_sends_nothing_until_resumed_and_cancel_skips_the_rest(
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    line: Channel,
    recorder: Recorder,
    via: str,
) -> None:
    await _line_customers(ctx, factory, line)
    segment = await segments.create_segment(
        ctx, name="LINE", conditions=[{"field": "channel", "op": "eq", "value": line.id}]
    )
    broadcast = await service.create_broadcast(
        ctx, new=service.NewBroadcast(segment_id=segment.id, text="お知らせ", via=via), actor=None
    )
    worker = _worker(settings, database)
    async with worker.ctx() as wctx:
        await sending.fire_due(wctx, now=wctx.now())
    await service.pause(ctx, broadcast_id=broadcast.id)
    await worker.tick()
    assert recorder.calls("POST", MULTICAST) == []
    await service.cancel(ctx, broadcast_id=broadcast.id)
    await worker.tick()
    assert recorder.calls("POST", MULTICAST) == []
    counted = (await service.counts(ctx.db, [broadcast.id]))[broadcast.id]
    assert (counted.sent, counted.skipped, counted.pending) == (0, 4, 0)


async def test_the_settings_page_schedules_every_day_at_noon_and_pauses_it(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    from tests.ui.conftest import HTML, HTMX, sign_in

    segment = await segments.create_segment(
        ctx, name="最終来店から30日", conditions=[{"field": "hidden", "op": "eq", "value": False}]
    )
    segment_id = segment.id
    await ctx.db.rollback()
    await sign_in(client, await factory.member(role="owner", name="店長"))
    page = await client.get("/settings/broadcasts", headers=HTML)
    assert page.status_code == 200
    assert "一斉配信" in page.text and "最終来店から30日" in page.text

    form = {
        "segment": str(segment_id),
        "content": "text",
        "text": "{{name}}様、本日のおすすめです。",
    }
    wrong = await client.post(
        "/settings/broadcasts", data={**form, "when": "cron", "cron": "毎日"}, headers=HTMX
    )
    assert wrong.status_code == 422
    assert "スケジュールとして読めません" in wrong.text and "本日のおすすめです。" in wrong.text
    assert (await client.get("/api/v1/broadcasts")).json()["items"] == []

    saved = await client.post(
        "/settings/broadcasts",
        data={**form, "when": "weekly", "time": "10:00", "weekday": "1"},
        headers=HTMX,
    )
    assert saved.status_code == 200, saved.text
    assert "予約中" in saved.text and "0 10 * * 1" in saved.text
    (made,) = (await client.get("/api/v1/broadcasts")).json()["items"]
    assert made["cron"] == "0 10 * * 1" and made["timezone"] == "Asia/Tokyo"
    paused = await client.post(f"/settings/broadcasts/{made['id']}/pause", headers=HTMX)
    assert paused.status_code == 200 and "一時停止中" in paused.text
    assert (await client.get(f"/api/v1/broadcasts/{made['id']}")).json()["status"] == "paused"


def test_the_broadcast_benchmark_runs_on_a_few_contacts(tmp_path: Any) -> None:
    """bench/broadcasts.py's whole path, so it cannot rot (it checks that figures come out)."""
    import os

    if os.environ.get("DATABASE_URL"):
        pytest.skip("the benchmark makes its own database; once, on SQLite, is enough")
    from bench.broadcasts import LineRecorder, measure

    from madoguchi.kit.migrate import upgrade

    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=None)  # type: ignore[call-arg]
    upgrade(settings)
    recorder = LineRecorder()
    recorder.start()
    figures = asyncio.run(measure(settings, 30, recorder))
    assert figures["rows"] == 30 and 0 < figures["recorded"] <= 30
    assert figures["line_recipients"] > 0 and figures["line_calls"] >= 1
