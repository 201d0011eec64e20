"""The merge dialog on a phone in Chromium (F43): from 「同じ人かもしれません」 to one customer,
with the phone number of the other chosen, the merged-away page leading to the kept one, and
「統合を取り消す」 making them two again."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from madoguchi.contacts import service as contacts
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

pytestmark = pytest.mark.e2e


async def test_two_customers_become_one_through_the_dialog_on_a_phone(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    ctx = factory.ctx
    owner = await factory.member(role="owner", name="店長")
    line = await factory.channel(kind="line", name="サロン公式LINE")
    kept = await factory.inbound(line, contact="U1", name="佐藤 花子", text="予約したいです")
    kept_id = kept.conversation.contact_id
    other = await contacts.create_contact(ctx, display_name="佐藤花子", phone="080-3333-4444")
    other_id = other.id
    await contacts.update_contact(
        ctx,
        contact_id=kept_id,
        changes=contacts.ContactChanges(phone="090-1111-2222", set_phone=True),
    )
    await ctx.db.commit()
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    await sign_in(page, base, owner.email, f"/contacts/{kept_id}")

    card = page.locator("[data-duplicates]")
    await expect(card).to_contain_text("同じ人かもしれません")
    await expect(card).to_contain_text("同じフリガナ")
    await card.get_by_role("link", name="統合…").click()

    dialog = page.locator("[data-merge-dialog]")
    await expect(dialog.get_by_role("heading")).to_contain_text("「佐藤 花子」に統合しますか？")
    phone = dialog.locator('[data-merge-field="phone"]')
    await expect(phone.get_by_role("radio", name="090-1111-2222")).to_be_checked()
    await phone.get_by_text("080-3333-4444").click()
    await expect(phone.get_by_role("radio", name="080-3333-4444")).to_be_checked()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    await dialog.get_by_role("button", name="統合する").click()

    await expect(page).to_have_url(f"{base}/contacts/{kept_id}?done=merged")
    await expect(page.get_by_role("status")).to_contain_text("統合しました")
    await expect(page.get_by_label("電話番号", exact=True)).to_have_value("080-3333-4444")
    await expect(page.locator("[data-duplicates]")).to_have_count(0)

    await page.goto(f"{base}/contacts/{other_id}")
    await expect(page).to_have_url(f"{base}/contacts/{kept_id}")

    # 「統合を取り消す」: asked first, then the other is a customer of their own again.
    merges = page.locator("[data-merges]")
    await expect(merges).to_contain_text("統合を取り消す")
    await expect(merges).to_contain_text("佐藤花子")
    await merges.get_by_role("link", name="取り消す…").click()
    confirm = page.locator("[data-unmerge-dialog]")
    await expect(confirm.get_by_role("heading")).to_contain_text(
        "「佐藤花子」との統合を取り消しますか？"
    )
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    await confirm.get_by_role("button", name="統合を取り消す").click()
    await expect(page).to_have_url(f"{base}/contacts/{kept_id}?done=unmerged&restored={other_id}")
    await expect(page.get_by_role("status")).to_contain_text("別のお客様に戻りました")
    await expect(page.get_by_label("電話番号", exact=True)).to_have_value("090-1111-2222")
    await expect(page.locator("[data-merges]")).to_have_count(0)
    await page.get_by_role("link", name="そのお客様のページを開く").click()
    await expect(page).to_have_url(f"{base}/contacts/{other_id}")
    await expect(page.get_by_label("電話番号", exact=True)).to_have_value("080-3333-4444")
    assert problems == []
    await context.close()
