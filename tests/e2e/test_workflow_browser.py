"""The team flow in Chromium: one member takes a conversation, asks a colleague with @ in an
internal note and closes it with a conversation tag; the customer writes again and it is back in
the colleague's 一覧 live, and the colleague was told of the mention."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect

from madoguchi.conversations import workflow
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e


async def test_assign_mention_close_and_the_customer_reopens_it_live(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    aya = await factory.member(name="あや")
    token = await factory.token(owner)
    channel = await factory.channel()
    await workflow.create_conversation_tag(factory.ctx, name="予約", color="#2f6fd0")
    base = live_server.url
    expect.set_options(timeout=5000)

    contexts = [
        await browser.new_context(viewport={"width": 1280, "height": 820}) for _ in range(2)
    ]
    desk, colleague = [await context.new_page() for context in contexts]
    problems: list[str] = []
    for page in (desk, colleague):
        page.on("pageerror", lambda error: problems.append(str(error)))
    await sign_in(desk, base, owner.email)
    await sign_in(colleague, base, aya.email)

    async def customer_writes(api: httpx.AsyncClient, message_id: str, text: str) -> int:
        posted = await api.post(
            f"/api/v1/channels/{channel.id}/inbound",
            json={
                "contact": {"external_id": "line-u1", "name": "佐藤 美咲"},
                "external_id": message_id,
                "text": text,
            },
        )
        assert posted.status_code == 201, posted.text
        conversation_id: int = posted.json()["conversation_id"]
        return conversation_id

    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        conversation_id = await customer_writes(api, "m-1", "カラーの予約をしたいです")
        row_for_desk = desk.locator(f"#row-{conversation_id}")
        row_for_colleague = colleague.locator(f"#row-{conversation_id}")
        await expect(row_for_colleague).to_contain_text("カラーの予約をしたいです")

        # 担当者になる
        await row_for_desk.click()
        header = desk.locator("#thread-header")
        await header.get_by_role("button", name="担当者になる").click()
        await expect(header.locator(".assignee")).to_contain_text("自分")
        thread = desk.locator("#thread-messages")
        await expect(thread).to_contain_text("店長さんが担当者になりました")

        # A note with @あや, chosen from the suggestions
        await desk.locator(".composer-kind-option--note").click()
        box = desk.get_by_role("textbox", name="メッセージ", exact=True)
        await box.press_sequentially("@あ")
        suggestions = desk.locator("#mention-list")
        await expect(suggestions).to_be_visible()
        await expect(suggestions.locator('[aria-selected="true"]')).to_contain_text("あや")
        await box.press("Enter")
        await expect(box).to_have_value("@あや ")
        await box.press_sequentially("在庫の確認をお願いします")
        await box.press("Enter")
        note = desk.locator(".message--note")
        await expect(note).to_contain_text("@あや 在庫の確認をお願いします")
        await expect(desk.locator("#team-part")).to_contain_text("あや")  # now a follower

        # あや hears of it: the bell counts it and lists it
        bell = colleague.locator("[data-bell]")
        await expect(bell.locator("[data-notification-count]")).to_have_text("1")
        await bell.locator("summary").click()
        await expect(bell).to_contain_text("店長さんが社内メモであなたをメンションしました")
        await expect(bell).to_contain_text("佐藤 美咲")
        await colleague.keyboard.press("Escape")

        # 終了 with the tag 予約: it leaves 一覧 for both
        await header.get_by_role("button", name="終了").click()
        dialog = desk.locator("#work-dialog")
        await expect(dialog).to_be_visible()
        await dialog.locator("label.pick", has_text="予約").click()
        await dialog.get_by_label("問い合わせメモ").fill("来週土曜のカラーで調整中")
        await dialog.get_by_role("button", name="終了する").click()
        await expect(dialog).to_be_hidden()
        await expect(header.locator(".state-badge--closed")).to_have_text("終了")
        await expect(row_for_desk).to_have_count(0)
        await expect(row_for_colleague).to_have_count(0)
        closed = (await api.get(f"/api/v1/conversations/{conversation_id}")).json()
        assert closed["state"] == "closed" and closed["memo"] == "来週土曜のカラーで調整中"
        tags = (await api.get(f"/api/v1/conversations/{conversation_id}/detail")).json()["tags"]
        assert [tag["name"] for tag in tags] == ["予約"]

        # The customer writes: open again, back in あや's 一覧 live, and the header follows.
        await customer_writes(api, "m-2", "やっぱり日曜でもいいですか？")
        await expect(row_for_colleague).to_contain_text("やっぱり日曜でもいいですか？")
        await expect(header.locator(".state-badge--closed")).to_have_count(0)
        await expect(header.get_by_role("button", name="終了")).to_be_visible()
        reopened = (await api.get(f"/api/v1/conversations/{conversation_id}")).json()
        assert reopened["state"] == "open"

    assert problems == [], problems
    for context in contexts:
        await context.close()
