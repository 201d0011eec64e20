"""The step sequences settings page on a phone, in Chromium."""

from __future__ import annotations

import os

import pytest
from playwright.async_api import Browser, expect

from madoguchi.crm import records
from madoguchi.kit.context import Ctx
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

pytestmark = pytest.mark.e2e


async def test_an_owner_builds_a_visit_follow_up_on_a_phone(
    live_server: LiveServer, ctx: Ctx, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    await records.create_book(ctx, name="来店記録", fields=[])
    await ctx.db.commit()
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, owner.email, live=False)
    await page.goto(f"{base}/settings/sequences")
    await expect(page.get_by_role("heading", name="新しいステップ配信")).to_be_visible()

    form = page.locator("form[action='/settings/sequences']")
    await form.get_by_label("名前").fill("初回来店フォロー")
    await form.get_by_label("開始のきっかけ").select_option(label="記録が追加されたとき: 来店記録")
    await form.get_by_label("ステップ1：待ち時間").fill("2")
    await form.get_by_label("ステップ1：本文").fill("{{name}}様、ご来店ありがとうございました。")
    await form.get_by_label("ステップ2：待ち時間").fill("30")
    await form.get_by_label("ステップ2：本文").fill("その後いかがですか？")
    await form.get_by_label("お客様から返信があったら停止").check()
    # Nothing runs off the side of a phone's screen.
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await form.get_by_role("button", name="ステップ配信を保存").click()
    item = page.locator(".set-sequence").first
    await expect(item).to_contain_text("初回来店フォロー")
    await expect(item).to_contain_text("2日後")
    await expect(item).to_contain_text("30日後")
    await expect(item).to_contain_text("返信で停止")
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    if os.environ.get("SEQUENCES_SCREENSHOT"):
        await page.screenshot(path=os.environ["SEQUENCES_SCREENSHOT"], full_page=True)
    assert errors == []
    await context.close()
