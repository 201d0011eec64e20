"""The customer panel beside the chat: status, mark, tags, profile fields, memos, records, and
marks on single messages — each set through the UI's routes, checked through the API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from madoguchi.crm import fields, marks, memos, records, statuses, tags
from madoguchi.crm.models import Mark, RecordBook, Status, Tag
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, Inbox, sign_in


@dataclass
class Salon:
    """An inbox with a salon's CRM set up: tags in folders, fields, a record book."""

    inbox: Inbox
    statuses: dict[str, Status]
    marks: dict[str, Mark]
    tags: dict[str, Tag]
    book: RecordBook

    @property
    def contact_id(self) -> int:
        return self.inbox.contact_id

    @property
    def conversation_id(self) -> int:
        return self.inbox.conversation_id


@pytest.fixture
async def salon(inbox: Inbox, factory: Factory) -> Salon:
    ctx = factory.ctx
    diagnosis = await tags.create_folder(ctx, actor=None, name="診断結果")
    color = await tags.create_folder(ctx, actor=None, name="カラー診断", parent_id=diagnosis.id)
    made = {
        "くせ毛": await tags.create_tag(ctx, actor=None, name="くせ毛", folder=diagnosis.id),
        "イエベ春": await tags.create_tag(ctx, actor=None, name="イエベ春", folder=color.id),
        "VIP": await tags.create_tag(ctx, actor=None, name="VIP"),
    }
    await fields.create_field(ctx, key="points", label="来店ポイント", type="number", folder="基本")
    await fields.create_field(ctx, key="birthday", label="生年月日", type="date", folder="基本")
    await fields.create_field(ctx, key="last_menu", label="前回の施術内容", type="text")
    await fields.create_field(
        ctx, key="hair", label="髪質", type="select", options=["普通", "硬め", "細め"]
    )
    await fields.create_field(
        ctx, key="likes", label="好きなメニュー", type="multi_select", options=["カット", "カラー"]
    )
    await fields.create_field(ctx, key="allergy", label="注意事項", type="long_text")
    await fields.create_field(ctx, key="mail", label="連絡用メール", type="email")
    await fields.create_field(
        ctx, key="private", label="社内メモ欄", type="text", show_in_chat=False
    )
    book = await records.create_book(
        ctx,
        name="施術履歴",
        fields=[
            {"key": "menu", "label": "メニュー", "type": "text"},
            {"key": "price", "label": "金額", "type": "number"},
        ],
    )
    salon = Salon(
        inbox=inbox,
        statuses={s.name: s for s in await statuses.list_statuses(ctx.db)},
        marks={m.name: m for m in await marks.list_marks(ctx.db)},
        tags=made,
        book=book,
    )
    await ctx.db.commit()  # the reads above must not keep the writer's lock from the app
    return salon


async def contact(client: httpx.AsyncClient, contact_id: int) -> dict[str, Any]:
    """The contact as the API tells it (what the UI stored)."""
    response = await client.get(f"/api/v1/contacts/{contact_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_the_chat_shows_the_customer_panel_with_every_part(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    page = (await client.get(f"/c/{salon.conversation_id}", headers=HTML)).text
    for part in ("profile", "tags", "fields", "memos", "records"):
        assert f'data-panel-part="{part}"' in page, part
    for text in (
        "対応ステータス",
        "対応マーク",
        "タグ編集",
        "パーソナル情報",
        "メモ作成",
        "カルテ",
    ):
        assert text in page, text
    assert "施術履歴" in page and "記録を追加" in page
    assert "お客様詳細ページ" in page and f'href="/contacts/{salon.contact_id}"' in page
    # Every status of the workspace, and 「なし」.
    options = re.findall(r'<option value="(\d*)"', page.split('id="contact-status"')[1])
    assert options[0] == ""
    assert [int(o) for o in options[1:5]] == [s.id for s in salon.statuses.values()]
    # The owner sees the links to the settings.
    assert 'href="/settings/statuses"' in page and "対応ステータスの編集" in page
    assert 'href="/settings/fields"' in page and "表示設定" in page
    # Fields shown beside the chat, in folder order; a field not in 表示設定 stays out.
    assert page.index("前回の施術内容") < page.index("来店ポイント") < page.index("生年月日")
    assert "社内メモ欄" not in page


async def test_an_agent_sees_no_links_to_the_owners_settings(
    client: httpx.AsyncClient, factory: Factory, salon: Salon
) -> None:
    await client.post("/logout")
    await sign_in(client, await factory.member(role="agent"))
    page = (await client.get(f"/c/{salon.conversation_id}", headers=HTML)).text
    assert "対応ステータス" in page
    assert "/settings/statuses" not in page and "/settings/fields" not in page


async def test_the_status_is_set_and_cleared_from_the_panel(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    url = f"/ui/contacts/{salon.contact_id}/profile"
    waiting = salon.statuses["連絡待ち"]
    response = await client.post(
        url, data={"status": str(waiting.id), "place": "chat"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "更新されました" in response.text
    assert f'<option value="{waiting.id}" selected>' in response.text
    assert f"tone-s{waiting.id}" in response.text
    assert "madoguchi:contact-updated" in response.headers["hx-trigger-after-settle"]
    assert (await contact(client, salon.contact_id))["status"]["name"] == "連絡待ち"

    # The row in the list shows it.
    row = await client.get(f"/ui/rows/{salon.conversation_id}", headers=HTMX)
    assert "連絡待ち" in row.text

    await client.post(url, data={"status": "", "place": "chat"}, headers=HTMX)
    assert (await contact(client, salon.contact_id))["status"] is None


async def test_the_contacts_mark_is_set_from_the_panel(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    claim = salon.marks["クレーム"]
    response = await client.post(
        f"/ui/contacts/{salon.contact_id}/profile",
        data={"mark": str(claim.id), "place": "chat"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert f'<option value="{claim.id}" selected>' in response.text
    assert (await contact(client, salon.contact_id))["mark"]["name"] == "クレーム"


async def test_the_tag_editor_groups_by_folder_and_saves_the_whole_set(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    editor = await client.get(f"/ui/contacts/{salon.contact_id}/tags/edit", headers=HTMX)
    assert editor.status_code == 200
    text = editor.text
    assert "診断結果" in text and "カラー診断" in text and "フォルダなし" in text
    assert 'class="tag-group tag-group--nested"' in text  # カラー診断 inside 診断結果
    assert "タグを検索" in text
    assert text.index("診断結果") < text.index("カラー診断") < text.index("フォルダなし")

    chosen = [salon.tags["くせ毛"].id, salon.tags["VIP"].id]
    saved = await client.post(
        f"/ui/contacts/{salon.contact_id}/tags",
        data={"tag": [str(i) for i in chosen], "place": "chat"},
        headers=HTMX,
    )
    assert saved.status_code == 200
    assert "更新されました" in saved.text
    assert '<li class="tag-chip">くせ毛</li>' in saved.text
    names = {t["name"] for t in (await contact(client, salon.contact_id))["tags"]}
    assert names == {"くせ毛", "VIP"}

    # Saving fewer takes the others off.
    await client.post(
        f"/ui/contacts/{salon.contact_id}/tags",
        data={"tag": [str(salon.tags["VIP"].id)], "place": "chat"},
        headers=HTMX,
    )
    names = {t["name"] for t in (await contact(client, salon.contact_id))["tags"]}
    assert names == {"VIP"}
    row = (await client.get(f"/ui/rows/{salon.conversation_id}", headers=HTMX)).text
    assert '<span class="row-tag">VIP</span>' in row


async def test_a_member_makes_a_new_tag_from_the_editor(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    kept = str(salon.tags["くせ毛"].id)
    response = await client.post(
        f"/ui/contacts/{salon.contact_id}/tags/new",
        data={"name": "駐車場利用", "tag": [kept], "place": "chat"},
        headers=HTMX,
    )
    assert response.status_code == 200
    made = {t["name"]: t for t in (await client.get("/api/v1/tags")).json()["items"]}
    assert made["駐車場利用"]["folder_id"] is None
    new_id = made["駐車場利用"]["id"]
    # Checked in the editor with what was checked before; not on the customer until saved.
    assert re.search(rf'value="{new_id}" id="[\w-]+" checked', response.text)
    assert re.search(rf'value="{kept}" id="[\w-]+" checked', response.text)
    assert (await contact(client, salon.contact_id))["tags"] == []

    again = await client.post(
        f"/ui/contacts/{salon.contact_id}/tags/new",
        data={"name": "駐車場利用", "place": "chat"},
        headers=HTMX,
    )
    assert again.status_code == 409
    assert again.text == "そのフォルダにはすでに「駐車場利用」というタグがあります。"


@pytest.mark.parametrize(
    ("key", "typed", "stored"),
    [
        ("points", "1,200", 1200),
        ("points", "３００", 300),
        ("birthday", "1990-04-01", "1990-04-01"),
        ("last_menu", "カット＋カラー", "カット＋カラー"),
        ("hair", "細め", "細め"),
        ("allergy", "ジアミン系NG\nパッチテスト推奨", "ジアミン系NG\nパッチテスト推奨"),
        ("mail", "Hanako@Example.com", "hanako@example.com"),
    ],
)
async def test_a_profile_field_is_edited_in_place(
    client: httpx.AsyncClient, salon: Salon, key: str, typed: str, stored: object
) -> None:
    response = await client.post(
        f"/ui/contacts/{salon.contact_id}/fields/{key}", data={"value": typed}, headers=HTMX
    )
    assert response.status_code == 200, response.text
    assert "保存しました" in response.text
    assert f'id="field-{key}-row"' in response.text
    assert (await contact(client, salon.contact_id))["fields"] == {key: stored}


async def test_a_multi_select_field_takes_its_check_boxes(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    url = f"/ui/contacts/{salon.contact_id}/fields/likes"
    response = await client.post(url, data={"value": ["カット", "カラー"]}, headers=HTMX)
    assert response.status_code == 200
    assert response.text.count("checked") == 2
    assert (await contact(client, salon.contact_id))["fields"] == {"likes": ["カット", "カラー"]}
    # No box checked: the value is cleared.
    await client.post(url, data={}, headers=HTMX)
    assert (await contact(client, salon.contact_id))["fields"] == {}


@pytest.mark.parametrize(
    ("key", "typed", "message"),
    [
        ("points", "たくさん", "来店ポイント には数値を入力してください（入力値：たくさん）。"),
        (
            "birthday",
            "4月1日",
            "生年月日 には 2026-04-01 のような日付を入力してください（入力値：4月1日）。",
        ),
        ("hair", "くせ毛", "「くせ毛」は 髪質 の選択肢にありません。"),
        (
            "mail",
            "hanako",
            "連絡用メール にはメールアドレスを入力してください（入力値：hanako）。",
        ),
    ],
)
async def test_a_value_of_the_wrong_type_is_refused_in_japanese_and_nothing_is_stored(
    client: httpx.AsyncClient, salon: Salon, key: str, typed: str, message: str
) -> None:
    response = await client.post(
        f"/ui/contacts/{salon.contact_id}/fields/{key}", data={"value": typed}, headers=HTMX
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == message
    assert (await contact(client, salon.contact_id))["fields"] == {}


async def test_an_empty_value_clears_a_field(client: httpx.AsyncClient, salon: Salon) -> None:
    url = f"/ui/contacts/{salon.contact_id}/fields/points"
    await client.post(url, data={"value": "500"}, headers=HTMX)
    response = await client.post(url, data={"value": " "}, headers=HTMX)
    assert response.status_code == 200
    assert 'value=""' in response.text
    assert (await contact(client, salon.contact_id))["fields"] == {}


async def test_memos_are_written_on_top_edited_moved_and_deleted(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    base = f"/ui/contacts/{salon.contact_id}/memos"
    form = await client.get(f"{base}/new?place=chat", headers=HTMX)
    assert "タイトル" in form.text and "0 / 5,000" in form.text

    first = await client.post(
        base,
        data={"title": "施術中の過ごし方", "body": "静かに過ごしたい派", "place": "chat"},
        headers=HTMX,
    )
    assert first.status_code == 200
    assert "更新されました" in first.text
    second = await client.post(
        base, data={"title": "アレルギー", "body": "ジアミン系NG", "place": "chat"}, headers=HTMX
    )
    # New memos go on top.
    assert second.text.index("アレルギー") < second.text.index("施術中の過ごし方")
    stored = (await client.get(f"/api/v1/contacts/{salon.contact_id}/memos")).json()["items"]
    assert [m["title"] for m in stored] == ["アレルギー", "施術中の過ごし方"]
    allergy, quiet = stored[0]["id"], stored[1]["id"]

    # The keyboard's way to reorder: one step down, then back up.
    moved = await client.post(
        f"{base}/{allergy}/move", data={"direction": "down", "place": "chat"}, headers=HTMX
    )
    assert moved.status_code == 200
    assert moved.text.index("施術中の過ごし方") < moved.text.index("アレルギー")
    titles = [
        m["title"]
        for m in (await client.get(f"/api/v1/contacts/{salon.contact_id}/memos")).json()["items"]
    ]
    assert titles == ["施術中の過ごし方", "アレルギー"]
    # Dragging sends the whole order.
    ordered = await client.post(
        f"{base}/order", data={"id": [str(allergy), str(quiet)], "place": "chat"}, headers=HTMX
    )
    assert ordered.status_code == 200
    assert ordered.text.index("アレルギー") < ordered.text.index("施術中の過ごし方")

    edit = await client.get(f"{base}/{quiet}/edit?place=chat", headers=HTMX)
    assert "静かに過ごしたい派" in edit.text
    updated = await client.post(
        f"{base}/{quiet}",
        data={
            "title": "施術中の過ごし方",
            "body": "静かに過ごしたい派。雑誌は美容系",
            "place": "chat",
        },
        headers=HTMX,
    )
    assert "雑誌は美容系" in updated.text and "更新されました" in updated.text

    deleted = await client.post(f"{base}/{allergy}/delete", data={"place": "chat"}, headers=HTMX)
    assert deleted.status_code == 200
    assert "アレルギー" not in deleted.text
    remaining = (await client.get(f"/api/v1/contacts/{salon.contact_id}/memos")).json()["items"]
    assert [m["id"] for m in remaining] == [quiet]


async def test_a_memo_over_five_thousand_characters_is_refused(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    response = await client.post(
        f"/ui/contacts/{salon.contact_id}/memos",
        data={"title": "長文", "body": "あ" * 5001, "place": "chat"},
        headers=HTMX,
    )
    assert response.status_code == 422
    assert response.text == "メモは5000文字以内で入力してください。"
    assert (await client.get(f"/api/v1/contacts/{salon.contact_id}/memos")).json()["items"] == []


async def test_a_record_is_added_with_its_date_and_listed_newest_first(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    book = salon.book
    base = f"/ui/contacts/{salon.contact_id}/records"
    form = await client.get(f"{base}/new?book={book.id}&place=chat", headers=HTMX)
    assert form.status_code == 200
    assert "施術履歴 に記録を追加" in form.text
    assert 'type="datetime-local"' in form.text
    assert 'name="v.menu"' in form.text and 'name="v.price"' in form.text

    older = await client.post(
        base,
        data={
            "book": str(book.id),
            "at": "2026-08-20T11:30",
            "v.menu": "カット",
            "v.price": "5500",
            "place": "chat",
        },
        headers=HTMX,
    )
    assert older.status_code == 200, older.text
    newer = await client.post(
        base,
        data={
            "book": str(book.id),
            "at": "2026-10-02T14:00",
            "v.menu": "カット+カラー",
            "v.price": "12,800",
            "place": "chat",
        },
        headers=HTMX,
    )
    assert "更新されました" in newer.text
    assert newer.text.index("2026/10/2 14:00") < newer.text.index("2026/8/20 11:30")
    assert "カット+カラー / 12800" in newer.text  # the one-line summary
    stored = (await client.get(f"/api/v1/contacts/{salon.contact_id}/records")).json()["items"]
    # Written in Japan time: 14:00 in Tokyo is 05:00 UTC.
    assert stored[0]["at"].startswith("2026-10-02T05:00")
    assert stored[0]["values"] == {"menu": "カット+カラー", "price": 12800}

    record_id = stored[0]["id"]
    edit = await client.get(f"{base}/{record_id}/edit?place=chat", headers=HTMX)
    assert 'value="2026-10-02T14:00"' in edit.text
    changed = await client.post(
        f"{base}/{record_id}",
        data={
            "at": "2026-10-02T15:00",
            "v.menu": "カット+カラー",
            "v.price": "13000",
            "place": "chat",
        },
        headers=HTMX,
    )
    assert "カット+カラー / 13000" in changed.text
    gone = await client.post(f"{base}/{record_id}/delete", data={"place": "chat"}, headers=HTMX)
    assert gone.status_code == 200
    assert (
        len((await client.get(f"/api/v1/contacts/{salon.contact_id}/records")).json()["items"]) == 1
    )


async def test_a_record_with_a_wrong_value_or_date_is_refused(
    client: httpx.AsyncClient, factory: Factory, salon: Salon
) -> None:
    book = salon.book
    base = f"/ui/contacts/{salon.contact_id}/records"
    bad_price = await client.post(
        base,
        data={"book": str(book.id), "at": "2026-10-02T14:00", "v.price": "高い"},
        headers=HTMX,
    )
    assert bad_price.status_code == 422
    assert bad_price.text == "金額 には数値を入力してください（入力値：高い）。"
    bad_date = await client.post(
        base, data={"book": str(book.id), "at": "きのう", "v.menu": "カット"}, headers=HTMX
    )
    assert bad_date.status_code == 422
    assert bad_date.text == "日時は 2026-04-01 14:30 のように入力してください。"
    assert (await client.get(f"/api/v1/contacts/{salon.contact_id}/records")).json()["items"] == []


async def test_a_record_of_another_customer_is_not_reachable_here(
    client: httpx.AsyncClient, factory: Factory, salon: Salon
) -> None:
    other = await factory.inbound(salon.inbox.channel, contact="c-9", name="田中 翔太")
    book = salon.book
    record = await records.create_record(
        factory.ctx,
        contact_id=other.conversation.contact_id,
        book=book.id,
        at=datetime(2026, 10, 1, 10, 0),
        values_={"menu": "カット"},
        author=None,
    )
    response = await client.post(
        f"/ui/contacts/{salon.contact_id}/records/{record.id}/delete", headers=HTMX
    )
    assert response.status_code == 404
    assert (
        len(await records.list_records(factory.ctx.db, contact_id=other.conversation.contact_id))
        == 1
    )


async def test_a_message_is_marked_and_unmarked_from_its_bubble(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    message_id = salon.inbox.first.message.id
    menu = await client.get(f"/ui/messages/{message_id}/marks", headers=HTMX)
    assert menu.status_code == 200
    for name in ("未確認", "確認済み", "質問(低)", "クレーム", "なし"):
        assert name in menu.text, name
    question = salon.marks["問い合わせ"]
    marked = await client.post(
        f"/ui/messages/{message_id}/mark", data={"mark": str(question.id)}, headers=HTMX
    )
    assert marked.status_code == 200
    assert f'id="m-{message_id}"' in marked.text
    assert "message--marked" in marked.text and "問い合わせ" in marked.text
    stored = (await client.get(f"/api/v1/conversations/{salon.conversation_id}/messages")).json()
    assert stored["items"][0]["mark_id"] == question.id
    # The page shows the label on the bubble too, and the list filters by it (F17).
    page = (await client.get(f"/c/{salon.conversation_id}", headers=HTML)).text
    assert f"tone-m{question.id}" in page
    listed = await client.get("/ui/list", params={"mark": str(question.id)}, headers=HTMX)
    assert f'id="row-{salon.conversation_id}"' in listed.text

    cleared = await client.post(f"/ui/messages/{message_id}/mark", data={"mark": ""}, headers=HTMX)
    assert "message--marked" not in cleared.text
    stored = (await client.get(f"/api/v1/conversations/{salon.conversation_id}/messages")).json()
    assert stored["items"][0]["mark_id"] is None
    missing = await client.post("/ui/messages/999999/mark", data={"mark": ""}, headers=HTMX)
    assert missing.status_code == 404


async def test_each_part_is_served_alone_for_live_updates(
    client: httpx.AsyncClient, factory: Factory, salon: Salon
) -> None:
    await memos.create_memo(
        factory.ctx,
        contact_id=salon.contact_id,
        title="来店時の会話",
        body="北海道旅行",
        author=None,
    )
    for part, text in (
        ("profile", "対応ステータス"),
        ("tags", "タグ編集"),
        ("fields", "来店ポイント"),
        ("memos", "北海道旅行"),
        ("records", "施術履歴"),
    ):
        response = await client.get(f"/ui/contacts/{salon.contact_id}/part/{part}", headers=HTMX)
        assert response.status_code == 200
        assert response.text.lstrip().startswith("<section"), part
        assert f'data-panel-part="{part}"' in response.text and text in response.text
    page_fields = await client.get(
        f"/ui/contacts/{salon.contact_id}/part/fields?place=page", headers=HTMX
    )
    assert "社内メモ欄" in page_fields.text  # the contact page shows every field
    assert (
        await client.get(f"/ui/contacts/{salon.contact_id}/part/nope", headers=HTMX)
    ).status_code == 404
    assert (await client.get("/ui/contacts/999999/part/tags", headers=HTMX)).status_code == 404


async def test_status_and_mark_colours_come_from_a_stylesheet_of_this_server(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    response = await client.get("/ui/palette.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    waiting = salon.statuses["連絡待ち"]
    assert f".tone-s{waiting.id}{{--tone:{waiting.color}}}" in response.text
    assert f".tone-m{salon.marks['クレーム'].id}{{" in response.text
    again = await client.get("/ui/palette.css", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304


async def test_a_change_from_another_site_is_refused(
    client: httpx.AsyncClient, salon: Salon
) -> None:
    response = await client.post(
        f"/ui/contacts/{salon.contact_id}/profile",
        data={"status": str(salon.statuses["完了"].id)},
        headers={**HTMX, "Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert (await contact(client, salon.contact_id))["status"] is None
