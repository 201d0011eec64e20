"""メッセージフィルター (F27): customer messages a filter matches arrive read for everyone."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from madoguchi.audit.models import AuditEntry
from madoguchi.automation import filters
from madoguchi.channels.models import Channel
from madoguchi.connectors import inbound
from madoguchi.conversations.models import ConversationUnread
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.fixtures import Factory, auth
from tests.ui.conftest import HTML, HTMX, sign_in


async def test_owners_keep_filters_through_the_api_with_clear_refusals(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    owner = await factory.token(await factory.member(role="owner"))
    agent = await factory.token(await factory.member(role="agent", name="美咲"))
    url = "/api/v1/message-filters"

    made = await client.post(
        url, json={"match": "exact", "text": " メニューを見る "}, headers=auth(owner)
    )
    assert made.status_code == 201, made.text
    assert made.json()["match"] == "exact" and made.json()["text"] == "メニューを見る"
    keyword = await client.post(
        url, json={"match": "contains", "text": "営業時間"}, headers=auth(owner)
    )
    assert keyword.status_code == 201

    listed = (await client.get(url, headers=auth(agent))).json()["items"]
    assert [(f["match"], f["text"]) for f in listed] == [
        ("exact", "メニューを見る"),
        ("contains", "営業時間"),
    ]
    again = await client.post(
        url, json={"match": "exact", "text": "メニューを見る"}, headers=auth(owner)
    )
    assert again.status_code == 409 and "already" in again.json()["detail"]
    for body, status in (
        ({"match": "starts", "text": "x"}, 422),
        ({"match": "exact", "text": "   "}, 422),
        ({"match": "exact", "text": "x" * 201}, 422),
        ({"match": "exact"}, 422),
    ):
        refused = await client.post(url, json=body, headers=auth(owner))
        assert refused.status_code == status, (body, refused.text)
    assert (
        await client.post(url, json={"match": "exact", "text": "x"}, headers=auth(agent))
    ).status_code == 403

    changed = await client.patch(
        f"{url}/{keyword.json()['id']}", json={"text": "営業時間を教えて"}, headers=auth(owner)
    )
    assert changed.status_code == 200 and changed.json()["match"] == "contains"
    clash = await client.patch(
        f"{url}/{keyword.json()['id']}",
        json={"match": "exact", "text": "メニューを見る"},
        headers=auth(owner),
    )
    assert clash.status_code == 409
    assert (
        await client.patch(f"{url}/999", json={"text": "x"}, headers=auth(owner))
    ).status_code == 404
    assert (
        await client.delete(f"{url}/{made.json()['id']}", headers=auth(agent))
    ).status_code == 403
    assert (
        await client.delete(f"{url}/{made.json()['id']}", headers=auth(owner))
    ).status_code == 204
    assert (
        await client.delete(f"{url}/{made.json()['id']}", headers=auth(owner))
    ).status_code == 404
    remaining = (await client.get(url, headers=auth(owner))).json()["items"]
    assert [(f["match"], f["text"]) for f in remaining] == [("contains", "営業時間を教えて")]
    async with database.read_sessions() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "message_filter.deleted")
        )
    assert entry is not None and entry.detail == {"match": "exact", "text": "メニューを見る"}


async def test_a_matching_message_arrives_read_for_every_member_and_notifies_no_one(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient, database: Database
) -> None:
    first = await factory.member(role="owner")
    second = await factory.member(role="agent", name="美咲")
    channel: Channel = await factory.channel()
    button = await filters.create_filter(ctx, match="exact", text="メニューを見る")
    await filters.create_filter(ctx, match="contains", text="営業時間")
    published = ctx.bus.published  # type: ignore[attr-defined]

    async def write(message_id: str, text: str) -> inbound.Ingested:
        published.clear()
        return await inbound.receive(
            ctx,
            inbound.Inbound(
                channel_id=channel.id, kind="api", sender="c-1", message_id=message_id, text=text
            ),
        )

    async def unread_counts() -> dict[int, int]:
        async with database.read_sessions() as session:
            rows = await session.execute(
                select(ConversationUnread.member_id, ConversationUnread.count)
            )
            return {member_id: count for member_id, count in rows}

    # Width and kana do not matter: a half-width tap is the same button.
    tapped = await write("m-1", "ﾒﾆｭｰを見る")
    assert tapped.message.meta == {"filter_id": button.id}
    [created, updated] = published
    assert created.type == "message.created" and created.data["filtered"] is True
    assert updated.type == "conversation.updated"
    assert all(count == 0 for count in (await unread_counts()).values())

    await write("m-2", "明日の営業時間は何時までですか？")
    assert published[0].data["filtered"] is True
    assert all(count == 0 for count in (await unread_counts()).values())

    # "メニューを見る" inside a longer message is not the button: exact means the whole message.
    asked = await write("m-3", "メニューを見るにはどうしたら？")
    assert asked.message.meta is None and "filtered" not in published[0].data
    assert await unread_counts() == {first.id: 1, second.id: 1}

    # The conversation still moves, and the filtered message shows why it was not unread.
    token = await factory.token(first)
    await write("m-4", "メニューを見る")
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["last_message_preview"] == "メニューを見る" and item["unread_count"] == 1
    await sign_in(client, first)
    page = (await client.get(f"/c/{tapped.conversation.id}", headers=HTML)).text
    assert page.count("メッセージフィルターに一致したため、確認済みで届きました。") == 3


async def test_the_settings_page_adds_and_deletes_filters_in_japanese(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="agent", name="美咲"))
    refused = await client.post(
        "/settings/message-filters", data={"match": "exact", "text": "x"}, headers=HTMX
    )
    assert refused.status_code == 403
    await sign_in(client, await factory.member(role="owner", name="店長"))
    page = (await client.get("/settings/message-filters", headers=HTML)).text
    assert "メッセージフィルターはまだありません。" in page and "完全一致" not in page
    added = await client.post(
        "/settings/message-filters", data={"match": "contains", "text": "営業時間"}, headers=HTMX
    )
    assert added.status_code == 200
    assert "メッセージフィルター「営業時間」を追加しました。" in added.text
    assert "部分一致" in added.text
    empty = await client.post(
        "/settings/message-filters", data={"match": "exact", "text": " "}, headers=HTMX
    )
    assert empty.status_code == 422
    assert "フィルターで探すテキストを入力してください。" in empty.text
    assert 'id="error-new-message-filter"' in empty.text
    [saved] = (await client.get("/api/v1/message-filters")).json()["items"]
    deleted = await client.post(
        f"/settings/message-filters/{saved['id']}/delete", data={"name": "営業時間"}, headers=HTMX
    )
    assert "メッセージフィルター「営業時間」を削除しました。" in deleted.text
    assert (await client.get("/api/v1/message-filters")).json()["items"] == []
    audit = (await client.get("/settings/audit", headers=HTML)).text
    assert "メッセージフィルター「営業時間」を削除しました" in audit


async def test_twins_as_matching_sees_them_are_refused_and_control_characters_dropped(
    ctx: Ctx,
) -> None:
    from madoguchi.kit.errors import Conflict, Invalid

    await filters.create_filter(ctx, match="exact", text="ＭＥＮＵ")
    await filters.create_filter(ctx, match="contains", text="メニュー")
    for match, text in (("exact", "menu"), ("contains", "めにゅー"), ("contains", " ﾒﾆｭｰ ")):
        try:
            await filters.create_filter(ctx, match=match, text=text)
        except Conflict:
            continue
        raise AssertionError(f"{text} was taken as a new filter")
    # The same text with the other kind of match is another filter.
    await filters.create_filter(ctx, match="contains", text="menu")
    try:
        await filters.create_filter(ctx, match="exact", text="\x07")
    except Invalid:
        pass
    else:
        raise AssertionError("a filter of control characters only was kept")
    kept = await filters.create_filter(ctx, match="exact", text="予約\x07する")
    assert kept.text == "予約する"
