"""A customer answers a form on a phone-sized screen in Chromium, first wrongly, then right."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from madoguchi.contacts import service as contacts
from madoguchi.crm import fields, tags
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


async def test_a_customer_answers_the_form_on_a_phone(
    live_server: LiveServer, ctx: Ctx, browser: Browser
) -> None:
    await fields.create_field(ctx, key="visits", label="来店回数", type="number")
    await fields.create_field(ctx, key="birthday", label="誕生日", type="date")
    agreed = await tags.create_tag(ctx, actor=None, name="メルマガ同意")
    form = await forms.create_form(
        ctx,
        name="ご来店アンケート",
        fields=[
            {"key": "name", "label": "お名前", "type": "text", "required": True, "maps_to": "name"},
            {"key": "visits", "label": "来店回数", "type": "number", "maps_to": "field:visits"},
            {"key": "birthday", "label": "誕生日", "type": "date", "maps_to": "field:birthday"},
            {
                "key": "menu",
                "label": "ご希望メニュー",
                "type": "choice",
                "choices": ["カット", "カラー"],
                "required": True,
            },
            {
                "key": "agree",
                "label": "お知らせを受け取る",
                "type": "consent",
                "maps_to": f"tag:{agreed.id}",
            },
        ],
    )
    form_id, agreed_id = form.id, agreed.id
    await ctx.db.commit()
    expect.set_options(timeout=5000)
    phone = await browser.new_context(
        viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True, locale="ja-JP"
    )
    page = await phone.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    await page.goto(f"{live_server.url}/f/{form_id}")
    await expect(page.get_by_role("heading", name="ご来店アンケート")).to_be_visible()
    # Nothing sticks out sideways on a phone.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375

    await page.get_by_label("来店回数").fill("たくさん")
    await page.get_by_role("button", name="送信").click()
    await expect(page.locator("#q-name-error")).to_have_text("お名前は必須です。")
    await expect(page.locator("#q-visits-error")).to_contain_text("来店回数")
    await expect(page.get_by_label("来店回数")).to_have_value("たくさん")

    await page.get_by_label("お名前").fill("高橋 美咲")
    await page.get_by_label("来店回数").fill("3")
    await page.get_by_label("誕生日").fill("1992-05-17")
    await page.get_by_label("カラー").check()
    await page.get_by_label("お知らせを受け取る").check()
    await page.get_by_role("button", name="送信").click()
    await expect(page.get_by_role("status")).to_have_text(
        "ご回答ありがとうございました。送信が完了しました。"
    )
    # The page's policy blocked nothing it needs (the refused answer's 422 is said as an error).
    assert [p for p in problems if "status of 422" not in p] == []

    ctx.db.expire_all()
    [(answer, contact)] = (await forms.list_answers(ctx.db, form_id=form_id)).answers
    assert contact.display_name == "高橋 美咲"
    assert answer.answers["menu"] == "カラー"
    values = (await fields.contact_values(ctx.db, contact_ids=[contact.id]))[contact.id]
    assert values == {"visits": 3, "birthday": "1992-05-17"}
    assert [
        t.id for t in (await tags.contact_tags(ctx.db, contact_ids=[contact.id]))[contact.id]
    ] == [agreed_id]
    assert (await contacts.get_contact(ctx.db, contact_id=contact.id)).channel_id is None
    await phone.close()
