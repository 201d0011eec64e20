"""The staff UI as an installable app, in Chromium (issue 13, item 10): the manifest is linked
and valid, /sw.js registers for the whole site, a page asked for with no network is the offline
page, the 「オフライン」 notice shows while the network is gone, and the member's devices that get
Web Push are listed on their settings page, each removable."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from madoguchi.kit.context import Ctx
from madoguchi.notifications import push
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory
from tests.test_push import Browser as PushBrowser

pytestmark = pytest.mark.e2e


async def test_the_app_installs_and_works_offline(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    me = await factory.member(role="owner", name="店長")
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await sign_in(page, base, me.email)

    link = page.locator('link[rel="manifest"]')
    assert await link.get_attribute("href") == "/manifest.webmanifest"
    manifest: dict[str, Any] = await page.evaluate(
        """async () => {
          const href = document.querySelector('link[rel="manifest"]').href;
          const manifest = await (await fetch(href)).json();
          const icons = [];
          for (const icon of manifest.icons) {
            const image = new Image();
            image.src = new URL(icon.src, href).href;
            await image.decode();
            icons.push({sizes: icon.sizes, real: image.naturalWidth + "x" + image.naturalHeight});
          }
          return {...manifest, checked: icons};
        }"""
    )
    assert manifest["name"] == "Madoguchi" and manifest["short_name"] == "Madoguchi"
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    assert manifest["theme_color"].startswith("#")
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["checked"]}
    assert all(icon["sizes"] == icon["real"] for icon in manifest["checked"])

    worker: dict[str, str] = await page.evaluate(
        """async () => {
          const ready = await navigator.serviceWorker.ready;
          return {script: ready.active.scriptURL, scope: ready.scope};
        }"""
    )
    assert worker == {"script": f"{base}/sw.js", "scope": f"{base}/"}
    # The shell is kept before the worker is active.
    await page.wait_for_function("navigator.serviceWorker.controller !== null")

    notice = page.locator("[data-offline-notice]")
    await expect(notice).to_be_hidden()
    await context.set_offline(True)
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("オフライン")

    await page.goto(f"{base}/contacts")
    await expect(page.get_by_role("heading", name="オフライン")).to_be_visible()
    # Its styles came from the kept shell: the card is laid out, not bare text.
    assert await page.locator(".error-card").evaluate(
        "card => getComputedStyle(card).borderRadius !== '0px'"
    )
    await context.set_offline(False)
    # Back online, the page the member asked for comes by itself.
    await expect(page.get_by_role("heading", name="オフライン")).to_have_count(0)
    await expect(page.get_by_role("heading", name="お客様一覧")).to_be_visible()
    await context.close()


async def test_my_devices_are_listed_and_removable(
    live_server: LiveServer, factory: Factory, ctx: Ctx, browser: Browser
) -> None:
    me = await factory.member(role="owner", name="店長")
    phone = PushBrowser("https://push.example.com/send/phone").to_json()
    await push.subscribe(
        ctx,
        member=me,
        endpoint=phone["endpoint"],
        p256dh=phone["keys"]["p256dh"],
        auth=phone["keys"]["auth"],
        label="Chrome / Android",
    )
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await sign_in(page, base, me.email, "/settings", live=False)

    card = page.locator("[data-push-settings]")
    await expect(
        card.get_by_role("heading", name="Madoguchiを閉じているときの通知")
    ).to_be_visible()
    await expect(card.get_by_label("この端末に通知する")).to_be_enabled()
    await expect(card.get_by_label("お客様の名前とメッセージを表示する")).to_be_visible()

    device = card.locator("[data-push-device]")
    await expect(device).to_have_count(1)
    await expect(device).to_contain_text("Chrome / Android")
    await device.get_by_role("button", name="削除").click()
    await page.locator("#confirm-dialog [data-confirm-ok]").click()
    await expect(card.get_by_text("通知を受け取る端末はまだありません。")).to_be_visible()
    await ctx.db.rollback()
    assert await push.subscriptions_of(ctx.db, member_id=me.id) == []
    await ctx.db.rollback()  # SQLite: the server is the next writer
    # Signing out (which first lets go of this browser's subscription, if any) still signs out.
    await page.get_by_role("button", name="ログアウト").click()
    await page.wait_for_url(f"{base}/login")
    await context.close()
