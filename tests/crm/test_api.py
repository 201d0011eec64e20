"""The CRM beside the chat, through the API: statuses, marks, tags, fields, memos, records."""

from __future__ import annotations

import httpx
import pytest

from madoguchi.members.models import Member
from tests.fixtures import Factory, auth


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner")


@pytest.fixture
async def token(factory: Factory, owner: Member) -> str:
    return await factory.token(owner)


@pytest.fixture
async def agent_token(factory: Factory) -> str:
    return await factory.token(await factory.member(role="agent"))


@pytest.fixture
async def contact_id(factory: Factory) -> int:
    channel = await factory.channel()
    return (await factory.inbound(channel, name="山田 花子")).conversation.contact_id


async def test_default_statuses_and_editing_the_list(client: httpx.AsyncClient, token: str) -> None:
    listing = (await client.get("/api/v1/statuses", headers=auth(token))).json()["items"]
    assert [s["name"] for s in listing] == ["未対応", "対応中", "連絡待ち", "完了"]

    created = await client.post(
        "/api/v1/statuses", json={"name": "返信待ち", "color": "#AA00FF"}, headers=auth(token)
    )
    assert created.status_code == 201
    new = created.json()
    assert new["color"] == "#aa00ff" and new["position"] == 4
    dup = await client.post("/api/v1/statuses", json={"name": "返信待ち"}, headers=auth(token))
    assert dup.status_code == 409
    bad_color = await client.post(
        "/api/v1/statuses", json={"name": "x", "color": "red"}, headers=auth(token)
    )
    assert bad_color.status_code == 422

    renamed = await client.patch(
        f"/api/v1/statuses/{new['id']}", json={"name": "お返事待ち"}, headers=auth(token)
    )
    assert renamed.json()["name"] == "お返事待ち"
    ids = [s["id"] for s in listing]
    order = await client.put(
        "/api/v1/statuses/order", json={"ids": [new["id"], *reversed(ids)]}, headers=auth(token)
    )
    assert [s["name"] for s in order.json()["items"]] == [
        "お返事待ち",
        "完了",
        "連絡待ち",
        "対応中",
        "未対応",
    ]
    partial = await client.put("/api/v1/statuses/order", json={"ids": ids}, headers=auth(token))
    assert partial.status_code == 422


async def test_deleting_a_status_leaves_its_contacts_with_none(
    client: httpx.AsyncClient, token: str, contact_id: int
) -> None:
    statuses = (await client.get("/api/v1/statuses", headers=auth(token))).json()["items"]
    doing = statuses[1]
    patched = await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"status": doing["id"]}, headers=auth(token)
    )
    assert patched.json()["status"]["name"] == "対応中"
    assert (
        await client.delete(f"/api/v1/statuses/{doing['id']}", headers=auth(token))
    ).status_code == 204
    contact = (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth(token))).json()
    assert contact["status"] is None


async def test_agents_cannot_edit_the_workspace_lists(
    client: httpx.AsyncClient, agent_token: str
) -> None:
    for method, url, body in [
        ("POST", "/api/v1/statuses", {"name": "x"}),
        ("POST", "/api/v1/fields", {"key": "x", "label": "x", "type": "text"}),
        ("POST", "/api/v1/record-books", {"name": "x"}),
        ("PATCH", "/api/v1/marks/3", {"name": "x"}),
    ]:
        response = await client.request(method, url, json=body, headers=auth(agent_token))
        assert response.status_code == 403, url


async def test_marks_on_contacts_and_messages_and_filtering(
    client: httpx.AsyncClient, token: str, factory: Factory
) -> None:
    marks = (await client.get("/api/v1/marks", headers=auth(token))).json()["items"]
    assert [m["name"] for m in marks] == [
        "未確認",
        "確認済み",
        "質問(低)",
        "質問(中)",
        "アカウントトラブル",
        "問い合わせ",
        "要アプローチ",
        "クレーム",
    ]
    assert not marks[0]["renamable"] and marks[2]["renamable"]
    refused = await client.patch(
        f"/api/v1/marks/{marks[0]['id']}", json={"name": "見た"}, headers=auth(token)
    )
    assert refused.status_code == 422
    renamed = await client.patch(
        f"/api/v1/marks/{marks[6]['id']}", json={"name": "返信待ち"}, headers=auth(token)
    )
    assert renamed.json()["name"] == "返信待ち"

    channel = await factory.channel()
    by_contact = await factory.inbound(channel, contact="a", name="客A")
    by_message = await factory.inbound(channel, contact="b", name="客B")
    await factory.inbound(channel, contact="c", name="客C")
    await client.patch(
        f"/api/v1/contacts/{by_contact.conversation.contact_id}",
        json={"mark": "クレーム"},
        headers=auth(token),
    )
    set_message = await client.put(
        f"/api/v1/messages/{by_message.message.id}/mark",
        json={"mark": marks[7]["id"]},
        headers=auth(token),
    )
    assert set_message.status_code == 204
    messages = (
        await client.get(
            f"/api/v1/conversations/{by_message.conversation.id}/messages", headers=auth(token)
        )
    ).json()["items"]
    assert messages[0]["mark_id"] == marks[7]["id"]

    found = await client.get(
        "/api/v1/conversations", params={"mark": "クレーム"}, headers=auth(token)
    )
    assert sorted(i["contact"]["display_name"] for i in found.json()["items"]) == ["客A", "客B"]
    unknown = await client.put(
        f"/api/v1/messages/{by_message.message.id}/mark", json={"mark": "ない"}, headers=auth(token)
    )
    assert unknown.status_code == 404


async def test_tags_in_folders_on_contacts_and_any_all_filters(
    client: httpx.AsyncClient, token: str, factory: Factory
) -> None:
    folder = (
        await client.post("/api/v1/tag-folders", json={"name": "診断"}, headers=auth(token))
    ).json()
    inner = await client.post(
        "/api/v1/tag-folders", json={"name": "髪質", "parent_id": folder["id"]}, headers=auth(token)
    )
    assert inner.status_code == 201
    too_deep = await client.post(
        "/api/v1/tag-folders",
        json={"name": "深い", "parent_id": inner.json()["id"]},
        headers=auth(token),
    )
    assert too_deep.status_code == 422

    def tag(name: str, folder: object) -> dict[str, object]:
        return {"name": name, "folder": folder}

    vip = (
        await client.post("/api/v1/tags", json=tag("VIP", "顧客ランク"), headers=auth(token))
    ).json()
    curly = (
        await client.post(
            "/api/v1/tags", json=tag("くせ毛", inner.json()["id"]), headers=auth(token)
        )
    ).json()
    folders = (await client.get("/api/v1/tag-folders", headers=auth(token))).json()["items"]
    assert {f["name"] for f in folders} == {"診断", "髪質", "顧客ランク"}
    assert curly["folder_id"] == inner.json()["id"]
    dup = await client.post("/api/v1/tags", json=tag("VIP", "顧客ランク"), headers=auth(token))
    assert dup.status_code == 409

    channel = await factory.channel()
    ids = {}
    for name in ("両方", "VIPだけ", "なし"):
        ids[name] = (
            await factory.inbound(channel, contact=name, name=name)
        ).conversation.contact_id
    for name, tag_ids in (("両方", [vip["id"], curly["id"]]), ("VIPだけ", [vip["id"]])):
        for tag_id in tag_ids:
            put = await client.put(
                f"/api/v1/contacts/{ids[name]}/tags/{tag_id}", headers=auth(token)
            )
            assert put.status_code == 204
    again = await client.put(
        f"/api/v1/contacts/{ids['両方']}/tags/{vip['id']}", headers=auth(token)
    )
    assert again.status_code == 204

    async def names(**params: object) -> list[str]:
        r = await client.get("/api/v1/conversations", params=params, headers=auth(token))
        assert r.status_code == 200, r.text
        return sorted(i["contact"]["display_name"] for i in r.json()["items"])

    assert await names(tag=[vip["id"], curly["id"]]) == ["VIPだけ", "両方"]
    assert await names(tag=[vip["id"], curly["id"]], tag_mode="all") == ["両方"]
    assert await names(tag="くせ毛") == ["両方"]
    item = (
        await client.get("/api/v1/conversations", params={"tag": curly["id"]}, headers=auth(token))
    ).json()["items"][0]
    assert [t["name"] for t in item["contact"]["tags"]] == ["VIP", "くせ毛"]

    removed = await client.delete(
        f"/api/v1/contacts/{ids['両方']}/tags/{curly['id']}", headers=auth(token)
    )
    assert removed.status_code == 204
    assert await names(tag="くせ毛") == []
    replaced = await client.put(
        f"/api/v1/contacts/{ids['なし']}/tags", json={"ids": [curly["id"]]}, headers=auth(token)
    )
    assert [t["name"] for t in replaced.json()["items"]] == ["くせ毛"]
    assert (
        await client.put(f"/api/v1/contacts/{ids['なし']}/tags/999", headers=auth(token))
    ).status_code == 404
    assert (
        await client.get("/api/v1/conversations", params={"tag": "ない"}, headers=auth(token))
    ).status_code == 404


async def test_profile_fields_are_typed(
    client: httpx.AsyncClient, token: str, contact_id: int
) -> None:
    definitions = [
        {"key": "points", "label": "来店ポイント", "type": "number", "folder": "来店情報"},
        {"key": "birthday", "label": "生年月日", "type": "date", "folder": "基本情報"},
        {"key": "course", "label": "コース", "type": "select", "options": ["カット", "カラー"]},
        {
            "key": "menu",
            "label": "希望メニュー",
            "type": "multi_select",
            "options": ["ヘッドスパ", "トリートメント"],
        },
        {"key": "tel", "label": "電話", "type": "phone"},
        {"key": "mail", "label": "メール", "type": "email"},
        {"key": "site", "label": "SNS", "type": "url", "show_in_chat": False},
        {"key": "note", "label": "備考", "type": "long_text"},
    ]
    for definition in definitions:
        response = await client.post("/api/v1/fields", json=definition, headers=auth(token))
        assert response.status_code == 201, response.text
    fields = (await client.get("/api/v1/fields", headers=auth(token))).json()["items"]
    assert [f["key"] for f in fields] == [d["key"] for d in definitions]
    assert fields[6]["show_in_chat"] is False
    assert (
        await client.post("/api/v1/fields", json=definitions[0], headers=auth(token))
    ).status_code == 409
    bad_key = await client.post(
        "/api/v1/fields", json={"key": "来店", "label": "x", "type": "text"}, headers=auth(token)
    )
    assert bad_key.status_code == 422
    no_options = await client.post(
        "/api/v1/fields", json={"key": "size", "label": "x", "type": "select"}, headers=auth(token)
    )
    assert no_options.status_code == 422

    good = {
        "points": ("１，２００", 1200),
        "birthday": ("1990/4/1", "1990-04-01"),
        "course": ("カラー", "カラー"),
        "menu": (["トリートメント", "ヘッドスパ"], ["トリートメント", "ヘッドスパ"]),
        "tel": ("090-1234-5678", "090-1234-5678"),
        "mail": ("Hanako@Example.com", "hanako@example.com"),
        "site": ("https://instagram.com/hanako", "https://instagram.com/hanako"),
        "note": ("アレルギーあり", "アレルギーあり"),
    }
    for key, (given, stored) in good.items():
        response = await client.put(
            f"/api/v1/contacts/{contact_id}/fields/{key}",
            json={"value": given},
            headers=auth(token),
        )
        assert response.status_code == 200, (key, response.text)
        assert response.json() == {"key": key, "value": stored}
    bad = {
        "points": "たくさん",
        "birthday": "2026-02-30",
        "course": "パーマ",
        "menu": ["パーマ"],
        "tel": "電話して",
        "mail": "hanako",
        "site": "instagram",
        "note": "あ" * 5001,
    }
    for key, given in bad.items():
        response = await client.put(
            f"/api/v1/contacts/{contact_id}/fields/{key}",
            json={"value": given},
            headers=auth(token),
        )
        assert response.status_code == 422, key
        assert isinstance(response.json()["detail"], str)
    assert (
        await client.put(
            f"/api/v1/contacts/{contact_id}/fields/points",
            json={"value": True},
            headers=auth(token),
        )
    ).status_code == 422
    values = (await client.get(f"/api/v1/contacts/{contact_id}/fields", headers=auth(token))).json()
    assert values == {key: stored for key, (_, stored) in good.items()}

    cleared = await client.put(
        f"/api/v1/contacts/{contact_id}/fields/points", json={"value": ""}, headers=auth(token)
    )
    assert cleared.json()["value"] is None
    contact = (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth(token))).json()
    assert "points" not in contact["fields"]
    unknown = await client.put(
        f"/api/v1/contacts/{contact_id}/fields/nope", json={"value": 1}, headers=auth(token)
    )
    assert unknown.status_code == 404

    in_use = await client.patch(
        f"/api/v1/fields/{fields[2]['id']}", json={"options": ["カット"]}, headers=auth(token)
    )
    assert in_use.status_code == 422
    hidden = await client.patch(
        f"/api/v1/fields/{fields[0]['id']}",
        json={"show_in_chat": False, "label": "ポイント"},
        headers=auth(token),
    )
    assert hidden.json()["show_in_chat"] is False and hidden.json()["label"] == "ポイント"


async def test_filter_by_field_values(
    client: httpx.AsyncClient, token: str, factory: Factory
) -> None:
    for definition in (
        {"key": "points", "label": "ポイント", "type": "number"},
        {"key": "birthday", "label": "誕生日", "type": "date"},
        {"key": "staff", "label": "担当", "type": "text"},
    ):
        await client.post("/api/v1/fields", json=definition, headers=auth(token))
    channel = await factory.channel()
    people = {
        "A": {"points": 100, "birthday": "1990-01-01", "staff": "美咲"},
        "B": {"points": 500, "birthday": "2001-06-30", "staff": "健太"},
        "C": {},
    }
    for name, values in people.items():
        contact_id = (
            await factory.inbound(channel, contact=name, name=name)
        ).conversation.contact_id
        for key, value in values.items():
            await client.put(
                f"/api/v1/contacts/{contact_id}/fields/{key}",
                json={"value": value},
                headers=auth(token),
            )

    async def names(*conditions: dict[str, object]) -> list[str]:
        import json

        r = await client.get(
            "/api/v1/conversations",
            params={"filter": json.dumps(list(conditions))},
            headers=auth(token),
        )
        assert r.status_code == 200, r.text
        return sorted(i["contact"]["display_name"] for i in r.json()["items"])

    assert await names({"field": "field.points", "op": "gt", "value": 200}) == ["B"]
    assert await names({"field": "field.points", "op": "lte", "value": "100"}) == ["A"]
    assert await names({"field": "field.points", "op": "empty"}) == ["C"]
    assert await names({"field": "field.birthday", "op": "before", "value": "2000-01-01"}) == ["A"]
    assert await names({"field": "field.birthday", "op": "after", "value": "2000-01-01"}) == ["B"]
    assert await names({"field": "field.staff", "op": "contains", "value": "美"}) == ["A"]
    assert await names({"field": "field.staff", "op": "ne", "value": "美咲"}) == ["B", "C"]
    assert await names(
        {"field": "field.points", "op": "not_empty"},
        {"field": "field.staff", "op": "eq", "value": "健太"},
    ) == ["B"]

    for bad in (
        {"field": "field.points", "op": "contains", "value": 1},
        {"field": "field.points", "op": "gt", "value": "many"},
        {"field": "field.nope", "op": "eq", "value": 1},
        {"field": "colour", "op": "eq", "value": 1},
        {"field": "field.points", "op": "gt", "value": 1, "extra": True},
    ):
        import json

        response = await client.get(
            "/api/v1/conversations", params={"filter": json.dumps([bad])}, headers=auth(token)
        )
        assert response.status_code in (404, 422), bad
        assert isinstance(response.json()["detail"], str)
    not_json = await client.get(
        "/api/v1/conversations", params={"filter": "[{"}, headers=auth(token)
    )
    assert not_json.status_code == 422


async def test_memos_create_edit_reorder_delete(
    client: httpx.AsyncClient, token: str, contact_id: int
) -> None:
    url = f"/api/v1/contacts/{contact_id}/memos"
    first = (
        await client.post(
            url, json={"title": "アレルギー", "body": "ジアミンで赤み"}, headers=auth(token)
        )
    ).json()
    second = (
        await client.post(url, json={"title": "好み", "body": "短めが好き"}, headers=auth(token))
    ).json()
    listing = (await client.get(url, headers=auth(token))).json()["items"]
    assert [m["title"] for m in listing] == ["好み", "アレルギー"]  # newest on top

    reordered = await client.put(
        f"{url}/order", json={"ids": [first["id"], second["id"]]}, headers=auth(token)
    )
    assert [m["title"] for m in reordered.json()["items"]] == ["アレルギー", "好み"]
    assert (
        await client.put(f"{url}/order", json={"ids": [first["id"]]}, headers=auth(token))
    ).status_code == 422

    edited = await client.patch(
        f"{url}/{second['id']}", json={"body": "前髪は眉上"}, headers=auth(token)
    )
    assert edited.json()["body"] == "前髪は眉上" and edited.json()["title"] == "好み"
    too_long = await client.post(url, json={"title": "x", "body": "あ" * 5001}, headers=auth(token))
    assert too_long.status_code == 422
    empty = await client.post(url, json={"title": " ", "body": ""}, headers=auth(token))
    assert empty.status_code == 422
    assert (await client.delete(f"{url}/{first['id']}", headers=auth(token))).status_code == 204
    assert [m["id"] for m in (await client.get(url, headers=auth(token))).json()["items"]] == [
        second["id"]
    ]
    assert (
        await client.patch(f"{url}/{first['id']}", json={"body": "x"}, headers=auth(token))
    ).status_code == 404


async def test_record_books_and_dated_records_newest_first(
    client: httpx.AsyncClient, token: str, contact_id: int
) -> None:
    book = await client.post(
        "/api/v1/record-books",
        json={
            "name": "施術履歴",
            "fields": [
                {
                    "key": "menu",
                    "label": "メニュー",
                    "type": "select",
                    "options": ["カット", "カラー"],
                },
                {"key": "price", "label": "金額", "type": "number"},
                {"key": "memo", "label": "内容", "type": "long_text"},
            ],
        },
        headers=auth(token),
    )
    assert book.status_code == 201, book.text
    url = f"/api/v1/contacts/{contact_id}/records"
    older = await client.post(
        url,
        json={
            "book": "施術履歴",
            "at": "2026-10-01T14:00:00+09:00",
            "values": {"menu": "カット", "price": 5500},
        },
        headers=auth(token),
    )
    assert older.status_code == 201, older.text
    newer = await client.post(
        url,
        json={
            "book": book.json()["id"],
            "at": "2026-11-20T11:00:00",
            "values": {"menu": "カラー", "memo": "アッシュ系"},
        },
        headers=auth(token),
    )
    assert newer.json()["at"] == "2026-11-20T02:00:00Z"  # no zone: Japan time
    listing = (await client.get(url, headers=auth(token))).json()["items"]
    assert [r["values"].get("menu") for r in listing] == ["カラー", "カット"]
    opened = await client.get(f"/api/v1/records/{older.json()['id']}", headers=auth(token))
    assert opened.json()["values"] == {"menu": "カット", "price": 5500}

    wrong = await client.post(
        url,
        json={"book": "施術履歴", "at": "2026-11-01T10:00:00", "values": {"price": "高い"}},
        headers=auth(token),
    )
    assert wrong.status_code == 422
    unknown_key = await client.post(
        url,
        json={"book": "施術履歴", "at": "2026-11-01T10:00:00", "values": {"colour": "x"}},
        headers=auth(token),
    )
    assert unknown_key.status_code == 422
    no_book = await client.post(
        url, json={"book": "カルテ", "at": "2026-11-01T10:00:00"}, headers=auth(token)
    )
    assert no_book.status_code == 404
    bad_date = await client.post(url, json={"book": "施術履歴", "at": "昨日"}, headers=auth(token))
    assert bad_date.status_code == 422

    updated = await client.patch(
        f"/api/v1/records/{older.json()['id']}",
        json={"values": {"menu": "カラー"}},
        headers=auth(token),
    )
    assert updated.json()["values"] == {"menu": "カラー"}
    assert (
        await client.delete(f"/api/v1/records/{older.json()['id']}", headers=auth(token))
    ).status_code == 204
    assert len((await client.get(url, headers=auth(token))).json()["items"]) == 1


async def test_contact_page_fields_hide_block_and_delete(
    client: httpx.AsyncClient, token: str, factory: Factory
) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="u", name="鈴木")
    contact_id = ingested.conversation.contact_id
    patched = await client.patch(
        f"/api/v1/contacts/{contact_id}",
        json={"email": "Suzuki@Example.jp", "mail_opt_in": True, "phone": "０９０-1111-2222"},
        headers=auth(token),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["email"], body["mail_opt_in"], body["phone"]) == (
        "suzuki@example.jp",
        True,
        "090-1111-2222",
    )
    assert body["channel"]["kind"] == "api" and body["conversation_ids"] == [
        ingested.conversation.id
    ]
    bad = await client.patch(
        f"/api/v1/contacts/{contact_id}",
        json={"email": "no", "display_name": "変更されない"},
        headers=auth(token),
    )
    assert bad.status_code == 422
    assert (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth(token))).json()[
        "display_name"
    ] == "鈴木"

    async def inbox(view: str = "all") -> list[int]:
        r = await client.get("/api/v1/conversations", params={"view": view}, headers=auth(token))
        return [i["contact_id"] for i in r.json()["items"]]

    await client.patch(f"/api/v1/contacts/{contact_id}", json={"hidden": True}, headers=auth(token))
    assert await inbox() == [] and await inbox("hidden") == [contact_id]
    await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"hidden": False}, headers=auth(token)
    )
    assert await inbox() == [contact_id] and await inbox("hidden") == []

    other = await factory.inbound(channel, contact="other", name="他")
    await client.patch(
        f"/api/v1/contacts/{contact_id}", json={"blocked": True}, headers=auth(token)
    )
    await factory.inbound(channel, contact="u", name="鈴木", text="ブロック中のメッセージ")
    # Stored, but it did not raise the conversation above the newer one.
    assert await inbox() == [other.conversation.contact_id, contact_id]
    messages = (
        await client.get(
            f"/api/v1/conversations/{ingested.conversation.id}/messages", headers=auth(token)
        )
    ).json()["items"]
    assert messages[-1]["text"] == "ブロック中のメッセージ"

    await client.post(
        f"/api/v1/contacts/{contact_id}/memos",
        json={"title": "t", "body": "b"},
        headers=auth(token),
    )
    deleted = await client.delete(f"/api/v1/contacts/{contact_id}", headers=auth(token))
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/v1/contacts/{contact_id}", headers=auth(token))
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/conversations/{ingested.conversation.id}", headers=auth(token))
    ).status_code == 404
    assert await inbox() == [other.conversation.contact_id]
    search = await client.get(
        "/api/v1/conversations", params={"q": "ブロック中"}, headers=auth(token)
    )
    assert search.json()["items"] == []


async def test_contacts_list_and_manual_contact(client: httpx.AsyncClient, token: str) -> None:
    created = await client.post(
        "/api/v1/contacts",
        json={"display_name": "ヤマダ ハナコ", "email": "hanako@example.jp"},
        headers=auth(token),
    )
    assert created.status_code == 201
    assert created.json()["channel"] is None and created.json()["conversation_ids"] == []
    listing = await client.get("/api/v1/contacts", params={"q": "やまだ"}, headers=auth(token))
    assert [c["display_name"] for c in listing.json()["items"]] == ["ヤマダ ハナコ"]
    blank = await client.post("/api/v1/contacts", json={"display_name": " "}, headers=auth(token))
    assert blank.status_code == 422


async def test_tag_folders_keep_names_apart(
    client: httpx.AsyncClient, token: str, agent_token: str
) -> None:
    first = (
        await client.post("/api/v1/tag-folders", json={"name": "診断"}, headers=auth(token))
    ).json()
    other = (
        await client.post("/api/v1/tag-folders", json={"name": "来店"}, headers=auth(token))
    ).json()
    dup = await client.post("/api/v1/tag-folders", json={"name": "診断"}, headers=auth(token))
    assert dup.status_code == 409
    clash = await client.patch(
        f"/api/v1/tag-folders/{other['id']}", json={"name": "診断"}, headers=auth(token)
    )
    assert clash.status_code == 409

    await client.post(
        "/api/v1/tags", json={"name": "VIP", "folder": first["id"]}, headers=auth(token)
    )
    await client.post("/api/v1/tags", json={"name": "VIP"}, headers=auth(token))
    refused = await client.delete(f"/api/v1/tag-folders/{first['id']}", headers=auth(token))
    assert refused.status_code == 409 and "VIP" in refused.json()["detail"]
    tags = (await client.get("/api/v1/tags", headers=auth(token))).json()["items"]
    assert {(t["name"], t["folder_id"]) for t in tags} == {("VIP", first["id"]), ("VIP", None)}
    await client.post(
        "/api/v1/tags", json={"name": "新規", "folder": other["id"]}, headers=auth(token)
    )
    assert (
        await client.delete(f"/api/v1/tag-folders/{other['id']}", headers=auth(token))
    ).status_code == 204
    tags = (await client.get("/api/v1/tags", headers=auth(token))).json()["items"]
    assert ("新規", None) in [(t["name"], t["folder_id"]) for t in tags]


async def test_agents_make_tags_in_folders_that_exist_and_managers_do_the_rest(
    client: httpx.AsyncClient, token: str, agent_token: str, factory: Factory
) -> None:
    """One rule for tags, kept by the service whatever the door (docs/api.md)."""
    folder = (
        await client.post("/api/v1/tag-folders", json={"name": "髪質"}, headers=auth(token))
    ).json()
    agent = auth(agent_token)
    made = await client.post("/api/v1/tags", json={"name": "くせ毛"}, headers=agent)
    assert made.status_code == 201
    inside = await client.post(
        "/api/v1/tags", json={"name": "直毛", "folder": folder["id"]}, headers=agent
    )
    assert inside.status_code == 201 and inside.json()["folder_id"] == folder["id"]
    by_name = await client.post(
        "/api/v1/tags", json={"name": "細毛", "folder": "髪質"}, headers=agent
    )
    assert by_name.status_code == 201 and by_name.json()["folder_id"] == folder["id"]
    new_folder = await client.post(
        "/api/v1/tags", json={"name": "VIP", "folder": "ランク"}, headers=agent
    )
    assert new_folder.status_code == 403
    assert "フォルダ" in new_folder.json()["detail"] or "folder" in new_folder.json()["detail"]
    tag_id, folder_id = made.json()["id"], folder["id"]
    refused = [
        await client.patch(f"/api/v1/tags/{tag_id}", json={"name": "x"}, headers=agent),
        await client.delete(f"/api/v1/tags/{tag_id}", headers=agent),
        await client.post("/api/v1/tag-folders", json={"name": "x"}, headers=agent),
        await client.patch(f"/api/v1/tag-folders/{folder_id}", json={"name": "x"}, headers=agent),
        await client.delete(f"/api/v1/tag-folders/{folder_id}", headers=agent),
        await client.get("/settings/tags", headers=agent),
        await client.post("/settings/tags", data={"name": "x"}, headers=agent),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    names = {t["name"] for t in (await client.get("/api/v1/tags", headers=agent)).json()["items"]}
    assert names == {"くせ毛", "直毛", "細毛"}

    # Tagging a customer, and a new tag from their editor, are every member's.
    contact = (await factory.inbound(await factory.channel())).conversation.contact_id
    put = await client.put(f"/api/v1/contacts/{contact}/tags/{tag_id}", headers=agent)
    assert put.status_code == 204
    editor = await client.post(
        f"/ui/contacts/{contact}/tags/new", data={"name": "紹介"}, headers=agent
    )
    assert editor.status_code == 200 and "紹介" in editor.text

    admin = auth(await factory.token(await factory.member(role="admin")))
    renamed = await client.patch(
        f"/api/v1/tags/{tag_id}", json={"name": "強いくせ毛"}, headers=admin
    )
    assert renamed.status_code == 200
    assert (
        await client.delete(f"/api/v1/tag-folders/{folder_id}", headers=admin)
    ).status_code == 204


async def test_a_record_book_field_keeps_its_type(client: httpx.AsyncClient, token: str) -> None:
    book = await client.post(
        "/api/v1/record-books",
        json={"name": "施術履歴", "fields": [{"key": "price", "label": "金額", "type": "number"}]},
        headers=auth(token),
    )
    changed = await client.patch(
        f"/api/v1/record-books/{book.json()['id']}",
        json={"fields": [{"key": "price", "label": "金額", "type": "text"}]},
        headers=auth(token),
    )
    assert changed.status_code == 422
    relabelled = await client.patch(
        f"/api/v1/record-books/{book.json()['id']}",
        json={
            "fields": [
                {"key": "price", "label": "料金", "type": "number"},
                {"key": "memo", "label": "内容", "type": "long_text"},
            ]
        },
        headers=auth(token),
    )
    assert [f["label"] for f in relabelled.json()["fields"]] == ["料金", "内容"]
