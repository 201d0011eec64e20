"""The broadcasts settings page on a phone, in Chromium."""

from __future__ import annotations

import os

import pytest
from playwright.async_api import Browser, expect

from madoguchi.broadcasts import segments
from madoguchi.kit.context import Ctx
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

pytestmark = pytest.mark.e2e


async def test_an_owner_schedules_a_daily_broadcast_and_pauses_it_on_a_phone(
    live_server: LiveServer, ctx: Ctx, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    await segments.create_segment(
        ctx, name="最終来店から30日", conditions=[{"field": "hidden", "op": "eq", "value": False}]
    )
    await ctx.db.rollback()
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, owner.email, live=False)
    await page.goto(f"{base}/settings/broadcasts")
    await expect(page.get_by_role("heading", name="新しい一斉配信")).to_be_visible()

    await page.get_by_role("textbox", name="本文").fill("{{name}}様、本日のおすすめです。")
    await page.get_by_label("毎日").check()
    await page.get_by_label("時刻").fill("12:00")
    await page.get_by_role("button", name="一斉配信を保存").click()
    item = page.locator(".set-broadcast").first
    await expect(item).to_contain_text("予約中")
    await expect(item).to_contain_text("0 12 * * *")
    # Nothing runs off the side of a phone's screen.
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    if os.environ.get("BROADCASTS_SCREENSHOT"):
        await page.screenshot(path=os.environ["BROADCASTS_SCREENSHOT"], full_page=True)

    await item.get_by_role("button", name="一時停止").click()
    await expect(page.locator(".set-broadcast").first).to_contain_text("一時停止中")
    assert errors == []
    await context.close()
