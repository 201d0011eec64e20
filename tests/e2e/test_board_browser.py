"""The board in Chromium (F44): a card dragged to another column changes the customer's status,
and a colleague's board shows it moved; on a phone a long press lifts a card
and the finger drags it, and the 「移動」 menu does the same; a status
deleted meanwhile is refused with a notice and the card goes back."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, expect

from madoguchi.contacts import service as contacts
from madoguchi.conversations.service import Ingested
from madoguchi.crm import statuses
from madoguchi.kit.context import Ctx
from madoguchi.members.models import Member
from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESK = {"viewport": {"width": 1440, "height": 900}}


async def an_owner_and_a_card(factory: Factory) -> tuple[Member, str, Ingested]:
    """An owner with an API token, and one customer's message: the card to move."""
    owner = await factory.member(role="owner", name="店長")
    token = await factory.token(owner)
    channel = await factory.channel()
    first = await factory.inbound(channel, contact="c-1", name="佐藤 美咲", text="予約の件")
    return owner, token, first


def card_in(column: str, conversation_id: int) -> str:
    return f'.board-cards[data-column="{column}"] > #card-{conversation_id}'


async def test_a_dragged_card_changes_the_status_live_on_a_colleagues_board(
    live_server: LiveServer, factory: Factory, browser: Browser, ctx: Ctx
) -> None:
    owner = await factory.member(role="owner", name="店長")
    colleague = await factory.member(name="あや")
    token = await factory.token(owner)
    channel = await factory.channel()
    first = await factory.inbound(channel, contact="c-1", name="佐藤 美咲", text="予約の件")
    second = await factory.inbound(channel, contact="c-2", name="鈴木 一郎", text="領収書")
    [waiting, *_rest] = await statuses.list_statuses(ctx.db)
    status_id, moved_id, other_id = str(waiting.id), first.conversation.id, second.conversation.id
    contact_id, owner_email, colleague_email = (
        first.conversation.contact_id,
        owner.email,
        colleague.email,
    )
    await ctx.db.rollback()
    base = live_server.url
    expect.set_options(timeout=5000)

    desk = await (await browser.new_context(**DESK)).new_page()
    other = await (await browser.new_context(**DESK)).new_page()
    errors: list[str] = []
    for page in (desk, other):
        page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(desk, base, owner_email, "/board")
    await sign_in(other, base, colleague_email, "/board")
    for page in (desk, other):
        await expect(page.locator(card_in("none", moved_id))).to_be_visible()
        await expect(page.locator(card_in("none", other_id))).to_be_visible()

    await desk.locator(f"#card-{moved_id}").drag_to(
        desk.locator(f'.board-column[data-column="{status_id}"]')
    )
    await expect(desk.locator(card_in(status_id, moved_id))).to_be_visible()
    await expect(desk.locator("body")).to_have_attribute(
        "data-board-moved", f"{moved_id}:{status_id}"
    )
    # The colleague's board follows, through /ws; the other card stays where it was.
    await expect(other.locator(card_in(status_id, moved_id))).to_be_visible()
    await expect(other.locator(card_in("none", moved_id))).to_have_count(0)
    await expect(other.locator(card_in("none", other_id))).to_be_visible()
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        contact = (await api.get(f"/api/v1/contacts/{contact_id}")).json()
    assert contact["status"]["id"] == int(status_id)
    assert errors == []


async def test_a_card_dragged_to_a_deleted_status_comes_back_with_a_notice(
    live_server: LiveServer, factory: Factory, browser: Browser, ctx: Ctx
) -> None:
    owner, token, first = await an_owner_and_a_card(factory)
    doomed = await statuses.create_status(ctx, name="一時対応")
    doomed_id, moved_id, contact_id, email = (
        doomed.id,
        first.conversation.id,
        first.conversation.contact_id,
        owner.email,
    )
    await ctx.db.rollback()
    base = live_server.url
    expect.set_options(timeout=5000)
    page = await (await browser.new_context(**DESK)).new_page()
    await sign_in(page, base, email, "/board")
    await expect(page.locator(card_in("none", moved_id))).to_be_visible()

    # Deleted elsewhere, and this board not told yet (the test's own bus reaches no server).
    await statuses.delete_status(ctx, status_id=doomed_id)
    await ctx.db.rollback()
    await page.locator(f"#card-{moved_id}").drag_to(
        page.locator(f'.board-column[data-column="{doomed_id}"]')
    )
    notice = page.locator("#board-notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("カードを移動できませんでした")
    await expect(notice).to_contain_text(str(doomed_id))  # the server's reason, with the id
    await expect(page.locator(card_in("none", moved_id))).to_be_visible()
    await expect(page.locator(card_in(str(doomed_id), moved_id))).to_have_count(0)
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        contact = (await api.get(f"/api/v1/contacts/{contact_id}")).json()
    assert contact["status"] is None


async def test_on_a_phone_the_move_menu_moves_the_card(
    live_server: LiveServer, factory: Factory, browser: Browser, ctx: Ctx
) -> None:
    owner, token, first = await an_owner_and_a_card(factory)
    [_first, second_status, *_rest] = await statuses.list_statuses(ctx.db)
    status_id, status_name = str(second_status.id), second_status.name
    moved_id, contact_id, email = first.conversation.id, first.conversation.contact_id, owner.email
    await ctx.db.rollback()
    base = live_server.url
    expect.set_options(timeout=5000)
    page = await (await browser.new_context(**PHONE)).new_page()
    await sign_in(page, base, email, "/board")
    card = page.locator(f"#card-{moved_id}")
    await card.get_by_text("移動", exact=True).tap()
    await card.get_by_role("button", name=status_name).tap()
    await expect(page.locator(card_in(status_id, moved_id))).to_have_count(1)
    await expect(page.locator(card_in("none", moved_id))).to_have_count(0)
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        contact = (await api.get(f"/api/v1/contacts/{contact_id}")).json()
    assert contact["status"]["id"] == int(status_id)

    # And back to 「なし」 with the keyboard alone.
    moved = page.locator(f"#card-{moved_id}")
    await moved.locator("summary").focus()
    await page.keyboard.press("Enter")
    none_button = moved.get_by_role("button", name="なし")
    await none_button.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator(card_in("none", moved_id))).to_have_count(1)


async def test_on_a_phone_a_long_press_lifts_a_card_and_the_finger_drags_it_to_the_next_column(
    live_server: LiveServer, factory: Factory, browser: Browser, ctx: Ctx
) -> None:
    owner, token, first = await an_owner_and_a_card(factory)
    [first_status, second_status, *_rest] = await statuses.list_statuses(ctx.db)
    await contacts.update_contact(
        ctx,
        contact_id=first.conversation.contact_id,
        changes=contacts.ContactChanges(status=first_status.id, set_status=True),
    )
    await ctx.commit()
    start_id, target_id = str(first_status.id), str(second_status.id)
    moved_id, contact_id, email = first.conversation.id, first.conversation.contact_id, owner.email
    await ctx.db.rollback()
    base = live_server.url
    expect.set_options(timeout=5000)
    page = await (await browser.new_context(**PHONE)).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, email, "/board")
    card = page.locator(card_in(start_id, moved_id))
    await expect(card).to_be_visible()
    await expect(page.locator(".board-hint")).to_be_visible()  # a phone is told how
    box = await card.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    screen = await page.context.new_cdp_session(page)

    async def finger(kind: str, at: tuple[float, float] | None = None) -> None:
        points = [] if at is None else [{"x": at[0], "y": at[1]}]
        await screen.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    # A swipe is a scroll: nothing is lifted, nothing moves.
    await finger("touchStart", (x, y))
    await finger("touchMove", (x, y + 60))
    await finger("touchEnd")
    await expect(page.locator(".board-card--ghost")).to_have_count(0)
    await expect(card).to_be_visible()

    # Held still, the card is lifted; at the board's right edge the board scrolls to the next
    # column (a phone shows one), and the card is let go over it.
    await finger("touchStart", (x, y))
    await expect(page.locator(".board-card--ghost")).to_have_count(1)
    await finger("touchMove", (385, y))
    target = page.locator(f'.board-column[data-column="{target_id}"]')
    await target.evaluate(
        """column => new Promise(resolve => {
            const near = () => column.getBoundingClientRect().left < 120
                ? resolve(true) : requestAnimationFrame(near);
            near();
        })"""
    )
    await finger("touchMove", (195, y))
    await expect(target).to_have_class(re.compile(r"board-column--over"))
    await finger("touchEnd")
    await expect(page.locator(".board-card--ghost")).to_have_count(0)
    await expect(page.locator(card_in(target_id, moved_id))).to_have_count(1)
    await expect(page.locator(card_in(start_id, moved_id))).to_have_count(0)
    await expect(page.locator("body")).to_have_attribute(
        "data-board-moved", f"{moved_id}:{target_id}"
    )
    assert page.url.endswith("/board")  # letting go did not open the conversation
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        contact = (await api.get(f"/api/v1/contacts/{contact_id}")).json()
    assert contact["status"]["id"] == int(target_id)
    assert errors == []
