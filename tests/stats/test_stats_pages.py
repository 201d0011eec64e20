"""The statistics page and the opening hours page (owners and admins), through HTTP as a
browser without script uses them, and in Chromium: the charts are drawn and the totals shown."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from playwright.async_api import Browser, expect

from madoguchi.kit.context import Ctx
from tests.browser import sign_in as browser_sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory
from tests.stats.test_stats import HOURS, WEEK, make_shop
from tests.ui.conftest import HTML, sign_in


async def test_the_page_shows_the_periods_numbers_and_its_csv(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    shop = await make_shop(ctx, factory)
    await ctx.db.commit()
    await sign_in(client, shop.owner)
    response = await client.get("/settings/stats", params={"period": "range", **WEEK}, headers=HTML)
    assert response.status_code == 200, response.text
    page = response.text
    for text in ("統計", "今週", "今月", "日別", "チャネル別", "メンバー別", "問い合わせタグ別"):
        assert text in page, text
    assert 'data-total="opened">3<' in page and 'data-total="closed">2<' in page
    assert "45分 / 1時間0分" in page  # first response: median 2,700 s, p90 3,600 s
    assert "uPlot.iife.min.js" in page and "stats-charts.js" in page
    assert 'id="stats-chart-data"' in page and "LINE窓口" in page
    download = await client.get("/settings/stats.csv", params={**WEEK, "encoding": "cp932"})
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.content.decode("cp932"))))
    assert rows[1][3:5] == ["3", "2"]


async def test_a_bad_range_says_why_and_agents_are_refused(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    await sign_in(client, await factory.member(role="owner"))
    response = await client.get(
        "/settings/stats",
        params={"period": "range", "from": "2026-11-08", "to": "2026-11-02"},
        headers=HTML,
    )
    assert response.status_code == 422
    assert "期間の開始が終了より後です" in response.text
    await sign_in(client, await factory.member(role="agent"))
    assert (await client.get("/settings/stats", headers=HTML)).status_code == 403
    assert (await client.get("/settings/opening-hours", headers=HTML)).status_code == 403


async def test_opening_hours_are_saved_from_the_page(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    owner = await factory.member(role="owner")
    await sign_in(client, owner)
    page = await client.get("/settings/opening-hours", headers=HTML)
    assert page.status_code == 200 and "営業時間" in page.text and "月曜日" in page.text
    form = {"mode": "set"}
    for day, span in HOURS.items():
        if span:
            form |= {
                f"{day}_open_day": "1",
                f"{day}_open": span["open"],
                f"{day}_close": span["close"],
            }
    saved = await client.post("/settings/opening-hours", data=form)
    assert saved.status_code == 303
    token = await factory.token(owner)
    stored = await client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {token}"})
    assert stored.json()["opening_hours"]["sat"] == {"open": "10:00", "close": "15:00"}
    assert stored.json()["opening_hours"]["sun"] is None
    refused = await client.post(
        "/settings/opening-hours",
        data={"mode": "set", "mon_open_day": "1", "mon_open": "18:00", "mon_close": "09:00"},
    )
    assert refused.status_code == 422 and "開店時刻は閉店時刻より前" in refused.text
    still = await client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {token}"})
    assert still.json()["opening_hours"] == stored.json()["opening_hours"]


@pytest.mark.e2e
async def test_the_charts_are_drawn_on_a_phone(
    live_server: LiveServer, ctx: Ctx, factory: Factory, browser: Browser
) -> None:
    shop = await make_shop(ctx, factory)
    await ctx.db.commit()
    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    path = f"/settings/stats?period=range&from={WEEK['from']}&to={WEEK['to']}"
    await browser_sign_in(page, live_server.url, shop.owner.email, "/settings/stats", live=False)
    await page.goto(live_server.url + path)
    for chart in ("days", "channels", "members"):
        await expect(page.locator(f'[data-chart="{chart}"] canvas')).to_have_count(1)
    await expect(page.locator('[data-total="opened"]')).to_have_text("3")
    await expect(page.locator('[data-total="messages_in"]')).to_have_text("3")
    await expect(page.locator(".stats-table").first).to_contain_text("2026-11-02")
    # The chart fits the phone's screen.
    box = await page.locator('[data-chart="days"] canvas').bounding_box()
    assert box is not None and box["width"] <= 390
    assert problems == []
    await context.close()
