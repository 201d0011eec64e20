"""インポート / エクスポート in Chromium: the Shift_JIS download says how many cells hold 〓, and
the import preview lists the tags it makes, following the owner's choice of column."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

pytestmark = pytest.mark.e2e


async def test_the_shift_jis_download_counts_its_stand_ins_and_the_preview_lists_new_tags(
    live_server: LiveServer, factory: Factory, browser: Browser, tmp_path: Path
) -> None:
    owner = await factory.member(role="owner", name="店長")
    channel = await factory.channel(kind="line", name="サロン公式LINE")
    await factory.inbound(channel, contact="U1", name="ようこ🌷", text="予約できますか")
    await factory.ctx.db.commit()
    base = live_server.url
    expect.set_options(timeout=5000)
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, accept_downloads=True
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    await sign_in(page, base, owner.email, "/settings/import-export", live=False)

    export = page.locator(".export-form")
    await export.get_by_text("Shift_JIS", exact=True).click()
    async with page.expect_download() as waiting:
        await export.get_by_role("button", name="CSVをダウンロード").click()
    download = await waiting.value
    assert download.suggested_filename.endswith("-sjis.csv")
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert "ようこ〓" in saved.read_bytes().decode("cp932")
    # 表示名 and the LINE name.
    await expect(export.get_by_role("status")).to_contain_text("2 個のセル")

    sheet = tmp_path / "サロン.csv"
    sheet.write_bytes('お客様名,タグ\r\n加藤 美穂,"VIP;細毛"\r\n'.encode("cp932"))
    await page.locator("#import-file").set_input_files(str(sheet))
    listed = page.locator("#import-new-tags")
    await expect(listed.locator("li")).to_have_text(["VIP", "細毛"])
    await page.locator('select[name="column-1"]').select_option("")
    await expect(listed).to_contain_text("新しく作られるタグはありません")
    await expect(page.locator('select[name="column-1"]')).to_have_value("")
    assert problems == []
    await context.close()
