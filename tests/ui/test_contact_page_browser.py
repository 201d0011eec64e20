"""The contact page on a phone in Chromium: each fact once, and a caption that says what its
switch says (issue 13, item 6)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from madoguchi.crm import fields
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

pytestmark = pytest.mark.e2e


async def test_one_phone_number_and_the_newsletter_caption_follows_the_switch_on_a_phone(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    ctx = factory.ctx
    owner = await factory.member(role="owner", name="店長")
    channel = await factory.channel(kind="line", name="サロン公式LINE")
    yoko = await factory.inbound(channel, contact="U1", name="ようこ🌷", text="予約できますか")
    contact_id = yoko.conversation.contact_id
    # As a salon set it up before: the phone number in a profile field named 電話番号.
    await fields.create_field(ctx, key="tel", label="電話番号", type="phone")
    await fields.set_value(ctx, contact_id=contact_id, key="tel", value="090-1234-5678")
    await ctx.db.commit()
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    await sign_in(page, base, owner.email, f"/contacts/{contact_id}")

    # One 電話番号, and the number she gave under it, made hers with one press.
    phone = page.get_by_label("電話番号", exact=True)
    await expect(phone).to_have_count(1)
    await expect(phone).to_have_value("")
    note = page.locator('[data-twin="phone"]')
    await expect(note).to_contain_text("090-1234-5678")
    await note.get_by_role("button", name="こちらを使う").click()
    await expect(page.get_by_label("電話番号", exact=True)).to_have_value("090-1234-5678")
    await expect(page.locator('[data-twin="phone"]')).to_have_count(0)
    await expect(page.get_by_label("電話番号", exact=True)).to_have_count(1)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width

    # メルマガ受信 is off: the caption says so; switched on, it says she agreed, at once and
    # after the save.
    row = page.locator("#contact-optin-row")
    agreed = row.get_by_text("メールでのお知らせ配信に同意いただいています。")
    refused = row.get_by_text("メールでのお知らせは配信しません（配信への同意がありません）。")
    await expect(row.locator("#contact-optin")).not_to_be_checked()
    await expect(refused).to_be_visible()
    await expect(agreed).to_be_hidden()
    await row.locator("label.switch-row").click()
    await expect(agreed).to_be_visible()
    await expect(refused).to_be_hidden()
    await expect(row.get_by_role("status")).to_contain_text("保存しました")
    await expect(row.locator("#contact-optin")).to_be_checked()
    await expect(agreed).to_be_visible()
    await page.reload()
    await expect(page.locator("#contact-optin")).to_be_checked()
    await expect(
        page.locator("#contact-optin-row").get_by_text("配信への同意がありません")
    ).to_be_hidden()
    assert problems == []
    await context.close()
