"""The workspace settings (owners and admins): statuses, marks, tags, profile fields and record
books, changed through the pages as an owner does it and checked through the JSON API."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in
from tests.ui.settings_support import api_items as api
from tests.ui.settings_support import api_named as named


@pytest.fixture
async def owner(client: httpx.AsyncClient, factory: Factory) -> httpx.AsyncClient:
    await sign_in(client, await factory.member(role="owner", name="店長"))
    return client


# --- the hub and who may use it ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "texts"),
    [
        ("/settings", ["個人設定", "送信ショートカット", "ワークスペース", "対応ステータス"]),
        (
            "/settings/statuses",
            ["対応ステータス", "未対応", "対応中", "連絡待ち", "完了", "ステータスを追加"],
        ),
        (
            "/settings/marks",
            ["対応マーク", "未確認", "確認済み", "質問(低)", "クレーム", "名前は固定"],
        ),
        ("/settings/tags", ["タグ", "タグはまだありません", "フォルダを追加"]),
        ("/settings/fields", ["パーソナル情報", "項目を追加", "チャットに表示", "絞り込み条件"]),
        ("/settings/record-books", ["カルテ", "カルテはまだありません", "カルテを追加"]),
        (
            "/settings/import-export",
            ["インポート / エクスポート", "顧客を取り込む", "CSVをダウンロード"],
        ),
    ],
)
async def test_each_settings_page_renders_in_japanese(
    owner: httpx.AsyncClient, path: str, texts: list[str]
) -> None:
    response = await owner.get(path, headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert '<html lang="ja">' in page
    assert "settings.css" in page and "settings.js" in page
    for text in texts:
        assert text in page, text
    # The side menu marks where the member is.
    assert f'href="{path}" class="settings-nav-link" aria-current="page"' in page


async def test_an_admin_may_change_the_workspace_settings(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="admin"))
    response = await client.post(
        "/settings/statuses", data={"name": "予約確定", "color": "#16a34a"}
    )
    assert response.status_code == 303
    assert (await named(client, "statuses", "予約確定"))["color"] == "#16a34a"


@pytest.mark.parametrize(
    "path",
    [
        "/settings/statuses",
        "/settings/marks",
        "/settings/tags",
        "/settings/fields",
        "/settings/record-books",
        "/settings/import-export",
        "/settings/import-export/export",
    ],
)
async def test_agents_get_a_friendly_403(
    client: httpx.AsyncClient, factory: Factory, path: str
) -> None:
    await sign_in(client, await factory.member(role="agent"))
    response = await client.get(path, headers=HTML)
    assert response.status_code == 403
    assert "このページはオーナーと管理者専用です" in response.text
    assert "個人設定へ" in response.text


async def test_agents_see_only_their_personal_settings_and_change_nothing(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="agent"))
    page = (await client.get("/settings", headers=HTML)).text
    assert "送信ショートカット" in page
    assert "settings-nav" not in page and "/settings/statuses" not in page
    refused = await client.post("/settings/statuses", data={"name": "勝手に追加"}, headers=HTMX)
    assert refused.status_code == 403
    assert "オーナーと管理者だけ" in refused.text
    await client.post("/settings/marks/3/update", data={"name": "返信待ち", "color": "#000000"})
    assert [s["name"] for s in await api(client, "statuses")] == [
        "未対応",
        "対応中",
        "連絡待ち",
        "完了",
    ]
    assert "返信待ち" not in [m["name"] for m in await api(client, "marks")]


# --- 対応ステータス -------------------------------------------------------------------------------


async def test_statuses_are_added_renamed_recoloured_and_reordered(
    owner: httpx.AsyncClient,
) -> None:
    added = await owner.post(
        "/settings/statuses",
        data={"name": "予約確定", "color": "custom", "custom_color": "#123ABC"},
        headers=HTMX,
    )
    assert added.status_code == 200
    assert 'id="settings-panel"' in added.text and "<html" not in added.text
    assert "ステータス「予約確定」を追加しました。" in added.text
    status = await named(owner, "statuses", "予約確定")
    assert status["color"] == "#123abc"

    renamed = await owner.post(
        f"/settings/statuses/{status['id']}/update",
        data={"name": "予約済み", "color": "#db2777"},
        headers=HTMX,
    )
    assert renamed.status_code == 200 and "保存しました" in renamed.text
    assert (await named(owner, "statuses", "予約済み"))["color"] == "#db2777"

    # Up with the arrows (keyboards), then a drag's whole order.
    await owner.post(
        f"/settings/statuses/{status['id']}/move", data={"direction": "up"}, headers=HTMX
    )
    names = [s["name"] for s in await api(owner, "statuses")]
    assert names == ["未対応", "対応中", "連絡待ち", "予約済み", "完了"]
    ids = {s["name"]: s["id"] for s in await api(owner, "statuses")}
    order = ["完了", "未対応", "対応中", "連絡待ち", "予約済み"]
    dragged = await owner.post(
        "/settings/statuses/order", data={"ids": [str(ids[n]) for n in order]}, headers=HTMX
    )
    assert dragged.status_code == 200
    assert [s["name"] for s in await api(owner, "statuses")] == order


async def test_without_script_a_change_redirects_and_says_saved(owner: httpx.AsyncClient) -> None:
    response = await owner.post("/settings/statuses", data={"name": "保留", "color": "#64748b"})
    assert response.status_code == 303
    assert response.headers["location"] == "/settings/statuses?saved=1"
    page = await owner.get(response.headers["location"], headers=HTML)
    assert "保存しました" in page.text and "保留" in page.text


async def test_a_refused_status_is_shown_translated_where_it_was_typed(
    owner: httpx.AsyncClient,
) -> None:
    first = await named(owner, "statuses", "未対応")
    response = await owner.post(
        f"/settings/statuses/{first['id']}/update",
        data={"name": "完了", "color": "#2563eb"},
        headers=HTMX,
    )
    assert response.status_code == 409
    assert "「完了」という対応ステータスはすでにあります。" in response.text
    # The popover stays open with what was typed, and nothing was half-saved (not even the colour).
    assert f'id="error-status-{first["id"]}"' in response.text
    assert 'value="完了"' in response.text
    unchanged = await named(owner, "statuses", "未対応")
    assert unchanged["color"] == first["color"]

    bad_colour = await owner.post(
        "/settings/statuses", data={"name": "新しい", "color": "custom", "custom_color": "red"}
    )
    assert bad_colour.status_code == 422
    assert "<html" in bad_colour.text  # without script: the whole page, with the reason
    assert "色は #2563eb のように指定してください。" in bad_colour.text
    assert "新しい" not in [s["name"] for s in await api(owner, "statuses")]


async def test_deleting_a_status_says_its_contacts_are_left_with_none_and_does_so(
    owner: httpx.AsyncClient, factory: Factory
) -> None:
    ingested = await factory.inbound(await factory.channel(), contact="c-9", name="伊藤 さくら")
    contact_id = ingested.conversation.contact_id
    patched = await owner.patch(f"/api/v1/contacts/{contact_id}", json={"status": "連絡待ち"})
    assert patched.status_code == 200
    waiting = await named(owner, "statuses", "連絡待ち")

    page = (await owner.get("/settings/statuses", headers=HTML)).text
    assert "このステータスの顧客（1人）は「なし」になります。" in page

    response = await owner.post(
        f"/settings/statuses/{waiting['id']}/delete", data={"name": "連絡待ち"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "ステータス「連絡待ち」を削除しました。" in response.text
    assert "連絡待ち" not in [s["name"] for s in await api(owner, "statuses")]
    contact = (await owner.get(f"/api/v1/contacts/{contact_id}")).json()
    assert contact["status"] is None


async def test_deleting_what_is_gone_already_says_so_at_the_top(owner: httpx.AsyncClient) -> None:
    response = await owner.post("/settings/statuses/999/delete", data={"name": "?"}, headers=HTMX)
    assert response.status_code == 404
    assert 'id="error-page"' in response.text


# --- 対応マーク ---------------------------------------------------------------------------------


async def test_the_six_renamable_marks_are_renamed_and_all_recoloured(
    owner: httpx.AsyncClient,
) -> None:
    page = (await owner.get("/settings/marks", headers=HTML)).text
    assert page.count("名前は固定") == 2
    question = await named(owner, "marks", "質問(低)")
    renamed = await owner.post(
        f"/settings/marks/{question['id']}/update",
        data={"name": "返信待ち", "color": "#0891b2"},
        headers=HTMX,
    )
    assert renamed.status_code == 200
    assert (await named(owner, "marks", "返信待ち"))["id"] == question["id"]

    unread = await named(owner, "marks", "未確認")
    recoloured = await owner.post(
        f"/settings/marks/{unread['id']}/update", data={"color": "#db2777"}, headers=HTMX
    )
    assert recoloured.status_code == 200
    assert (await named(owner, "marks", "未確認"))["color"] == "#db2777"

    refused = await owner.post(
        f"/settings/marks/{unread['id']}/update",
        data={"name": "見てない", "color": "#db2777"},
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert "対応マーク「未確認」は名前を変更できません。" in refused.text
    assert "見てない" not in [m["name"] for m in await api(owner, "marks")]


# --- タグ -----------------------------------------------------------------------------------


async def test_tags_live_in_folders_one_level_deep(owner: httpx.AsyncClient) -> None:
    await owner.post("/settings/tag-folders", data={"name": "診断結果"}, headers=HTMX)
    top = await named(owner, "tag-folders", "診断結果")
    await owner.post(
        "/settings/tag-folders",
        data={"name": "肌タイプ", "parent_id": str(top["id"])},
        headers=HTMX,
    )
    inner = await named(owner, "tag-folders", "肌タイプ")
    assert inner["parent_id"] == top["id"]

    too_deep = await owner.post(
        "/settings/tag-folders",
        data={"name": "さらに中", "parent_id": str(inner["id"])},
        headers=HTMX,
    )
    assert too_deep.status_code == 422
    assert "フォルダは1階層までです。" in too_deep.text and 'id="error-new-folder"' in too_deep.text

    added = await owner.post(
        "/settings/tags", data={"name": "くせ毛", "folder_id": str(top["id"])}, headers=HTMX
    )
    assert "タグ「くせ毛」を追加しました。" in added.text
    tag = await named(owner, "tags", "くせ毛")
    assert tag["folder_id"] == top["id"]

    # Rename and move into the inner folder, then out of any folder.
    await owner.post(
        f"/settings/tags/{tag['id']}/update",
        data={"name": "くせ毛（強）", "folder_id": str(inner["id"])},
        headers=HTMX,
    )
    moved = await named(owner, "tags", "くせ毛（強）")
    assert moved["folder_id"] == inner["id"]
    await owner.post(
        f"/settings/tag-folders/{top['id']}/update", data={"name": "診断"}, headers=HTMX
    )
    assert (await named(owner, "tag-folders", "診断"))["id"] == top["id"]

    page = (await owner.get("/settings/tags", headers=HTML)).text
    assert "中のタグは削除されず、フォルダなしになります。" in page
    deleted = await owner.post(
        f"/settings/tag-folders/{top['id']}/delete", data={"name": "診断"}, headers=HTMX
    )
    assert "フォルダ「診断」を削除しました。中のタグはフォルダなしになりました。" in deleted.text
    assert await api(owner, "tag-folders") == []
    kept = await named(owner, "tags", "くせ毛（強）")
    assert kept["folder_id"] is None
    assert "フォルダなし" in deleted.text

    await owner.post(
        f"/settings/tags/{kept['id']}/delete", data={"name": "くせ毛（強）"}, headers=HTMX
    )
    assert await api(owner, "tags") == []


async def test_a_tag_name_used_twice_in_a_folder_is_refused_in_japanese(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post("/settings/tags", data={"name": "VIP"}, headers=HTMX)
    again = await owner.post("/settings/tags", data={"name": "VIP"}, headers=HTMX)
    assert again.status_code == 409
    assert 'id="error-new-tag"' in again.text
    assert "そのフォルダにはすでに「VIP」というタグがあります。" in again.text
    assert len(await api(owner, "tags")) == 1


# --- パーソナル情報 ------------------------------------------------------------------------------


async def test_a_field_moves_among_its_folders_fields_and_the_others_keep_their_places(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post("/settings/field-folders", data={"name": "来店情報"}, headers=HTMX)
    folder = await named(owner, "field-folders", "来店情報")
    for key, folder_id in [("points", folder["id"]), ("memo", ""), ("last_visit", folder["id"])]:
        created = await owner.post(
            "/settings/fields",
            data={"label": key, "key": key, "type": "text", "folder_id": str(folder_id)},
            headers=HTMX,
        )
        assert created.status_code == 200, created.text
    ids = {f["key"]: f["id"] for f in await api(owner, "fields")}

    # One step up inside 来店情報 passes over points, not over memo (outside any folder).
    moved = await owner.post(
        f"/settings/fields/{ids['last_visit']}/move", data={"direction": "up"}, headers=HTMX
    )
    assert moved.status_code == 200
    assert [f["key"] for f in await api(owner, "fields")] == ["last_visit", "memo", "points"]

    # A drag sends one folder's fields: they take the places that folder's fields held.
    await owner.post(
        "/settings/fields/order",
        data={"ids": [str(ids["points"]), str(ids["last_visit"])]},
        headers=HTMX,
    )
    assert [f["key"] for f in await api(owner, "fields")] == ["points", "memo", "last_visit"]

    # A field deleted meanwhile: said at the top of the page, the order as it was.
    await owner.post(f"/settings/fields/{ids['memo']}/delete", data={"name": "memo"}, headers=HTMX)
    gone = await owner.post(
        f"/settings/fields/{ids['memo']}/move", data={"direction": "up"}, headers=HTMX
    )
    assert gone.status_code == 404
    assert 'id="error-page"' in gone.text
    assert [f["key"] for f in await api(owner, "fields")] == ["points", "last_visit"]


async def test_profile_fields_are_defined_shown_in_chat_reordered_and_deleted(
    owner: httpx.AsyncClient,
) -> None:
    await owner.post("/settings/field-folders", data={"name": "来店情報"}, headers=HTMX)
    folder = await named(owner, "field-folders", "来店情報")

    bad_key = await owner.post(
        "/settings/fields",
        data={
            "label": "前回の施術",
            "key": "Last Menu",
            "type": "select",
            "options": "カット\nカラー",
        },
        headers=HTMX,
    )
    assert bad_key.status_code == 422
    assert 'id="error-new-field"' in bad_key.text
    assert (
        "項目のキーは英小文字で始まる a-z・0-9・_ で指定してください（例：birthday）。"
        in bad_key.text
    )
    assert "カット\nカラー</textarea>" in bad_key.text  # what was typed is kept
    assert await api(owner, "fields") == []

    for label, key, type_, options in [
        ("前回の施術", "last_menu", "select", "カット\nカラー\n"),
        ("来店ポイント", "points", "number", ""),
    ]:
        created = await owner.post(
            "/settings/fields",
            data={
                "label": label,
                "key": key,
                "type": type_,
                "options": options,
                "folder_id": str(folder["id"]),
                "show_in_chat": "1",
            },
            headers=HTMX,
        )
        assert created.status_code == 200, created.text
    menu = await named(owner, "fields", "last_menu", key="key")
    assert (menu["type"], menu["options"], menu["folder_id"]) == (
        "select",
        ["カット", "カラー"],
        folder["id"],
    )
    assert menu["show_in_chat"] is True

    # 表示設定: off, then edit the label, folder and choices.
    hidden = await owner.post(
        f"/settings/fields/{menu['id']}/chat", data={"show_in_chat": "0"}, headers=HTMX
    )
    assert 'aria-checked="false"' in hidden.text
    assert (await named(owner, "fields", "last_menu", key="key"))["show_in_chat"] is False
    await owner.post(
        f"/settings/fields/{menu['id']}/update",
        data={"label": "前回の施術内容", "folder_id": "", "options": "カット\nカラー\nパーマ"},
        headers=HTMX,
    )
    edited = await named(owner, "fields", "last_menu", key="key")
    assert edited["label"] == "前回の施術内容" and edited["folder_id"] is None
    assert edited["options"] == ["カット", "カラー", "パーマ"]

    # A choice a customer still has cannot go: said in Japanese, nothing changed.
    contact = await owner.post("/api/v1/contacts", json={"display_name": "山田 花子"})
    contact_id = contact.json()["id"]
    await owner.put(f"/api/v1/contacts/{contact_id}/fields/last_menu", json={"value": "パーマ"})
    refused = await owner.post(
        f"/settings/fields/{menu['id']}/update",
        data={"label": "前回の施術内容", "folder_id": "", "options": "カット\nカラー"},
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert f'id="error-field-{menu["id"]}"' in refused.text
    assert "削除しようとした選択肢は、まだお客様の値として使われています。" in refused.text
    assert (await named(owner, "fields", "last_menu", key="key"))["options"] == [
        "カット",
        "カラー",
        "パーマ",
    ]

    # Reorder inside the folder: points moves up in 来店情報 (last_menu left it).
    await owner.post(
        f"/settings/fields/{menu['id']}/update",
        data={
            "label": "前回の施術内容",
            "folder_id": str(folder["id"]),
            "options": "カット\nカラー\nパーマ",
        },
        headers=HTMX,
    )
    points = await named(owner, "fields", "points", key="key")
    await owner.post(
        f"/settings/fields/{points['id']}/move", data={"direction": "up"}, headers=HTMX
    )
    assert [f["key"] for f in await api(owner, "fields")] == ["points", "last_menu"]
    await owner.post(
        "/settings/fields/order", data={"ids": [str(menu["id"]), str(points["id"])]}, headers=HTMX
    )
    assert [f["key"] for f in await api(owner, "fields")] == ["last_menu", "points"]

    page = (await owner.get("/settings/fields", headers=HTML)).text
    assert "すべての顧客のこの項目の値（1件）も一緒に削除されます。元に戻せません。" in page
    deleted = await owner.post(
        f"/settings/fields/{menu['id']}/delete", data={"name": "前回の施術内容"}, headers=HTMX
    )
    assert "項目「前回の施術内容」とその値を削除しました。" in deleted.text
    assert [f["key"] for f in await api(owner, "fields")] == ["points"]
    assert (await owner.get(f"/api/v1/contacts/{contact_id}/fields")).json() == {}

    await owner.post(
        f"/settings/field-folders/{folder['id']}/delete", data={"name": "来店情報"}, headers=HTMX
    )
    assert (await named(owner, "fields", "points", key="key"))["folder_id"] is None


# --- カルテ -----------------------------------------------------------------------------------


async def test_record_books_and_their_fields(owner: httpx.AsyncClient) -> None:
    created = await owner.post("/settings/record-books", data={"name": "施術履歴"}, headers=HTMX)
    assert "カルテ「施術履歴」を追加しました。" in created.text
    book = await named(owner, "record-books", "施術履歴")
    path = f"/settings/record-books/{book['id']}"

    for label, key, type_, options in [
        ("メニュー", "menu", "multi_select", "カット\nカラー"),
        ("金額", "price", "number", ""),
    ]:
        added = await owner.post(
            f"{path}/fields",
            data={"label": label, "key": key, "type": type_, "options": options},
            headers=HTMX,
        )
        assert added.status_code == 200, added.text
    twice = await owner.post(
        f"{path}/fields", data={"label": "金額2", "key": "price", "type": "number"}, headers=HTMX
    )
    assert twice.status_code == 422
    assert f'id="error-book-{book["id"]}-new-field"' in twice.text
    assert "項目のキー price が重複しています。" in twice.text

    await owner.post(
        f"{path}/fields/menu/update",
        data={"label": "施術メニュー", "options": "カット\nカラー\nパーマ"},
        headers=HTMX,
    )
    await owner.post(f"{path}/fields/price/move", data={"direction": "up"}, headers=HTMX)
    book = await named(owner, "record-books", "施術履歴")
    assert [(f["key"], f["label"]) for f in book["fields"]] == [
        ("price", "金額"),
        ("menu", "施術メニュー"),
    ]
    assert book["fields"][1]["options"] == ["カット", "カラー", "パーマ"]

    await owner.post(f"{path}/fields/price/delete", data={"name": "金額"}, headers=HTMX)
    await owner.post(f"{path}/update", data={"name": "施術記録"}, headers=HTMX)
    book = await named(owner, "record-books", "施術記録")
    assert [f["key"] for f in book["fields"]] == ["menu"]

    page = (await owner.get("/settings/record-books", headers=HTML)).text
    assert "このカルテの記録（0件）もすべて削除されます。元に戻せません。" in page
    deleted = await owner.post(f"{path}/delete", data={"name": "施術記録"}, headers=HTMX)
    assert "カルテ「施術記録」を記録ごと削除しました。" in deleted.text
    assert await api(owner, "record-books") == []
