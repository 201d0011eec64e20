"""Chromium for the browser tests (tests/e2e, the settings and the web chat): Debian's
/usr/bin/chromium, headless; without it the tests that need it are skipped with the reason.
The ``browser`` fixture is registered for every test by tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.fixtures import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
INSTALLED = CHROMIUM.exists()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not INSTALLED:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium): skipped")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(
    page: Page, base_url: str, email: str, next_path: str = "/", *, live: bool = True
) -> None:
    """Through the login form; with ``live``, done once the live connection said "ready"."""
    suffix = f"?next={next_path}" if next_path != "/" else ""
    await page.goto(f"{base_url}/login{suffix}")
    await page.get_by_label("メールアドレス").fill(email)
    await page.get_by_label("パスワード").fill(PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await page.wait_for_url(f"{base_url}{next_path}")
    if live:
        await expect(page.locator("body")).to_have_attribute("data-live", "ready")
