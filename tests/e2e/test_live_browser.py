"""What an open inbox tab asks the server when a colleague's reply or a customer's message
arrives: one request per change, and everything the tab shows of it is fresh after."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Request, Route, expect

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


async def test_a_live_refresh_of_the_list_waits_for_the_member_s_own_request(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    """The member clears the filter while a colleague's change empties the filtered list. The
    page's live refresh of the list must not ask for the old filter while her request is on its
    way: answered last, it would put the old, now empty, list back (a flake seen in CI)."""
    owner = await factory.member(role="owner", name="店長")
    colleague = await factory.member(name="あや")
    colleague_token = await factory.token(colleague)
    channel = await factory.channel()
    misaki = await factory.inbound(channel, contact="U1", name="佐藤 美咲", text="予約したいです")
    shota = await factory.inbound(channel, contact="U2", name="田中 翔太", text="駐車場は？")
    base = live_server.url
    expect.set_options(timeout=5000)

    async with httpx.AsyncClient(base_url=base, headers=auth(colleague_token)) as other:
        set_status = await other.patch(
            f"/api/v1/contacts/{misaki.conversation.contact_id}", json={"status": "連絡待ち"}
        )
        assert set_status.status_code == 200, set_status.text
        status_id = set_status.json()["status"]["id"]

        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await sign_in(page, base, owner.email, f"/?status={status_id}")
        rows = page.locator("#conversation-list > .row")
        await expect(rows).to_have_count(1)

        # Her request for the whole list is held on its way until the colleague's change is in.
        held = asyncio.Event()
        sent = asyncio.Event()
        asked: list[str] = []

        async def hold_the_cleared_list(route: Route) -> None:
            query = urlsplit(route.request.url).query
            asked.append(query)
            sent.set()
            if "status=" not in query and not held.is_set():
                await held.wait()
            await route.continue_()

        await page.route(lambda url: urlsplit(url).path == "/ui/list", hold_the_cleared_list)
        await page.get_by_role("link", name="絞り込みを解除").click()
        await asyncio.wait_for(sent.wait(), 5)

        misaki_id = misaki.conversation.contact_id
        gone = await other.patch(f"/api/v1/contacts/{misaki_id}", json={"status": None})
        assert gone.status_code == 200, gone.text
        await expect(page.locator(f"#row-{misaki.conversation.id}")).to_have_count(0)
        await asyncio.sleep(SETTLE_SECONDS)  # the live refresh's own wait (150 ms) has passed
        assert all("status=" not in query for query in asked), asked
        held.set()

        await expect(rows).to_have_count(2)
        await expect(page.locator(f"#row-{shota.conversation.id}")).to_be_visible()
        await expect(page).not_to_have_url(re.compile(r"status="))
        await asyncio.sleep(SETTLE_SECONDS)
        await expect(rows).to_have_count(2)

    assert errors == []
    await context.close()
