"""A scheduled message that cannot go at its time (Instagram's 24-hour window has closed) is not
lost from sight: it stays on the contact's panel with the reason, its author is notified, and a
member puts it away when they have dealt with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from madoguchi.config import Settings
from madoguchi.conversations import scheduled
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.fixtures import Factory
from tests.ui.conftest import HTML, sign_in


async def test_a_failed_scheduled_message_stays_in_sight_and_its_author_is_told(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, settings: Settings, database: Database
) -> None:
    author = await factory.member(role="owner", name="店長")
    instagram = await factory.channel(kind="instagram", name="Instagram")
    ingested = await factory.inbound(instagram, contact="igsid-1", name="佐藤 美咲")
    contact_id = ingested.conversation.contact_id
    now = datetime.now(UTC)
    waiting = await scheduled.schedule(
        ctx,
        contact_id=contact_id,
        text="先日はご来店ありがとうございました。",
        at=now + timedelta(hours=30),
        author=author,
    )
    await ctx.db.rollback()

    later = now + timedelta(hours=31)
    worker = Worker(settings=settings, database=database, bus=InProcessBus(), clock=lambda: later)
    assert (await worker.tick()).sent == 0

    await sign_in(client, author)
    listed = await client.get(
        f"/api/v1/contacts/{contact_id}/scheduled-messages", params={"include_done": True}
    )
    [failed] = listed.json()["items"]
    assert failed["state"] == "failed"
    assert (
        failed["error"]
        == "Instagram では、お客様の最後のメッセージから24時間以内しか返信できません。"
    )
    notices = (await client.get("/api/v1/notifications")).json()["items"]
    assert [n["kind"] for n in notices] == ["scheduled_failed"]
    assert notices[0]["conversation_id"] == ingested.conversation.id

    page = await client.get(f"/contacts/{contact_id}", headers=HTML)
    assert "に送信できませんでした" in page.text and "scheduled--failed" in page.text
    assert "先日はご来店ありがとうございました。" in page.text
    assert "Instagram では、お客様の最後のメッセージから24時間以内" in page.text
    # It does not hold one of the three places.
    assert "0 / 3" in page.text

    put_away = await client.delete(f"/api/v1/scheduled-messages/{waiting.id}")
    assert put_away.status_code == 204
    listed = await client.get(
        f"/api/v1/contacts/{contact_id}/scheduled-messages", params={"include_done": True}
    )
    assert [s["state"] for s in listed.json()["items"]] == ["dismissed"]
    page = await client.get(f"/contacts/{contact_id}", headers=HTML)
    assert "scheduled--failed" not in page.text
    again = await client.delete(f"/api/v1/scheduled-messages/{waiting.id}")
    assert again.status_code == 422
