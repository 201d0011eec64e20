"""The customer panel and the list's 絞り込み in Chromium, with a second member watching live."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from madoguchi.crm import fields, statuses, tags
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory

pytestmark = pytest.mark.e2e


async def test_a_member_fills_the_panel_and_filters_the_list_by_it_while_another_watches(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    ctx = factory.ctx
    owner = await factory.member(role="owner", name="店長")
    colleague = await factory.member(name="あや")
    channel = await factory.channel(kind="line", name="サロン公式LINE")
    misaki = await factory.inbound(
        channel, contact="U1", name="佐藤 美咲", text="カットの予約をしたいです"
    )
    shota = await factory.inbound(
        channel, contact="U2", name="田中 翔太", text="駐車場はありますか"
    )
    folder = await tags.create_folder(ctx, actor=None, name="顧客ランク")
    await tags.create_tag(ctx, actor=None, name="VIP", folder=folder.id)
    await tags.create_tag(ctx, actor=None, name="新規")
    await fields.create_field(ctx, key="points", label="来店ポイント", type="number")
    waiting = next(s for s in await statuses.list_statuses(ctx.db) if s.name == "連絡待ち")
    await ctx.db.commit()
    base = live_server.url
    expect.set_options(timeout=5000)
    conversation = f"/c/{misaki.conversation.id}"

    desk_context = await browser.new_context(viewport={"width": 1280, "height": 860})
    watch_context = await browser.new_context(viewport={"width": 1280, "height": 860})
    desk = await desk_context.new_page()
    watcher = await watch_context.new_page()
    outside: list[str] = []
    problems: list[str] = []
    for page in (desk, watcher):
        page.on(
            "request",
            lambda request: (
                outside.append(request.url)
                if not request.url.startswith((base, "ws://127.0.0.1", "data:"))
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
    await sign_in(desk, base, owner.email, conversation)
    await sign_in(watcher, base, colleague.email, conversation)
    panel = desk.locator("#customer-pane")
    watched = watcher.locator("#customer-pane")

    # 対応ステータス: saved on change, with 「更新されました」.
    await panel.locator("#contact-status").select_option(label="連絡待ち")
    await expect(panel.locator("#contact-status-row .saved-note")).to_contain_text("更新されました")
    await expect(desk.locator(f"#row-{misaki.conversation.id} .tone-label")).to_have_text(
        "連絡待ち"
    )

    # タグ編集: the folders, a filter box, saved as a whole.
    await panel.get_by_role("button", name="タグ編集").click()
    editor = panel.locator(".tag-editor")
    await expect(editor).to_contain_text("顧客ランク")
    await editor.get_by_placeholder("タグを検索").fill("vip")
    await expect(editor.locator(".tag-choice", has_text="新規")).to_be_hidden()
    await editor.locator(".tag-choice", has_text="VIP").click()
    await editor.get_by_role("button", name="保存").click()
    await expect(panel.locator(".tag-chip")).to_have_text(["VIP"])

    # パーソナル情報: a wrong type is refused beside the field; Enter saves a right one.
    points = panel.get_by_label("来店ポイント")
    await points.fill("たくさん")
    await points.press("Enter")
    await expect(panel.locator("#field-points-row .field-error")).to_have_text(
        "来店ポイント には数値を入力してください（入力値：たくさん）。"
    )
    await expect(points).to_have_attribute("aria-invalid", "true")
    await points.fill("1200")
    await points.press("Enter")
    await expect(panel.locator("#field-points-row .saved-note")).to_contain_text("保存しました")
    await expect(panel.locator("#field-points-row .field-error")).to_be_empty()

    # The other member's open panel followed every change without a reload.
    await expect(watched.locator("#contact-status")).to_have_value(str(waiting.id))
    await expect(watched.locator(".tag-chip")).to_have_text(["VIP"])
    await expect(watched.get_by_label("来店ポイント")).to_have_value("1200")

    # 絞り込み by the three: the list narrows to her, with removable chips.
    rows = desk.locator("#conversation-list > .row")
    await expect(rows).to_have_count(2)
    await desk.get_by_role("button", name="絞り込み").click()
    filter_panel = desk.locator("#filter-panel")
    await expect(filter_panel).to_be_visible()
    await filter_panel.locator(".pick", has_text="連絡待ち").click()
    await filter_panel.locator(".tag-choice", has_text="VIP").click()
    await filter_panel.get_by_role("button", name="条件を追加").click()
    term = filter_panel.locator("[data-filter-term]")
    await expect(term.locator("select[name=fk]")).to_have_value("points")
    await term.locator("select[name=fo]").select_option("gte")
    await term.locator("input[name=fv]").fill("1000")
    await filter_panel.get_by_role("button", name="この条件で絞り込む").click()
    await expect(filter_panel).to_be_hidden()
    await expect(rows).to_have_count(1)
    await expect(desk.locator(f"#row-{misaki.conversation.id}")).to_be_visible()
    await expect(desk.locator(f"#row-{shota.conversation.id}")).to_have_count(0)
    chips = desk.locator("#list-chips")
    await expect(chips).to_contain_text("ステータス：連絡待ち")
    await expect(chips).to_contain_text("タグ：VIP")
    await expect(chips).to_contain_text("来店ポイント が 1000 以上")
    # The address keeps the filter: a reload shows the same list.
    await expect(desk).to_have_url(re.compile(rf"status={waiting.id}"))
    await desk.reload()
    try:
        await expect(rows).to_have_count(1)
    except AssertionError as error:  # say what the page showed
        shown = await desk.locator("#list-pane").inner_text()
        raise AssertionError(f"after a reload of {desk.url}: {shown}") from error

    # Taking the status off (here) drops her from the filtered list; removing chips brings
    # 田中さん back.
    await panel.locator("#contact-status").select_option(label="なし")
    await expect(desk.locator(f"#row-{misaki.conversation.id}")).to_have_count(0)
    await desk.get_by_role("link", name="絞り込みを解除").click()
    await expect(rows).to_have_count(2)
    await expect(watched.locator("#contact-status")).to_have_value("")

    assert outside == [], f"requests left this server: {outside}"
    assert problems == [], f"script errors: {problems}"
    await desk_context.close()
    await watch_context.close()
