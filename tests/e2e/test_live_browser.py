"""What an open inbox tab asks the server when a colleague's reply or a customer's message
arrives: one request per change, and everything the tab shows of it is fresh after."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Request, expect

from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e

# Long enough for a second, late request to show (the page gathers events for 60 ms).
SETTLE_SECONDS = 0.8


async def test_a_reply_from_another_member_costs_an_open_tab_one_request(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    # Each member's own 未確認: a colleague's reply leaves it unread on this desk.
    await factory.unread_per_member()
    desk_member = await factory.member(role="owner", name="店長")
    colleague = await factory.member(name="あや")
    desk_token = await factory.token(desk_member)
    colleague_token = await factory.token(colleague)
    channel = await factory.channel()
    base = live_server.url
    expect.set_options(timeout=5000)

    async with httpx.AsyncClient(base_url=base, headers=auth(desk_token)) as api:
        posted = await api.post(
            f"/api/v1/channels/{channel.id}/inbound",
            json={
                "contact": {"external_id": "line-u1", "name": "佐藤 美咲"},
                "external_id": "msg-1",
                "text": "明日の15時に予約できますか？",
            },
        )
        assert posted.status_code == 201, posted.text
        conversation_id = posted.json()["conversation_id"]

        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await sign_in(page, base, desk_member.email, f"/c/{conversation_id}")
        row = page.locator(f"#row-{conversation_id}")
        thread = page.locator("#thread-messages")
        await expect(thread).to_contain_text("明日の15時に予約")
        await expect(page).to_have_title("(1) 受信箱 | Madoguchi")

        fragments: list[str] = []

        def count(request: Request) -> None:
            url = urlsplit(request.url)
            if url.path.startswith("/ui/"):
                fragments.append(f"{request.method} {url.path}")

        page.on("request", count)

        # The colleague answers from elsewhere: the row, the thread and the header follow.
        async with httpx.AsyncClient(base_url=base, headers=auth(colleague_token)) as other:
            reply = await other.post(
                f"/api/v1/conversations/{conversation_id}/messages",
                json={"kind": "reply", "text": "はい、15時でお取りできます。"},
            )
            assert reply.status_code == 201, reply.text
        await expect(thread.locator(".message--reply")).to_contain_text("15時でお取りできます")
        await expect(row).to_contain_text("15時でお取りできます")
        await asyncio.sleep(SETTLE_SECONDS)
        assert fragments == [f"GET /ui/live/conversations/{conversation_id}"], fragments
        await expect(thread.locator(".message--reply")).to_have_count(1)

        # Read on this desk; then the customer writes again: the counts come with that one answer.
        await page.locator("#read-toggle").click()
        await expect(page).to_have_title("受信箱 | Madoguchi")
        await expect(page.locator("[data-unread-count]")).to_have_count(2)
        await expect(page.locator("[data-unread-count]").first).to_be_hidden()
        await asyncio.sleep(SETTLE_SECONDS)  # the toggle's own read-state echo
        fragments.clear()
        again = await api.post(
            f"/api/v1/channels/{channel.id}/inbound",
            json={
                "contact": {"external_id": "line-u1", "name": "佐藤 美咲"},
                "external_id": "msg-2",
                "text": "ありがとうございます！",
            },
        )
        assert again.status_code == 201, again.text
        await expect(thread).to_contain_text("ありがとうございます！")
        await expect(row).to_contain_text("ありがとうございます！")
        await expect(row.locator(".badge")).to_have_text("1")
        await expect(page.locator("[data-unread-count]")).to_have_text(["1", "1"])
        await expect(page).to_have_title("(1) 受信箱 | Madoguchi")
        await asyncio.sleep(SETTLE_SECONDS)
        assert fragments == [f"GET /ui/live/conversations/{conversation_id}"], fragments

    assert errors == []
    await context.close()
