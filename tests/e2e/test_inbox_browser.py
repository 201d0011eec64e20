"""Two members in Chromium: one at a desk, one on a phone, both live on the same inbox."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e


async def test_two_members_see_each_other_live_on_desk_and_phone(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    desk_member = await factory.member(role="owner", name="店長")
    phone_member = await factory.member(name="あや")
    token = await factory.token(desk_member)
    channel = await factory.channel()
    base = live_server.url
    expect.set_options(timeout=5000)

    desk_context = await browser.new_context(viewport={"width": 1280, "height": 800})
    phone_context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    desk = await desk_context.new_page()
    phone = await phone_context.new_page()
    outside: list[str] = []
    for page in (desk, phone):
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if not request.url.startswith((base, "ws://127.0.0.1", "data:"))
                else None
            ),
        )
    await sign_in(desk, base, desk_member.email)
    await sign_in(phone, base, phone_member.email)

    # An integration posts a customer's message: both see it without reloading.
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
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

        desk_row = desk.locator(f"#row-{conversation_id}")
        phone_row = phone.locator(f"#row-{conversation_id}")
        await expect(desk_row).to_contain_text("明日の15時に予約できますか？")
        await expect(phone_row).to_contain_text("佐藤 美咲")
        await expect(desk_row.locator(".badge")).to_have_text("1")
        await expect(desk).to_have_title("(1) 受信箱 | Madoguchi")

        # The desk opens it: the conversation shows, and it is still unread.
        await desk_row.click()
        await expect(desk).to_have_url(f"{base}/c/{conversation_id}")
        await expect(desk.locator("#thread-messages")).to_contain_text("明日の15時に予約")
        await expect(desk.locator("#read-toggle")).to_have_text("未確認（クリックで変更）")
        assert (await api.get(f"/api/v1/conversations/{conversation_id}")).json()["unread"]

        # The phone opens it too: one pane at a time.
        await phone_row.tap()
        await expect(phone.locator("#thread-messages")).to_contain_text("明日の15時に予約")
        await expect(phone.locator("#list-pane")).to_be_hidden()

        # Enter while an IME is composing does not send.
        box = desk.get_by_role("textbox", name="メッセージ", exact=True)
        await box.fill("はい、")
        await box.evaluate(
            """box => box.dispatchEvent(new KeyboardEvent("keydown",
                {key: "Enter", isComposing: true, bubbles: true, cancelable: true}))"""
        )
        await expect(box).to_have_value("はい、")
        # Enter sends (the default shortcut); the phone sees the reply appear.
        await box.fill("はい、15時でお取りできます。")
        await box.press("Enter")
        await expect(box).to_have_value("")
        await expect(desk.locator(".message--reply")).to_contain_text("15時でお取りできます")
        await expect(phone.locator(".message--reply")).to_contain_text("15時でお取りできます")
        await expect(desk.locator(".message--reply")).to_have_count(1)

        # The desk renames the customer: the phone's header follows.
        await desk.locator(".name-display").click()
        name_input = desk.locator("[data-name-input]")
        await name_input.fill("佐藤様（常連）")
        await name_input.press("Enter")
        await expect(desk.locator(".name-display")).to_contain_text("佐藤様（常連）")
        await expect(desk_row).to_contain_text("佐藤様（常連）")
        await expect(phone.locator(".thread-name")).to_have_text("佐藤様（常連）")

        # Back to 未確認 on the desk, then 確認済み again with the purple toggle.
        toggle = desk.locator("#read-toggle")
        await expect(toggle).to_have_text("確認済み")  # answering was reading
        await toggle.click()
        await expect(toggle).to_have_text("未確認（クリックで変更）")
        await expect(desk).to_have_title("(1) 受信箱 | Madoguchi")
        await toggle.click()
        await expect(toggle).to_have_text("確認済み")
        await expect(desk_row.locator(".badge")).to_have_count(0)
        await expect(desk).to_have_title("受信箱 | Madoguchi")
        assert not (await api.get(f"/api/v1/conversations/{conversation_id}")).json()["unread"]

    # The phone: thread → customer → thread → list.
    await phone.get_by_role("button", name="お客様情報").tap()
    customer = phone.locator("#customer-pane")
    await expect(customer).to_be_visible()
    await expect(customer).to_contain_text("佐藤様（常連）")
    await expect(phone.locator("#conversation-pane")).to_be_hidden()
    await phone.get_by_role("button", name="会話に戻る").tap()
    await expect(phone.locator("#thread-messages")).to_be_visible()
    await phone.get_by_role("link", name="一覧に戻る").tap()
    await expect(phone.locator("#list-pane")).to_be_visible()
    await expect(phone.locator("#conversation-pane")).to_be_hidden()
    await expect(phone_row).to_contain_text("佐藤様（常連）")
    # The desk confirmed it for the whole team (未確認 is the team's), and she has opened it.
    await expect(phone_row.locator(".badge")).to_have_count(0)
    await expect(phone_row).not_to_have_class(re.compile("row--fresh"))
    assert re.fullmatch(rf"{base}/?", phone.url)

    assert outside == [], f"requests left this server: {outside}"
    await desk_context.close()
    await phone_context.close()
