"""操作履歴 in Chromium on a phone: the filter narrows the list in place (and the address follows
it), the entries fit the screen, and 古い操作 pages on."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e


async def test_an_owner_filters_the_audit_log_by_kind_on_a_phone(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    owner = await factory.member(role="owner", name="店長")
    token = await factory.token(owner)
    base = live_server.url
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        [status] = [
            s for s in (await api.get("/api/v1/statuses")).json()["items"] if s["name"] == "対応中"
        ]
        for n in range(31):
            renamed = await api.patch(f"/api/v1/statuses/{status['id']}", json={"name": f"段階{n}"})
            assert renamed.status_code == 200
        assert (await api.post("/api/v1/tags", json={"name": "VIP"})).status_code == 201
    expect.set_options(timeout=5000)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, owner.email, live=False)
    await page.goto(f"{base}/settings/audit")
    entries = page.locator(".set-audit-entry")
    await expect(entries.first).to_contain_text("タグを追加")

    await page.get_by_label("操作の種類").select_option(label="対応ステータスを変更")
    await page.get_by_role("button", name="絞り込み").click()
    await expect(page).to_have_url(re.compile(r"/settings/audit\?.*kind=status\.updated"))
    await expect(entries).to_have_count(30)
    await expect(entries.first).to_contain_text("段階29 → 段階30")
    await expect(page.locator(".set-audit-entry", has_text="タグを追加")).to_have_count(0)
    # Nothing wider than the phone.
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0

    await page.get_by_role("link", name="古い操作").click()
    await expect(entries).to_have_count(1)
    await expect(entries.first).to_contain_text("対応中 → 段階0")
    await expect(page.get_by_label("操作の種類")).to_have_value("status.updated")
    await page.get_by_role("link", name="新しい操作").click()
    await expect(entries).to_have_count(30)
    assert errors == []
    await context.close()
