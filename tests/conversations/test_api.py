"""The inbox API as an integration and the staff UI use it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from madoguchi.channels.models import Channel
from madoguchi.members.models import Member
from tests.fixtures import Factory, auth


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner")


@pytest.fixture
async def token(factory: Factory, owner: Member) -> str:
    return await factory.token(owner)


@pytest.fixture
async def channel(factory: Factory) -> Channel:
    return await factory.channel()


def inbound_body(
    text: str = "カットの予約をしたいです",
    *,
    contact: str = "c-1",
    name: str = "佐藤 美咲",
    external_id: str | None = "m-1",
) -> dict[str, object]:
    body: dict[str, object] = {"contact": {"external_id": contact, "name": name}, "text": text}
    if external_id is not None:
        body["external_id"] = external_id
    return body


async def test_inbound_message_appears_in_the_inbox_list_unread(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    response = await client.post(
        f"/api/v1/channels/{channel.id}/inbound", json=inbound_body(), headers=auth(token)
    )
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["kind"] == "inbound" and message["external_id"] == "m-1"

    listing = (await client.get("/api/v1/conversations", headers=auth(token))).json()
    [item] = listing["items"]
    assert item["id"] == message["conversation_id"]
    assert item["contact"]["display_name"] == "佐藤 美咲"
    assert item["contact"]["channel_name"] == "佐藤 美咲"
    assert item["channel"] == {"id": channel.id, "kind": "api", "name": "API"}
    assert item["last_message_preview"] == "カットの予約をしたいです"
    assert item["unread"] is True and item["unread_count"] == 1
    assert listing["next_cursor"] is None


async def test_same_inbound_external_id_twice_stores_one_message(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    url = f"/api/v1/channels/{channel.id}/inbound"
    first = await client.post(url, json=inbound_body(), headers=auth(token))
    again = await client.post(url, json=inbound_body(), headers=auth(token))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    conversation_id = first.json()["conversation_id"]
    messages = (
        await client.get(f"/api/v1/conversations/{conversation_id}/messages", headers=auth(token))
    ).json()["items"]
    assert [m["text"] for m in messages] == ["カットの予約をしたいです"]
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["unread_count"] == 1


async def test_concurrent_redeliveries_store_one_message(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    url = f"/api/v1/channels/{channel.id}/inbound"
    responses = await asyncio.gather(
        *[client.post(url, json=inbound_body(), headers=auth(token)) for _ in range(8)]
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_inbound_errors_are_clear(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    url = f"/api/v1/channels/{channel.id}/inbound"
    malformed = await client.post(
        url, content=b'{"contact": ', headers={**auth(token), "content-type": "application/json"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["detail"] == "The request body is not valid JSON."

    missing = await client.post(url, json={"text": "hi"}, headers=auth(token))
    assert missing.status_code == 422
    assert "contact" in missing.json()["detail"]

    too_long = await client.post(url, json=inbound_body("あ" * 5001), headers=auth(token))
    assert too_long.status_code == 422 and isinstance(too_long.json()["detail"], str)

    blank = await client.post(url, json=inbound_body("   "), headers=auth(token))
    assert blank.status_code == 422

    unknown = await client.post(
        "/api/v1/channels/999/inbound", json=inbound_body(), headers=auth(token)
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "No channel with id 999."}

    no_token = await client.post(url, json=inbound_body())
    assert no_token.status_code == 401
    bad_token = await client.post(url, json=inbound_body(), headers=auth("mdg_not-a-token"))
    assert bad_token.status_code == 401

    listing = (await client.get("/api/v1/conversations", headers=auth(token))).json()
    assert listing["items"] == []


async def test_inbound_to_a_non_api_channel_is_refused(
    client: httpx.AsyncClient, token: str, factory: Factory
) -> None:
    line = await factory.channel(kind="line", name="LINE")
    response = await client.post(
        f"/api/v1/channels/{line.id}/inbound", json=inbound_body(), headers=auth(token)
    )
    assert response.status_code == 422
    assert "not an API channel" in response.json()["detail"]


async def test_reply_and_note_are_stored_and_listed_in_order(
    client: httpx.AsyncClient, token: str, channel: Channel, owner: Member
) -> None:
    inbound = await client.post(
        f"/api/v1/channels/{channel.id}/inbound", json=inbound_body(), headers=auth(token)
    )
    conversation_id = inbound.json()["conversation_id"]
    url = f"/api/v1/conversations/{conversation_id}/messages"
    reply = await client.post(
        url, json={"text": "ご連絡ありがとうございます。"}, headers=auth(token)
    )
    assert reply.status_code == 201
    assert reply.json()["kind"] == "reply"
    assert reply.json()["delivery"] == "sent"
    assert reply.json()["sender_member_id"] == owner.id
    note = await client.post(
        url, json={"text": "常連さんです", "kind": "note"}, headers=auth(token)
    )
    assert note.json()["kind"] == "note" and note.json()["delivery"] is None

    messages = (await client.get(url, headers=auth(token))).json()["items"]
    assert [m["kind"] for m in messages] == ["inbound", "reply", "note"]
    newer = (await client.get(url, params={"after": messages[0]["id"]}, headers=auth(token))).json()
    assert [m["kind"] for m in newer["items"]] == ["reply", "note"]
    older = (
        await client.get(url, params={"before": messages[2]["id"], "limit": 1}, headers=auth(token))
    ).json()
    assert [m["kind"] for m in older["items"]] == ["reply"]

    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["last_message_preview"] == "常連さんです"
    # Replying is reading: the sender's unread mark is gone.
    assert item["unread"] is False


async def test_posting_messages_rejects_bad_input(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    inbound = await client.post(
        f"/api/v1/channels/{channel.id}/inbound", json=inbound_body(), headers=auth(token)
    )
    url = f"/api/v1/conversations/{inbound.json()['conversation_id']}/messages"
    assert (
        await client.post(url, json={"text": "x" * 5001}, headers=auth(token))
    ).status_code == 422
    assert (
        await client.post(url, json={"text": "x" * 5000}, headers=auth(token))
    ).status_code == 201
    wrong_kind = await client.post(url, json={"text": "x", "kind": "inbound"}, headers=auth(token))
    assert wrong_kind.status_code == 422
    missing = await client.post(url, json={}, headers=auth(token))
    assert missing.status_code == 422 and missing.json()["detail"] == "The message is empty."
    unknown = await client.post(
        "/api/v1/conversations/424242/messages", json={"text": "x"}, headers=auth(token)
    )
    assert unknown.status_code == 404
    assert (
        await client.get("/api/v1/conversations/424242/messages", headers=auth(token))
    ).status_code == 404


async def test_read_and_unread_are_per_member_when_the_workspace_says_so(
    client: httpx.AsyncClient, token: str, channel: Channel, factory: Factory
) -> None:
    await factory.unread_per_member()
    colleague = await factory.member()
    colleague_token = await factory.token(colleague)
    inbound = await client.post(
        f"/api/v1/channels/{channel.id}/inbound", json=inbound_body(), headers=auth(token)
    )
    conversation_id = inbound.json()["conversation_id"]

    async def unread_ids(member_token: str) -> list[int]:
        response = await client.get(
            "/api/v1/conversations", params={"view": "unread"}, headers=auth(member_token)
        )
        return [item["id"] for item in response.json()["items"]]

    assert await unread_ids(token) == [conversation_id]
    assert await unread_ids(colleague_token) == [conversation_id]

    read = await client.post(f"/api/v1/conversations/{conversation_id}/read", headers=auth(token))
    assert read.status_code == 204
    assert await unread_ids(token) == []
    assert await unread_ids(colleague_token) == [conversation_id]

    unread = await client.post(
        f"/api/v1/conversations/{conversation_id}/unread", headers=auth(token)
    )
    assert unread.status_code == 204
    assert await unread_ids(token) == [conversation_id]
    missing = await client.post("/api/v1/conversations/999/read", headers=auth(token))
    assert missing.status_code == 404


async def test_list_pages_newest_activity_first_with_a_cursor(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    url = f"/api/v1/channels/{channel.id}/inbound"
    for n in range(7):
        await client.post(
            url,
            json=inbound_body(
                f"メッセージ{n}", contact=f"c-{n}", name=f"お客様{n}", external_id=f"m-{n}"
            ),
            headers=auth(token),
        )
    # Contact 2 writes again: their conversation moves to the top.
    await client.post(
        url,
        json=inbound_body("追伸です", contact="c-2", name="お客様2", external_id="m-again"),
        headers=auth(token),
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get("/api/v1/conversations", params=params, headers=auth(token))
        ).json()
        seen += [item["contact"]["display_name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["お客様2", "お客様6", "お客様5", "お客様4", "お客様3", "お客様1", "お客様0"]

    bad = await client.get(
        "/api/v1/conversations", params={"cursor": "nonsense"}, headers=auth(token)
    )
    assert bad.status_code == 422
    assert (
        await client.get("/api/v1/conversations", params={"limit": 0}, headers=auth(token))
    ).status_code == 422
    assert (
        await client.get("/api/v1/conversations", params={"view": "x"}, headers=auth(token))
    ).status_code == 422


async def test_unread_view_pages_with_a_cursor(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    url = f"/api/v1/channels/{channel.id}/inbound"
    for n in range(5):
        await client.post(
            url,
            json=inbound_body(f"質問{n}", contact=f"c-{n}", external_id=f"m-{n}"),
            headers=auth(token),
        )
    ids: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2, "view": "unread"}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get("/api/v1/conversations", params=params, headers=auth(token))
        ).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids == sorted(ids, reverse=True) and len(ids) == 5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("予約", ["佐藤 美咲"]),
        ("ヨテイ", ["田中 一郎"]),  # katakana query finds hiragana text
        ("よてい", ["田中 一郎"]),
        ("ﾖﾃｲ", ["田中 一郎"]),  # half-width katakana
        ("ＣＯＬＯＵＲ", ["Kenji"]),  # full-width, upper case
        ("kenji", ["Kenji"]),
        ("美咲", ["佐藤 美咲"]),
        ("佐", ["佐藤 美咲"]),  # one character
        ("咲", ["佐藤 美咲"]),  # one character, at the end of a name
        ("藤美", ["佐藤 美咲"]),  # spaces do not matter
        ("予定予約", []),
        ("存在しない", []),
    ],
)
async def test_search_by_name_and_message_text(
    client: httpx.AsyncClient, token: str, channel: Channel, query: str, expected: list[str]
) -> None:
    url = f"/api/v1/channels/{channel.id}/inbound"
    for n, (name, text) in enumerate(
        [
            ("佐藤 美咲", "明日カットの予約できますか"),
            ("田中 一郎", "らいしゅうのよていを教えて"),
            ("Kenji", "I'd like a colour, please"),
        ]
    ):
        await client.post(
            url,
            json=inbound_body(text, contact=f"c-{n}", name=name, external_id=f"m-{n}"),
            headers=auth(token),
        )
    response = await client.get("/api/v1/conversations", params={"q": query}, headers=auth(token))
    assert response.status_code == 200
    assert [item["contact"]["display_name"] for item in response.json()["items"]] == expected


async def test_search_finds_renamed_display_name_and_forgets_the_old_one(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    inbound = await client.post(
        f"/api/v1/channels/{channel.id}/inbound",
        json=inbound_body(name="misaki_0301"),
        headers=auth(token),
    )
    conversation = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"][
        0
    ]
    assert inbound.status_code == 201
    renamed = await client.patch(
        f"/api/v1/contacts/{conversation['contact_id']}",
        json={"display_name": "【鈴木】佐藤美咲"},
        headers=auth(token),
    )
    assert renamed.status_code == 200
    assert renamed.json()["display_name"] == "【鈴木】佐藤美咲"
    assert renamed.json()["channel_name"] == "misaki_0301"

    async def found(q: str) -> int:
        r = await client.get("/api/v1/conversations", params={"q": q}, headers=auth(token))
        return len(r.json()["items"])

    assert await found("鈴木") == 1
    assert await found("misaki") == 1  # the channel name still finds them
    await client.patch(
        f"/api/v1/contacts/{conversation['contact_id']}",
        json={"display_name": "佐藤美咲"},
        headers=auth(token),
    )
    assert await found("鈴木") == 0


async def test_search_over_many_matches_still_pages_newest_first(
    client: httpx.AsyncClient, token: str, channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Past the set limit the list is walked instead of sorted; both must give the same answer.
    from madoguchi.search import planner

    url = f"/api/v1/channels/{channel.id}/inbound"
    for n in range(6):
        text = "パーマの相談です" if n % 2 == 0 else "カラーの相談です"
        await client.post(
            url,
            json=inbound_body(text, contact=f"c-{n}", name=f"客{n}", external_id=f"m-{n}"),
            headers=auth(token),
        )

    async def names() -> list[str]:
        r = await client.get("/api/v1/conversations", params={"q": "パーマ"}, headers=auth(token))
        return [item["contact"]["display_name"] for item in r.json()["items"]]

    by_set = await names()
    monkeypatch.setattr(planner, "SEARCH_SET_LIMIT", 1)
    by_walk = await names()
    # Taken as common on the database's estimate alone (PostgreSQL), without counting.
    monkeypatch.setattr(planner, "ESTIMATE_MARGIN", 0)
    by_estimate = await names()
    assert by_set == by_walk == by_estimate == ["客4", "客2", "客0"]


async def test_channel_filter(
    client: httpx.AsyncClient, token: str, channel: Channel, factory: Factory
) -> None:
    other = await factory.channel(name="もう一つのAPI")
    for n, ch in enumerate([channel, other, channel]):
        await client.post(
            f"/api/v1/channels/{ch.id}/inbound",
            json=inbound_body(contact=f"c-{n}", name=f"客{n}", external_id=f"m-{n}"),
            headers=auth(token),
        )
    response = await client.get(
        "/api/v1/conversations", params={"channel": other.id}, headers=auth(token)
    )
    assert [i["contact"]["display_name"] for i in response.json()["items"]] == ["客1"]


async def test_contact_rename_errors(
    client: httpx.AsyncClient, token: str, channel: Channel
) -> None:
    await client.post(
        f"/api/v1/channels/{channel.id}/inbound",
        json=inbound_body(name="misaki"),
        headers=auth(token),
    )
    contact_id = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"][
        0
    ]["contact_id"]
    too_long = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"display_name": "名" * 256}, headers=auth(token)
    )
    assert too_long.status_code == 422
    unknown_field = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"nickname": "x"}, headers=auth(token)
    )
    assert unknown_field.status_code == 422
    missing = await client.patch(
        "/api/v1/contacts/999", json={"display_name": "x"}, headers=auth(token)
    )
    assert missing.status_code == 404
    blank = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"display_name": "  "}, headers=auth(token)
    )
    assert blank.json()["display_name"] == "misaki"
    got = await client.get(f"/api/v1/contacts/{contact_id}", headers=auth(token))
    assert got.json()["display_name"] == "misaki"
