"""Browser notifications (F41) in Chromium: a customer writing in a conversation assigned to me
notifies me; one assigned to nobody, or my own open conversation, does not."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e

# Chromium's own Notification, watched: each one shown is remembered for the test to read.
WATCH_NOTIFICATIONS = """
window.__notices = [];
const Shown = window.Notification;
class Watched extends Shown {
  constructor(title, options) {
    super(title, options);
    window.__notices.push({ title: title, body: (options || {}).body || "" });
  }
}
Object.defineProperty(Watched, "permission", { get: () => Shown.permission });
Watched.requestPermission = Shown.requestPermission.bind(Shown);
window.Notification = Watched;
"""


async def notices(page: Page) -> list[dict[str, str]]:
    shown: list[dict[str, str]] = await page.evaluate("window.__notices")
    return shown


async def test_a_customer_writing_in_my_conversation_notifies_me(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    me = await factory.member(role="owner", name="店長")
    token = await factory.token(me)
    channel = await factory.channel()
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.grant_permissions(["notifications"], origin=base)
    await context.add_init_script(WATCH_NOTIFICATIONS)
    page = await context.new_page()

    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:

        async def customer_writes(who: str, name: str, text: str, n: int) -> int:
            posted = await api.post(
                f"/api/v1/channels/{channel.id}/inbound",
                json={
                    "contact": {"external_id": who, "name": name},
                    "external_id": f"m{n}",
                    "text": text,
                },
            )
            assert posted.status_code == 201, posted.text
            conversation_id: int = posted.json()["conversation_id"]
            return conversation_id

        mine = await customer_writes("u-1", "佐藤 美咲", "こんにちは", 1)
        taken = await api.post(f"/api/v1/conversations/{mine}/become-assignee")
        assert taken.status_code == 200, taken.text
        await sign_in(page, base, me.email)
        assert await notices(page) == []

        # Nobody's conversation: the list changes, no notification.
        others = await customer_writes("u-2", "田中 健", "営業時間を教えてください", 2)
        await expect(page.locator(f"#row-{others}")).to_be_visible()
        # Mine: a notification with her name and what she wrote.
        await customer_writes("u-1", "佐藤 美咲", "明日の15時は空いていますか？", 3)
        await expect(page.locator(f"#row-{mine}")).to_contain_text("明日の15時")
        await page.wait_for_function("window.__notices.length > 0")
        assert await notices(page) == [
            {"title": "佐藤 美咲", "body": "明日の15時は空いていますか？"}
        ]

        # While I read that very conversation, her next message needs no notification.
        await page.locator(f"#row-{mine}").click()
        await expect(page.locator("#thread-messages")).to_contain_text("明日の15時")
        await customer_writes("u-1", "佐藤 美咲", "よろしくお願いします", 4)
        await expect(page.locator("#thread-messages")).to_contain_text("よろしくお願いします")
        assert len(await notices(page)) == 1
    await context.close()
