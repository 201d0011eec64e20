"""The board (F44): the inbox's list as columns by support status, moving cards between them."""

from __future__ import annotations

import re

import httpx
import pytest

from madoguchi.contacts.service import ContactChanges, update_contact
from madoguchi.crm import statuses
from madoguchi.kit.context import Ctx
from madoguchi.kit.i18n import gettext_for
from madoguchi.ui import board
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, Inbox

_ = gettext_for("ja").gettext


def columns(html: str) -> dict[str, list[int]]:
    """Each column's cards, in order, as the page shows them."""
    found: dict[str, list[int]] = {}
    for key, cards in re.findall(
        r'<ul class="board-cards" data-column="([^"]+)".*?>(.*?)</ul>\s*</section>', html, re.S
    ):
        found[key] = [int(i) for i in re.findall(r'<li class="board-card" id="card-(\d+)"', cards)]
    return found


async def _status_ids(ctx: Ctx) -> list[str]:
    return [str(s.id) for s in await statuses.list_statuses(ctx.db)]


async def test_the_board_has_a_column_per_status_in_order_and_one_for_none(
    client: httpx.AsyncClient, inbox: Inbox, factory: Factory, ctx: Ctx
) -> None:
    second = await factory.inbound(inbox.channel, contact="c-2", name="鈴木 一郎", text="質問です")
    [first_status, *_rest] = await statuses.list_statuses(ctx.db)
    await update_contact(
        ctx,
        contact_id=second.conversation.contact_id,
        changes=ContactChanges(status=first_status.id, set_status=True),
    )
    page = await client.get("/board", headers=HTML)
    assert page.status_code == 200, page.text
    found = columns(page.text)
    assert list(found) == [*await _status_ids(ctx), "none"]
    assert found[str(first_status.id)] == [second.conversation.id]
    assert found["none"] == [inbox.conversation_id]
    assert "鈴木 一郎" in page.text and "佐藤 美咲" in page.text
    # The list and the board lead to each other with the same query.
    listing = await client.get("/?q=鈴木", headers=HTML)
    assert 'href="/board?q=%E9%88%B4%E6%9C%A8"' in listing.text
    assert 'href="/?q=%E9%88%B4%E6%9C%A8"' in (await client.get("/board?q=鈴木")).text


async def test_the_board_applies_the_inbox_filters(
    client: httpx.AsyncClient, inbox: Inbox, factory: Factory
) -> None:
    other = await factory.inbound(inbox.channel, contact="c-2", name="鈴木 一郎", text="領収書")
    found = columns((await client.get("/board?q=領収書", headers=HTML)).text)
    assert found["none"] == [other.conversation.id]
    closed = columns((await client.get("/board?view=closed", headers=HTML)).text)
    assert all(cards == [] for cards in closed.values())


async def test_each_column_pages_on_its_own_with_the_list_keyset(
    client: httpx.AsyncClient,
    inbox: Inbox,
    factory: Factory,
    ctx: Ctx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(board, "BOARD_PAGE", 2)
    made = [inbox.conversation_id]
    for n in range(4):
        ingested = await factory.inbound(inbox.channel, contact=f"p-{n}", text=f"本文{n}")
        made.append(ingested.conversation.id)
    newest_first = list(reversed(made))
    page = await client.get("/board", headers=HTML)
    assert columns(page.text)["none"] == newest_first[:2]
    more = re.search(r'hx-get="(/ui/board/columns/none\?cursor=[^"]+)"', page.text)
    assert more is not None
    seen = newest_first[:2]
    url: str | None = more.group(1).replace("&amp;", "&")
    while url:
        answer = await client.get(url, headers=HTMX)
        assert answer.status_code == 200
        seen += [int(i) for i in re.findall(r'id="card-(\d+)"', answer.text)]
        following = re.search(r'hx-get="(/ui/board/columns/none\?[^"]+)"', answer.text)
        url = following.group(1).replace("&amp;", "&") if following else None
    assert seen == newest_first


async def test_moving_a_card_sets_the_status_through_the_service_and_tells_everyone(
    client: httpx.AsyncClient, inbox: Inbox, ctx: Ctx
) -> None:
    [target, *_rest] = await statuses.list_statuses(ctx.db)
    target_id, conversation_id, contact_id = target.id, inbox.conversation_id, inbox.contact_id
    await ctx.db.rollback()
    answer = await client.post(
        f"/ui/board/cards/{conversation_id}/move", data={"status": str(target_id)}, headers=HTMX
    )
    assert answer.status_code == 200, answer.text
    assert f'data-board-card data-column="{target_id}"' in answer.text
    contact = (await client.get(f"/api/v1/contacts/{contact_id}")).json()
    assert contact["status"]["id"] == target_id
    page = columns((await client.get("/board", headers=HTML)).text)
    assert page[str(target_id)] == [conversation_id] and page["none"] == []
    back = await client.post(
        f"/ui/board/cards/{conversation_id}/move", data={"status": "none"}, headers=HTMX
    )
    assert 'data-column="none"' in back.text
    # Without the script, the move menu's form goes back to the board.
    plain = await client.post(
        f"/ui/board/cards/{conversation_id}/move?q=x",
        data={"status": str(target_id)},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/board?q=x"


async def test_moving_to_a_deleted_status_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, inbox: Inbox, ctx: Ctx
) -> None:
    [kept, *_rest] = await statuses.list_statuses(ctx.db)
    await update_contact(
        ctx, contact_id=inbox.contact_id, changes=ContactChanges(status=kept.id, set_status=True)
    )
    gone = await statuses.create_status(ctx, name="一時的")
    gone_id, kept_id = gone.id, kept.id
    conversation_id, contact_id = inbox.conversation_id, inbox.contact_id
    await statuses.delete_status(ctx, status_id=gone_id)
    await ctx.db.rollback()
    answer = await client.post(
        f"/ui/board/cards/{conversation_id}/move", data={"status": str(gone_id)}, headers=HTMX
    )
    assert answer.status_code == 404
    assert answer.text == _("No status with id %(id)s.") % {"id": gone_id}
    contact = (await client.get(f"/api/v1/contacts/{contact_id}")).json()
    assert contact["status"]["id"] == kept_id


async def test_bad_board_input_is_a_clear_4xx(client: httpx.AsyncClient, inbox: Inbox) -> None:
    cases = [
        ("GET", "/board?status=存在しない", 404),
        ("GET", "/board?tag=999999", 404),
        ("GET", "/ui/board?status=存在しない", 404),
        ("GET", "/ui/board/columns/999999", 404),
        ("GET", "/ui/board/columns/abc", 422),
        ("GET", "/ui/board/columns/none?cursor=not-a-cursor", 422),
        ("POST", f"/ui/board/cards/{inbox.conversation_id}/move", 422),
        ("POST", "/ui/board/cards/999999/move", 404),
    ]
    for method, url, status in cases:
        answer = await client.request(
            method, url, headers=HTMX, data={"status": "1"} if "999999/move" in url else {}
        )
        assert answer.status_code == status, (url, answer.text)
        assert answer.text.strip()
    page = await client.get("/board?status=存在しない", headers=HTML)
    assert (
        'role="alert"' in page.text
        and _("No status named %(name)s.") % {"name": "存在しない"} in page.text
    )


async def test_a_card_that_left_the_filter_comes_back_empty(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    answer = await client.get(f"/ui/board/cards/{inbox.conversation_id}?view=closed", headers=HTMX)
    assert answer.status_code == 200 and "data-board-card" not in answer.text
    shown = await client.get(f"/ui/board/cards/{inbox.conversation_id}", headers=HTMX)
    assert 'data-board-card data-column="none"' in shown.text


async def test_the_list_export_follows_the_list_filter_and_is_for_managers(
    client: httpx.AsyncClient, inbox: Inbox, factory: Factory
) -> None:
    other = await factory.inbound(inbox.channel, contact="c-2", name="鈴木 一郎", text="領収書")
    answer = await client.get("/export?format=csv&q=領収書")
    assert answer.status_code == 200, answer.text
    rows = answer.content.decode("utf-8-sig").splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == [str(other.conversation.id)]
    page = await client.get("/", headers=HTML)
    assert "/export?format=pdf" in page.text


async def test_an_agent_cannot_export_the_list(client: httpx.AsyncClient, factory: Factory) -> None:
    from tests.ui.conftest import sign_in

    agent = await factory.member(role="agent")
    await sign_in(client, agent)
    answer = await client.get("/export?format=csv")
    assert answer.status_code == 403
    assert "/export?format=" not in (await client.get("/", headers=HTML)).text
