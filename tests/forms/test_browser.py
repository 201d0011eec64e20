"""A customer answers a form on a phone-sized screen in Chromium, first wrongly, then right; the
staff pages showing that form's or that customer's answers follow without a reload."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from madoguchi.contacts import service as contacts
from madoguchi.crm import fields, tags
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

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


async def test_a_new_answer_appears_live_on_the_answers_page_and_the_contact_page(
    live_server: LiveServer, ctx: Ctx, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    form = await forms.create_form(
        ctx,
        name="ご来店アンケート",
        fields=[{"key": "visits", "label": "来店回数", "type": "number"}],
    )
    customer = await contacts.create_contact(ctx, display_name="佐藤 美咲")
    link = await forms.contact_link(ctx, form_id=form.id, contact_id=customer.id)
    form_id, customer_id, email = form.id, customer.id, owner.email
    await ctx.db.rollback()
    base = live_server.url
    path = link.removeprefix(ctx.settings.base_url.rstrip("/"))
    expect.set_options(timeout=5000)
    staff = await browser.new_context(locale="ja-JP")
    answers = await staff.new_page()
    errors: list[str] = []
    answers.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(answers, base, email, f"/settings/forms/{form_id}/answers")
    await expect(answers.get_by_text("回答はまだありません。")).to_be_visible()
    contact_page = await staff.new_page()
    await contact_page.goto(f"{base}/contacts/{customer_id}")
    await expect(contact_page.locator("body")).to_have_attribute("data-live", "ready")
    await contact_page.get_by_text("このお客様用のアンケートリンク").click()  # opened: stays open

    phone = await browser.new_context(viewport={"width": 375, "height": 667}, locale="ja-JP")
    customer_page = await phone.new_page()
    await customer_page.goto(f"{base}{path}")
    await customer_page.get_by_label("来店回数").fill("4")
    await customer_page.get_by_role("button", name="送信").click()
    await expect(customer_page.get_by_role("status")).to_contain_text("ありがとうございました")

    # Neither staff page was reloaded: the answer came by form.answered.
    await expect(answers.locator("#form-answers-list")).to_contain_text("佐藤 美咲")
    await expect(answers.locator("#form-answers-list")).to_contain_text("4")
    card = contact_page.locator("#contact-form-answers")
    await expect(card).to_contain_text("ご来店アンケート")
    await expect(card.locator(".contact-form-answer")).to_have_count(1)
    await expect(card.locator("details.contact-form-links")).to_have_attribute("open", "")
    assert errors == []
    await staff.close()
    await phone.close()
