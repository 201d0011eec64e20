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

    await page.reload()
    await page.get_by_role("button", name="チャットで問い合わせ").click()
    await expect(page.locator(".msg")).to_have_text(
        ["今日の夕方、カットできますか？", "18時からご案内できます"]
    )
    await page.close()
