"""The settings pages in Chromium: what only a browser shows (popovers, the drag, focus)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from madoguchi.channels import service as channels
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e


async def status_names(base: str, token: str) -> list[str]:
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        return [s["name"] for s in (await api.get("/api/v1/statuses")).json()["items"]]


async def notice_shown_and_announced(page: Page, text: str) -> None:
    """A saved change is said on the page and, a moment later, to screen readers (the hidden
    live region repeats it: a locator over the whole page would find the text twice)."""
    await expect(page.locator(".settings-content").get_by_text(text)).to_be_visible()
    await expect(page.locator("#settings-live")).to_have_text(text)


async def test_an_owner_edits_and_reorders_statuses_in_place(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    token = await factory.token(owner)
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url) if not request.url.startswith((base, "data:")) else None
        ),
    )
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, owner.email, live=False)
    await page.goto(f"{base}/settings/statuses")

    # 編集 opens in place; a name already taken is refused next to it, in Japanese.
    row = page.locator(".set-item", has_text="対応中")
    await row.get_by_text("編集").click()
    name = row.get_by_label("名前")
    await expect(name).to_be_focused()
    await name.fill("未対応")
    await row.get_by_role("button", name="保存").click()
    await expect(row.get_by_role("alert")).to_have_text(
        "「未対応」という対応ステータスはすでにあります。"
    )
    await expect(row.get_by_label("名前")).to_have_value("未対応")
    await row.get_by_label("名前").fill("対応中（店舗）")
    await row.get_by_role("button", name="保存").click()
    await expect(page.locator(".set-item", has_text="対応中（店舗）")).to_contain_text(
        "保存しました"
    )
    assert "対応中（店舗）" in await status_names(base, token)

    # The arrows keep the focus on the moved status. The clicked button has the focus before
    # the server answers too: the list in its new order is the answer (then the order is stored).
    await page.get_by_role("button", name="未対応を下へ移動").click()
    await expect(page.locator(".set-item").first).to_contain_text("対応中（店舗）")
    await expect(page.get_by_role("button", name="未対応を下へ移動")).to_be_focused()
    assert await status_names(base, token) == ["対応中（店舗）", "未対応", "連絡待ち", "完了"]

    # Drag 完了 by its handle to the top.
    handle = page.locator(".set-item", has_text="完了").locator("[data-drag-handle]")
    first = await page.locator(".set-item").first.bounding_box()
    box = await handle.bounding_box()
    assert first is not None and box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    for step in range(1, 11):
        await page.mouse.move(x, y - (y - first["y"] + 8) * step / 10)
    await page.mouse.up()
    await expect(page.locator(".set-item").first).to_contain_text("完了")
    await expect(page.locator(".set-item-list.is-saving")).to_have_count(0)
    assert await status_names(base, token) == ["完了", "対応中（店舗）", "未対応", "連絡待ち"]

    # Delete asks first, saying what happens to the customers.
    row = page.locator(".set-item", has_text="連絡待ち")
    await row.get_by_label("連絡待ちを削除").click()  # a disclosure (summary)
    await expect(row.get_by_text("「なし」になります")).to_be_visible()
    await row.locator(".set-popover--danger").get_by_role("button", name="削除").click()
    await notice_shown_and_announced(page, "ステータス「連絡待ち」を削除しました。")
    assert await status_names(base, token) == ["完了", "対応中（店舗）", "未対応"]

    assert errors == []
    assert outside == []
    await context.close()


async def test_an_owner_copies_a_webhook_url_and_builds_an_action_step_by_step(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    token = await factory.token(owner)
    base = live_server.url
    line_id = (await channels.create_channel(factory.ctx, kind="line", name="公式LINE")).id
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        template = (
            await api.post("/api/v1/templates", json={"name": "予約の確認", "text": "どうぞ"})
        ).json()
        tag = (await api.post("/api/v1/tags", json={"name": "VIP"})).json()
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, owner.email, live=False)

    # The webhook URL goes to the clipboard, and the page says so.
    await page.goto(f"{base}/settings/channels")
    card = page.locator(f"#channel-{line_id}")
    await card.get_by_role("button", name="コピー").click()
    await expect(card.get_by_text("コピーしました")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == (
        f"{base}/webhooks/line/{line_id}"
    )

    # A step shows only what its type needs; adding and moving keep the focus in the editor.
    await page.goto(f"{base}/settings/actions")
    await page.get_by_label("名前").fill("VIPの予約")
    first = page.locator("#new-action-step-0")
    await first.get_by_label("テンプレート", exact=True).select_option(str(template["id"]))
    await expect(first.get_by_label("本文")).to_be_hidden()
    await page.get_by_label("追加するステップ").select_option("add_tags")
    await page.get_by_role("button", name="ステップを追加").click()
    second = page.locator("#new-action-step-1")
    await expect(second.get_by_label("ステップ2の内容")).to_be_focused()
    await expect(second.get_by_label("テンプレート", exact=True)).to_be_hidden()
    await second.get_by_text("VIP").click()
    await second.get_by_role("button", name="ステップ2を上へ移動").press("Enter")  # keyboard
    await expect(page.get_by_role("button", name="ステップ1を上へ移動")).to_be_focused()
    await expect(page.locator("#new-action-step-0-type")).to_have_value("add_tags")
    await expect(
        page.locator(".settings-content").get_by_text(
            "ステップを変更しました。保存するまで反映されません。"
        )
    ).to_be_visible()
    await page.get_by_role("button", name="アクションを追加").click()
    await notice_shown_and_announced(page, "アクション「VIPの予約」を保存しました。")
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        [action] = (await api.get("/api/v1/actions")).json()["items"]
    assert action["steps"] == [
        {"type": "add_tags", "tag_ids": [tag["id"]]},
        {"type": "send_template", "template_id": template["id"]},
    ]
    assert errors == []
    await context.close()
