"""未確認 is the team's (issue 13): the owner confirms on the desk, and the stylist's phone loses
its red count live, keeping the conversation in bold as new to her until she opens it."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e


async def test_confirming_on_one_screen_clears_the_other_members_unread_live(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    stylist = await factory.member(name="美咲")
    token = await factory.token(owner)
    channel = await factory.channel()
    base = live_server.url
    expect.set_options(timeout=5000)

    desk_context = await browser.new_context(viewport={"width": 1440, "height": 900})
    phone_context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    desk = await desk_context.new_page()
    phone = await phone_context.new_page()
    errors: list[str] = []
    for page in (desk, phone):
        page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(phone, base, stylist.email)

    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        posted = await api.post(
            f"/api/v1/channels/{channel.id}/inbound",
            json={
                "contact": {"external_id": "line-kato", "name": "加藤 美穂"},
                "external_id": "msg-1",
                "text": "カラーの予約をお願いします",
            },
        )
        assert posted.status_code == 201, posted.text
        conversation_id = posted.json()["conversation_id"]

    phone_row = phone.locator(f"#row-{conversation_id}")
    await expect(phone_row.locator(".badge")).to_have_text("1")
    await expect(phone).to_have_title("(1) 受信箱 | Madoguchi")

    # The owner opens it on the desk and presses the purple button.
    await sign_in(desk, base, owner.email, f"/c/{conversation_id}")
    toggle = desk.locator("#read-toggle")
    await expect(toggle).to_have_text("未確認（クリックで変更）")
    await toggle.click()
    await expect(toggle).to_have_text("確認済み")
    await expect(desk).to_have_title("受信箱 | Madoguchi")

    # The stylist's phone follows: no red count, the title's count gone, but new to her: bold.
    await expect(phone_row.locator(".badge")).to_have_count(0)
    await expect(phone).to_have_title("受信箱 | Madoguchi")
    await expect(phone_row).to_have_class(re.compile(r"\brow--fresh\b"))
    weight = await phone_row.locator(".row-name").evaluate(
        "name => getComputedStyle(name).fontWeight"
    )
    assert int(weight) >= 700

    # Opening it is enough for the highlight to go; the team's 確認済み stays.
    await phone_row.tap()
    await expect(phone.locator("#read-toggle")).to_have_text("確認済み")
    await expect(phone_row).not_to_have_class(re.compile(r"\brow--fresh\b"))

    # The stylist marks it 未確認 again: the desk's button follows live.
    await phone.locator("#read-toggle").tap()
    await expect(phone.locator("#read-toggle")).to_have_text("未確認（クリックで変更）")
    await expect(toggle).to_have_text("未確認（クリックで変更）")
    await expect(desk).to_have_title("(1) 受信箱 | Madoguchi")

    assert errors == []
    await desk_context.close()
    await phone_context.close()
