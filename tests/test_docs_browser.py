"""/docs in Chromium: Swagger UI from the vendored files lists the operations, and the page's
Content-Security-Policy refuses nothing it needs (no console errors, no violation reports)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from madoguchi.app import STATIC_DIR
from tests.conftest import LiveServer

pytestmark = pytest.mark.e2e


async def test_docs_renders_the_operations_with_no_csp_errors(
    live_server: LiveServer, browser: Browser
) -> None:
    if not (STATIC_DIR / "vendor" / "swagger-ui-bundle.js").is_file():
        pytest.fail("static/vendor/swagger-ui-bundle.js is missing: run make assets")
    # Swagger UI draws tag sections as they scroll into view: a tall page shows them all.
    page = await browser.new_page(viewport={"width": 1280, "height": 8000})
    problems: list[str] = []
    outside: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((live_server.url, "data:"))
            else None
        ),
    )
    await page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e =>"
        " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    await page.goto(f"{live_server.url}/docs")
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible(timeout=15000)
    # Wait until they are drawn, rather than count whatever a busy machine has drawn so far.
    await expect(operations.nth(50)).to_be_attached(timeout=15000)
    await expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/conversations").first
    ).to_be_visible()
    # Opening one works too (the UI's scripts run).
    await operations.first.locator(".opblock-summary").click()
    await expect(page.locator(".opblock-body").first).to_be_visible()
    assert problems == []
    assert outside == []
