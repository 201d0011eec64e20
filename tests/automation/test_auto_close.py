"""自動クローズ: open conversations without a message for some hours are closed by the worker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select

from madoguchi.automation import autoclose
from madoguchi.config import Settings
from madoguchi.conversations import workflow
from madoguchi.conversations.models import Conversation, Message
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.fixtures import Factory, auth


async def test_owners_set_it_for_the_workspace_and_per_channel_with_clear_refusals(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = auth(await factory.token(await factory.member(role="owner")))
    agent = auth(await factory.token(await factory.member(role="agent", name="美咲")))
    shop = await factory.channel(kind="api", name="店舗")
    url = "/api/v1/auto-close"

    assert (await client.get(url, headers=agent)).json() == {
        "after_hours": None,
        "message": "",
        "channels": [],
    }
    workspace = await client.put(
        url, json={"after_hours": 24, "message": " ご連絡ありがとうございました。 "}, headers=owner
    )
    assert workspace.status_code == 200, workspace.text
    assert workspace.json() == {
        "channel_id": None,
        "after_hours": 24,
        "message": "ご連絡ありがとうございました。",
    }
    own = await client.put(url, json={"channel_id": shop.id, "after_hours": None}, headers=owner)
    assert own.json() == {"channel_id": shop.id, "after_hours": None, "message": ""}
    assert (await client.get(url, headers=owner)).json()["channels"] == [own.json()]

    for body, status in (
        ({"after_hours": 0}, 422),
        ({"after_hours": 24 * 365 + 1}, 422),
        ({"after_hours": "明日"}, 422),
        ({"message": "x"}, 422),  # after_hours is required: null turns it off
        ({"after_hours": 1, "message": "x" * 1001}, 422),
        ({"after_hours": 1, "channel_id": 999}, 404),
    ):
        refused = await client.put(url, json=body, headers=owner)
        assert refused.status_code == status, (body, refused.text)
    assert (await client.put(url, json={"after_hours": 1}, headers=agent)).status_code == 403
    assert (await client.get(url, headers=owner)).json()["after_hours"] == 24

    assert (await client.delete(f"{url}/channels/{shop.id}", headers=agent)).status_code == 403
    assert (await client.delete(f"{url}/channels/{shop.id}", headers=owner)).status_code == 204
    assert (await client.delete(f"{url}/channels/{shop.id}", headers=owner)).status_code == 404
    assert (await client.get(url, headers=owner)).json()["channels"] == []


async def _lines(database: Database, conversation_id: int) -> list[tuple[str, str]]:
    async with database.read_sessions() as session:
        rows = await session.execute(
            select(Message.kind, Message.text)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id)
        )
        return [(kind, text) for kind, text in rows]


async def _state(database: Database, conversation_id: int) -> str:
    async with database.read_sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation.state


async def test_the_worker_closes_what_is_idle_once_with_the_closing_message(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    member = await factory.member(role="owner")
    shop = await factory.channel(kind="api", name="店舗")
    online = await factory.channel(kind="api", name="オンライン")
    await autoclose.set_auto_close(ctx, after_hours=2, message="またお気軽にどうぞ。")
    await autoclose.set_auto_close(ctx, after_hours=5, channel_id=online.id)
    start = ctx.now()
    idle = (
        await factory.inbound(shop, contact="c-idle", text="ありがとうございました")
    ).conversation.id
    snoozed = (
        await factory.inbound(shop, contact="c-snooze", text="また連絡します")
    ).conversation.id
    await workflow.snooze(
        ctx, conversation_id=snoozed, until=start + timedelta(days=7), actor=member
    )
    other = (await factory.inbound(online, contact="c-online", text="届きましたか")).conversation.id

    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    assert (await worker.tick(start + timedelta(hours=1))).closed == 0
    # Two workers at the same moment (two processes): each conversation is closed once.
    first, second = await asyncio.gather(
        worker.tick(start + timedelta(hours=3)),
        Worker(settings=settings, database=database, bus=InProcessBus()).tick(
            start + timedelta(hours=3)
        ),
    )
    assert first.closed + second.closed == 1
    assert await _state(database, idle) == "closed"
    lines = await _lines(database, idle)
    assert lines[1:] == [
        ("reply", "またお気軽にどうぞ。"),
        ("system", "Closed automatically after 2 hours without a message"),
    ]
    assert await _state(database, snoozed) == "snoozed"
    assert await _state(database, other) == "open"  # its channel waits five hours

    # Reopened by a member: not closed again at once, but after two more idle hours.
    reopened_at = start + timedelta(hours=4)
    ctx.clock = lambda: reopened_at
    await workflow.reopen(ctx, conversation_id=idle, actor=member)
    assert (await worker.tick(start + timedelta(hours=5, minutes=1))).closed == 1  # online's
    assert await _state(database, idle) == "open"
    assert await _state(database, other) == "closed"
    assert (await _lines(database, other))[-1][0] == "system"  # no closing message there
    assert (await worker.tick(reopened_at + timedelta(hours=2, minutes=1))).closed == 1
    assert [kind for kind, _ in await _lines(database, idle)].count("reply") == 2


async def test_where_the_reply_window_has_closed_it_closes_without_the_message(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    instagram = await factory.channel(kind="instagram", name="Instagram")
    await autoclose.set_auto_close(ctx, after_hours=30, message="ご連絡ありがとうございました。")
    conversation_id = (
        await factory.inbound(instagram, contact="ig-1", text="在庫ありますか")
    ).conversation.id
    later = ctx.now() + timedelta(hours=31)
    worker = Worker(settings=settings, database=database, bus=InProcessBus(), clock=lambda: later)
    assert (await worker.tick()).closed == 1
    assert await _state(database, conversation_id) == "closed"
    assert [kind for kind, _ in await _lines(database, conversation_id)] == ["inbound", "system"]


async def test_the_auto_close_line_reads_in_japanese(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    from tests.ui.conftest import HTML, sign_in

    owner = await factory.member(role="owner")
    shop = await factory.channel()
    await autoclose.set_auto_close(ctx, after_hours=12)
    conversation_id = (await factory.inbound(shop, text="こんにちは")).conversation.id
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    await worker.tick(ctx.now() + timedelta(hours=13))
    await sign_in(client, owner)
    page = (await client.get(f"/c/{conversation_id}", headers=HTML)).text
    assert "メッセージのないまま12時間たったため、自動でクローズしました" in page


async def test_the_settings_page_sets_it_for_every_channel_and_for_one(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    from tests.ui.conftest import HTML, HTMX, sign_in

    shop = await factory.channel(kind="api", name="本店")
    await sign_in(client, await factory.member(role="agent", name="美咲"))
    refused = await client.post("/settings/auto-close", data={"hours": "72"}, headers=HTMX)
    assert refused.status_code == 403
    await sign_in(client, await factory.member(role="owner", name="店長"))
    page = (await client.get("/settings/auto-close", headers=HTML)).text
    assert "現在：オフ" in page and "すべてのチャネルの設定に従う" in page

    saved = await client.post(
        "/settings/auto-close",
        data={"hours": "72", "message": "またのご連絡をお待ちしています。"},
        headers=HTMX,
    )
    assert saved.status_code == 200
    assert "現在：メッセージのないまま72時間でクローズ（メッセージを送信）" in saved.text
    wrong = await client.post("/settings/auto-close", data={"hours": "三日"}, headers=HTMX)
    assert wrong.status_code == 422
    assert "時間は整数で入力してください。" in wrong.text and 'value="三日"' in wrong.text

    off = await client.post(
        f"/settings/auto-close/channels/{shop.id}", data={"hours": ""}, headers=HTMX
    )
    assert off.status_code == 200
    assert (await client.get("/api/v1/auto-close")).json() == {
        "after_hours": 72,
        "message": "またのご連絡をお待ちしています。",
        "channels": [{"channel_id": shop.id, "after_hours": None, "message": ""}],
    }
    back = await client.post(f"/settings/auto-close/channels/{shop.id}/follow", headers=HTMX)
    assert "このチャネルは、すべてのチャネルの設定に従うようになりました。" in back.text
    assert (await client.get("/api/v1/auto-close")).json()["channels"] == []


async def test_no_closing_message_where_the_customer_cannot_be_answered(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    """A channel turned off, or a blocked customer: closed all the same, without the message."""
    from madoguchi.channels import service as channels
    from madoguchi.contacts import service as contacts

    shop = await factory.channel(kind="api", name="店舗")
    paused = await factory.channel(kind="api", name="休止中")
    await autoclose.set_auto_close(ctx, after_hours=1, message="ありがとうございました。")
    blocked = await factory.inbound(shop, contact="c-blocked", text="もう結構です")
    await contacts.update_contact(
        ctx,
        contact_id=blocked.conversation.contact_id,
        changes=contacts.ContactChanges(blocked=True),
    )
    off = (await factory.inbound(paused, contact="c-off", text="こんにちは")).conversation.id
    await channels.update_channel(ctx, channel_id=paused.id, enabled=False)
    later = ctx.now() + timedelta(hours=2)
    worker = Worker(settings=settings, database=database, bus=InProcessBus(), clock=lambda: later)
    assert (await worker.tick()).closed == 2
    for conversation_id in (blocked.conversation.id, off):
        assert await _state(database, conversation_id) == "closed"
        assert [kind for kind, _ in await _lines(database, conversation_id)] == [
            "inbound",
            "system",
        ]


async def test_a_tick_with_auto_close_off_costs_one_read(
    ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    from tests.channels.test_inbound import tallied

    for n in range(5):
        await factory.channel(kind="api", name=f"API {n}")
    with tallied() as tally:
        assert await autoclose.close_idle(ctx, now=ctx.now()) == 0
    assert [s for s in tally.statements if not s.startswith(("BEGIN", "ROLLBACK"))] == [
        next(s for s in tally.statements if "auto_close" in s)
    ]
