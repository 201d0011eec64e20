"""The inbox list reads a page in a fixed number of statements, whatever its size (issue 14):
what each row shows beside it (its contact, status, mark, tags, channel, unread count) is read
for the whole page at once, as plain rows, and answered in ``ConversationPage``'s shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event, update
from sqlalchemy.engine import Engine

from madoguchi.channels import service as channels
from madoguchi.channels.service import reply_window_ends
from madoguchi.conversations import repository
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Conversation
from madoguchi.conversations.repository import Cursor, InboxItem
from madoguchi.conversations.schemas import (
    ChannelSummary,
    ContactSummary,
    ConversationOut,
    ConversationPage,
)
from madoguchi.crm.models import Tag
from madoguchi.kit.schemas import Label
from tests.fixtures import Factory, auth

# A session's statements for a page: the member behind the token, the page's ids, the
# conversations with their contacts, labels and channels, the tags, the unread counts with the
# workspace's 未確認 setting (and SQLite's BEGIN).
BUDGET = 6


async def _read(client: httpx.AsyncClient, token: str, limit: int) -> tuple[int, Any]:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The token's last use, noted once a minute, is not the page's.
        if not statement.startswith("UPDATE api_tokens"):
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        response = await client.get(
            "/api/v1/conversations", params={"limit": limit}, headers=auth(token)
        )
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert response.status_code == 200, response.text
    return len(statements), response.json()


@pytest.mark.parametrize("per_member", [False, True], ids=["team unread", "own unread"])
async def test_a_page_of_twelve_costs_the_statements_a_page_of_two_does(
    client: httpx.AsyncClient, factory: Factory, per_member: bool
) -> None:
    owner = await factory.member(role="owner")
    token = await factory.token(owner)
    channel = await factory.channel()
    for n in range(12):
        await factory.inbound(channel, contact=f"c{n}", name=f"客 {n}", text=f"問い合わせ {n}")
    if per_member:
        await factory.unread_per_member()
    await factory.ctx.db.commit()
    headers = auth(token)
    status = (
        await client.post("/api/v1/statuses", json={"name": "見積もり待ち"}, headers=headers)
    ).json()
    tag = (await client.post("/api/v1/tags", json={"name": "VIP"}, headers=headers)).json()
    mark = (await client.get("/api/v1/marks", headers=headers)).json()["items"][0]
    listed = (await client.get("/api/v1/conversations", headers=headers)).json()["items"]
    for item in listed:
        contact_id = item["contact"]["id"]
        patched = await client.patch(
            f"/api/v1/contacts/{contact_id}",
            json={"status": status["id"], "mark": mark["id"]},
            headers=headers,
        )
        assert patched.status_code == 200, patched.text
        tagged = await client.put(
            f"/api/v1/contacts/{contact_id}/tags/{tag['id']}", headers=headers
        )
        assert tagged.status_code == 204, tagged.text

    small, two = await _read(client, token, 2)
    large, twelve = await _read(client, token, 12)
    assert len(two["items"]) == 2 and len(twelve["items"]) == 12
    for item in twelve["items"]:
        assert item["contact"]["status"]["id"] == status["id"]
        assert item["contact"]["mark"]["id"] == mark["id"]
        assert [t["id"] for t in item["contact"]["tags"]] == [tag["id"]]
        assert item["channel"]["id"] == channel.id
        assert item["unread"] is True and item["unread_count"] == 1
    assert small == large <= BUDGET


async def test_the_list_answers_each_field_as_the_model_documents_it(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """The page is built as plain values, not models: it must still be the documented model,
    field for field and byte for byte, for every kind of row (closed, snoozed, assigned,
    labelled, hidden, a reply window, a removed channel), and each row as the one-conversation
    answer gives it."""
    owner = await factory.member(role="owner")
    other = await factory.member(name="石井")
    owner_id = owner.id
    token = await factory.token(owner)
    api = await factory.channel()
    instagram = await factory.channel(kind="instagram", name="Instagram")
    gone = await factory.channel(name="古い窓口")
    shown = await channels.create_channel(
        factory.ctx, kind="instagram", name="デモ", settings={"demo": True}
    )
    for n in range(6):
        await factory.inbound(api, contact=f"c{n}", name=f"客 {n}", text=f"問い合わせ {n}")
    await factory.inbound(instagram, contact="ig", name="インスタの客", text="DMです")
    await factory.inbound(gone, contact="old", name="昔の客", text="前の窓口から")
    await factory.inbound(shown, contact="demo", name="デモの客", text="試しに")
    await factory.ctx.db.commit()
    headers = auth(token)
    other_headers = auth(await factory.token(other))
    items = (await client.get("/api/v1/conversations", headers=headers)).json()["items"]
    by_name = {item["contact"]["display_name"]: item for item in items}
    status = (
        await client.post("/api/v1/statuses", json={"name": "来店予定"}, headers=headers)
    ).json()
    mark = (await client.get("/api/v1/marks", headers=headers)).json()["items"][1]
    made = [
        (await client.post("/api/v1/tags", json={"name": name}, headers=headers)).json()
        for name in ("VIP", "紹介", "常連")
    ]
    # The workspace's tag order, not the tags' ids: the newest tag moved to the front.
    await factory.ctx.db.execute(update(Tag).where(Tag.id == made[2]["id"]).values(position=-1))
    await factory.ctx.db.commit()
    tags = [made[2], made[0], made[1]]
    labelled = by_name["客 0"]["contact"]["id"]
    patched = await client.patch(
        f"/api/v1/contacts/{labelled}",
        json={"status": status["id"], "mark": mark["id"]},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    for tag in tags:
        put = await client.put(f"/api/v1/contacts/{labelled}/tags/{tag['id']}", headers=headers)
        assert put.status_code == 204, put.text
    actions = [
        (by_name["客 1"], "close", {"memo": "完了しました"}),
        (by_name["客 2"], "snooze", {"until": "2099-01-01T09:00:00+09:00"}),
        (by_name["客 3"], "assign", {"member_id": other.id}),
    ]
    for item, action, body in actions:
        done = await client.post(
            f"/api/v1/conversations/{item['id']}/{action}", json=body, headers=headers
        )
        assert done.status_code == 200, done.text
    hidden = by_name["客 4"]["contact"]["id"]
    assert (
        await client.patch(f"/api/v1/contacts/{hidden}", json={"hidden": True}, headers=headers)
    ).status_code == 200
    # Read by the other member: the team's 未確認 marks the rest new to the owner.
    read = await client.post(
        f"/api/v1/conversations/{by_name['客 5']['id']}/read", headers=other_headers
    )
    assert read.status_code in (200, 204), read.text
    assert (await client.delete(f"/api/v1/channels/{gone.id}", headers=headers)).status_code == 204

    seen: dict[str, dict[str, Any]] = {}
    for view in ("all", "closed", "snoozed", "hidden"):
        response = await client.get("/api/v1/conversations", params={"view": view}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        page = ConversationPage.model_validate_json(response.content)
        assert page.__pydantic_serializer__.to_json(page) == response.content
        for item in response.json()["items"]:
            seen[item["contact"]["display_name"]] = item
            one = await client.get(f"/api/v1/conversations/{item['id']}", headers=headers)
            assert one.status_code == 200, one.text
            assert one.json() == item
            assert ConversationOut.model_validate_json(one.content) == next(
                row for row in page.items if row.id == item["id"]
            )
    assert set(seen) == {f"客 {n}" for n in range(6)} | {"インスタの客", "昔の客", "デモの客"}
    contact = seen["客 0"]["contact"]
    assert contact["status"] == {"id": status["id"], "name": "来店予定", "color": status["color"]}
    assert contact["mark"] == {"id": mark["id"], "name": mark["name"], "color": mark["color"]}
    assert contact["tags"] == [{"id": t["id"], "name": t["name"], "color": None} for t in tags]
    assert seen["客 1"]["state"] == "closed" and seen["客 1"]["closed_at"] is not None
    assert seen["客 1"]["memo"] == "完了しました"
    assert seen["客 2"]["snooze_until"] == "2099-01-01T00:00:00Z"
    assert seen["客 3"]["assignee_id"] == other.id
    assert seen["客 4"]["contact"]["hidden"] is True
    assert seen["インスタの客"]["reply_until"] is not None
    assert seen["インスタの客"]["channel"] == {
        "id": instagram.id,
        "kind": "instagram",
        "name": "Instagram",
    }
    assert seen["昔の客"]["reply_until"].startswith("0001-01-01")
    assert seen["デモの客"]["reply_until"] is None
    assert seen["客 5"]["unread"] is False and seen["客 5"]["new_for_me"] is True
    assert seen["客 0"]["unread"] is True and seen["客 0"]["unread_count"] == 1
    assert seen["客 3"]["contact"]["status"] is None and seen["客 3"]["contact"]["tags"] == []
    # The same conversations as the staff UI reads them (ORM objects), field for field.
    factory.ctx.db.expire_all()
    conversations = [await factory.ctx.db.get(Conversation, i["id"]) for i in seen.values()]
    items = await repository.inbox_items(
        factory.ctx.db, member_id=owner_id, conversations=[c for c in conversations if c]
    )
    assert len(items) == len(seen)
    for item in items:
        assert ConversationOut.model_validate(seen[item.contact.display_name]) == _as_model(item)


def _as_model(item: InboxItem) -> ConversationOut:
    """What the list must say of ``item``, from the ORM objects the staff UI shows."""
    conversation, contact, channel = item.conversation, item.contact, item.channel
    return ConversationOut(
        id=conversation.id,
        contact_id=conversation.contact_id,
        channel_id=conversation.channel_id,
        state=conversation.state,
        memo=conversation.memo,
        closed_at=conversation.closed_at,
        reply_until=reply_window_ends(channel, conversation.last_inbound_at),
        assignee_id=conversation.assignee_id,
        snooze_until=conversation.snooze_until,
        last_activity_at=conversation.last_activity_at,
        last_message_kind=conversation.last_message_kind,
        last_message_preview=conversation.last_message_preview,
        unread=item.unread,
        unread_count=item.unread_count,
        new_for_me=item.fresh,
        contact=ContactSummary(
            id=contact.id,
            display_name=contact.display_name,
            channel_name=contact.channel_name,
            avatar_url=contact.avatar_url,
            status=Label.of(item.status),
            mark=Label.of(item.mark),
            tags=[label for tag in item.tags if (label := Label.of(tag))],
            hidden=contact.hidden,
        ),
        channel=ChannelSummary(id=channel.id, kind=channel.kind, name=channel.name),
    )


@pytest.mark.parametrize("limit", [5, 50])
async def test_the_page_size_is_written_into_the_list_statement(
    ctx: Any, factory: Factory, limit: int
) -> None:
    """The page's LIMIT is part of the statement's text, not a parameter: PostgreSQL's plan
    shared by every request (after five) then knows it, and walks. With a parameter, that plan
    expected a tenth of the rows and was a parallel walk costing 8 ms at a million contacts,
    so PostgreSQL planned every request's statement again (0.6 ms of a tag's list)."""
    from madoguchi.conversations.repository import InboxQuery

    channel = await factory.channel()
    await factory.inbound(channel, contact="limit-1", text="こんにちは")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        await repository.list_conversation_ids(ctx.db, member_id=0, query=InboxQuery(limit=limit))
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    [page] = [sql for sql in statements if "ORDER BY" in sql and "conversations.id" in sql]
    assert f" LIMIT {limit + 1}" in page, page


async def test_the_unfiltered_list_is_built_once_and_each_member_s_view_stays_theirs(
    ctx: Any, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A list with no filter reuses the statement it built for that view, page size and member
    (building it, and the key SQLAlchemy finds its SQL by, cost more than the read): a page
    after a cursor, another member's 担当: 自分, and 未確認 once the workspace keeps it per
    member, each read what is theirs."""
    from madoguchi.conversations import workflow
    from madoguchi.conversations.repository import InboxQuery, View

    monkeypatch.setattr(repository, "_PLAIN_PAGES", {})
    first, second = await factory.member(role="owner"), await factory.member()
    channel = await factory.channel()
    ids = []
    for n in range(5):
        ingested = await factory.inbound(channel, contact=f"kept-{n}", text=f"用件 {n}")
        ids.append(ingested.conversation.id)
        await workflow.assign(
            ctx,
            conversation_id=ingested.conversation.id,
            member_id=(first if n < 3 else second).id,
            actor=None,
        )
    await conversations.mark_read(ctx, conversation_id=ids[0], member=first)
    await ctx.commit()

    async def pages(member_id: int, view: View = View.all) -> list[int]:
        found: list[int] = []
        cursor = None
        while True:
            page = await repository.list_conversation_ids(
                ctx.db,
                member_id=member_id,
                query=InboxQuery(view=view, limit=2, cursor=cursor and Cursor.decode(cursor)),
            )
            found += page.ids
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    newest_first = ids[::-1]
    assert await pages(first.id) == newest_first
    assert await pages(first.id, View.mine) == newest_first[2:]
    built = dict(repository._PLAIN_PAGES)
    assert len(built) == 4  # 一覧 and 担当: 自分, each its first page and the pages after

    async def unbuilt(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("built again")

    monkeypatch.setattr(repository, "_listing", unbuilt)
    assert await pages(first.id) == newest_first
    assert await pages(first.id, View.mine) == newest_first[2:]
    monkeypatch.undo()
    monkeypatch.setattr(repository, "_PLAIN_PAGES", built)
    assert await pages(second.id, View.mine) == newest_first[:2]
    assert await pages(first.id, View.unread) == newest_first[:4]  # the team's
    await factory.unread_per_member()
    await ctx.commit()
    assert await pages(second.id, View.unread) == newest_first
    assert await pages(first.id, View.unread) == newest_first[:4]
    await conversations.mark_read(ctx, conversation_id=ids[1], member=first)
    await ctx.commit()
    assert await pages(first.id, View.unread) == newest_first[:3]
