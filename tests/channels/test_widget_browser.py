"""The web chat snippet on a page of another origin, driven in Chromium."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from playwright.async_api import Browser, expect

from madoguchi.kit.context import Ctx
from tests.channels.conftest import Recorder
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e


async def test_visitor_on_another_site_chats_live_and_keeps_the_history(
    live_server: LiveServer, recorder: Recorder, factory: Factory, ctx: Ctx, browser: Browser
) -> None:
    from madoguchi.channels import service as channels

    channel = await channels.create_channel(
        ctx, kind="web", name="ルミエール", settings={"allowed_origins": recorder.url}
    )
    member_token = await factory.token(await factory.member())
    await ctx.db.rollback()
    page_html = (
        "<!doctype html><html lang='ja'><head><meta charset='utf-8'><title>サロン</title></head>"
        f"<body><h1>ヘアサロン</h1><script src='{live_server.url}/widget/{channel.id}.js' async>"
        "</script></body></html>"
    )
    recorder.answer("GET", "/index.html", (200, page_html.encode()), content_type="text/html")
    expect.set_options(timeout=5000)
    page = await browser.new_page()
    posted: list[str] = []
    page.on(
        "request",
        lambda request: (
            posted.append(request.url)
            if request.method == "POST" and request.url.endswith("/messages")
            else None
        ),
    )
    await page.goto(f"{recorder.url}/index.html")
    await page.get_by_role("button", name="チャットで問い合わせ").click()
    box = page.get_by_role("textbox", name="メッセージを入力…")
    await box.fill("今日の夕方、カットできますか？")
    await box.press("Enter")
    await expect(page.locator(".msg.customer")).to_have_text(["今日の夕方、カットできますか？"])

    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(member_token)) as http:
        for _ in range(50):
            items = (await http.get("/api/v1/conversations")).json()["items"]
            if items:
                break
            await asyncio.sleep(0.1)
        [item] = items
        assert item["channel"]["kind"] == "web"
        await http.post(
            f"/api/v1/conversations/{item['id']}/messages", json={"text": "18時からご案内できます"}
        )
    await expect(page.locator(".msg.staff")).to_have_text(["18時からご案内できます"])

    # With the socket open, the visitor's next message goes over it, not by POST.
    posts_before = len(posted)
    await box.fill("では18時でお願いします")
    await box.press("Enter")
    await expect(page.locator(".msg.customer")).to_have_text(
        ["今日の夕方、カットできますか？", "では18時でお願いします"]
    )
    await expect(box).to_have_value("")
    assert len(posted) == posts_before
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(member_token)) as http:
        thread = (await http.get(f"/api/v1/conversations/{item['id']}/messages")).json()["items"]
    assert [m["text"] for m in thread if m["kind"] == "inbound"] == [
        "今日の夕方、カットできますか？",
        "では18時でお願いします",
    ]

    await page.reload()
    await page.get_by_role("button", name="チャットで問い合わせ").click()
    await expect(page.locator(".msg")).to_have_text(
        ["今日の夕方、カットできますか？", "18時からご案内できます", "では18時でお願いします"]
    )
    await page.close()


async def test_customer_link_page_stops_when_the_link_is_revoked(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    member_token = await factory.token(await factory.member())
    api = await factory.channel()
    first = await factory.inbound(api, contact="me", name="自分", text="予約の変更をしたいです")
    contact_id = first.conversation.contact_id
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(member_token)) as http:
        url = (await http.post(f"/api/v1/contacts/{contact_id}/customer-link")).json()["url"]
        expect.set_options(timeout=5000)
        page = await browser.new_page()
        await page.goto(live_server.url + "/" + url.split("/", 3)[3])
        await expect(page.locator(".msg.customer")).to_have_text(["予約の変更をしたいです"])
        box = page.get_by_role("textbox", name="メッセージを入力…")
        await box.fill("明日に変更できますか")
        await box.press("Enter")
        await expect(page.locator(".msg.customer")).to_have_text(
            ["予約の変更をしたいです", "明日に変更できますか"]
        )

        await http.delete(f"/api/v1/contacts/{contact_id}/customer-link")
    await expect(page.get_by_role("alert")).to_have_text("このチャットのリンクは無効になりました。")
    await expect(box).to_be_disabled()
    await page.close()
