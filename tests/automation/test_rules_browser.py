"""An owner builds a segment and a rule in the settings screens, on a phone, in Chromium."""

from __future__ import annotations

import os

import pytest
from playwright.async_api import Browser, expect

from madoguchi.automation import templates
from madoguchi.config import Settings
from madoguchi.contacts import service as contacts
from madoguchi.crm import statuses, tags
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

pytestmark = pytest.mark.e2e


async def test_an_owner_builds_a_segment_and_a_rule_and_sees_the_rule_run_on_a_phone(
    live_server: LiveServer,
    ctx: Ctx,
    factory: Factory,
    browser: Browser,
    settings: Settings,
    database: Database,
) -> None:
    owner = await factory.member(role="owner", name="店長")
    await factory.member(name="aya")
    waiting = await statuses.create_status(ctx, name="返信待ち")
    await tags.create_tag(ctx, actor=None, name="返品")
    await templates.create_template(ctx, name="返品について", text="{name}様、返品の件承りました。")
    channel = await factory.channel()
    first = await factory.inbound(channel, contact="waiting", name="佐藤 一郎", text="予約の件")
    await contacts.update_contact(
        ctx,
        contact_id=first.conversation.contact_id,
        changes=contacts.ContactChanges(status=waiting.id, set_status=True),
    )
    await ctx.db.rollback()
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, owner.email, live=False)

    # A segment 「返信待ち」: the live count shows the one customer while it is written.
    await page.goto(f"{base}/settings/segments")
    await page.get_by_role("textbox", name="名前").fill("返信待ち")
    await page.get_by_label("条件 1：項目").first.select_option(label="対応ステータス")
    await page.get_by_label("条件 1：比べ方").first.select_option(label="が次と同じ")
    await page.get_by_label("条件 1：値").first.fill("返信待ち")
    await page.get_by_label("条件 1：値").first.press("Tab")  # typed, then on: the count follows
    preview = page.locator("#settings-panel .set-segment-preview").last
    await expect(preview).to_contain_text("1 人")
    await expect(preview).to_contain_text("佐藤 一郎")
    await page.get_by_role("button", name="セグメントを追加").click()
    await expect(page.locator(".set-item").first).to_contain_text("返信待ち")
    await expect(page.locator(".set-item").first).to_contain_text("1 人")

    # A rule: 「返品」 or 「交換」 in a message → aya, the tag 返品, a memo, the template.
    await page.goto(f"{base}/settings/rules")
    await expect(page.get_by_role("heading", name="ルールを追加")).to_be_visible()
    form = page.locator(".set-add-card form")
    await form.get_by_role("textbox", name="名前").fill("返品・交換")
    await form.get_by_role("textbox", name="メッセージが").fill("返品、交換")
    await form.get_by_label("担当者にする", exact=True).select_option(label="このメンバー")
    await form.get_by_label("担当者にするメンバー").select_option(label="aya")
    await form.get_by_label("タグを付ける").select_option(label="返品")
    await form.get_by_label("問い合わせメモを書く").fill("返品の相談")
    await form.get_by_label("テンプレートを送る").select_option(label="返品について")
    # Nothing runs off the side of a phone's screen.
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await form.get_by_role("button", name="ルールを追加").click()
    rule = page.locator(".set-item").first
    await expect(rule).to_contain_text("返品・交換")
    await expect(rule).to_contain_text("条件 1個・アクション 4個")

    # A customer writes; the worker runs the rule; its run shows on the rule's page.
    await factory.inbound(channel, contact="returns", name="山田 花子", text="商品を交換したいです")
    await ctx.db.rollback()
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    await page.reload()
    rule = page.locator(".set-item").first
    await rule.locator("summary.set-item-row").click()
    runs = rule.locator(".set-rule-run")
    await expect(runs).to_have_count(1)
    await expect(runs.first).to_contain_text("aya を担当者にしました")
    await expect(runs.first).to_contain_text("テンプレート「返品について」を送りました")
    if os.environ.get("RULES_SCREENSHOT"):
        await page.screenshot(path=os.environ["RULES_SCREENSHOT"], full_page=True)
    assert errors == []
    await context.close()
