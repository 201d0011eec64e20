"""The contact page (お客様詳細ページ), adding a customer by hand, and the list's 絞り込み through
the UI's own URLs."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx

from madoguchi.contacts import service as contacts
from madoguchi.crm import fields, marks, memos, records, statuses, tags
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, Inbox


async def api_contact(client: httpx.AsyncClient, contact_id: int) -> httpx.Response:
    return await client.get(f"/api/v1/contacts/{contact_id}")


async def test_the_contact_page_shows_everything_kept_about_the_customer(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    await tags.add_tag(ctx, contact_id=inbox.contact_id, tag_id=vip.id)
    await fields.create_field(ctx, key="points", label="来店ポイント", type="number")
    await fields.create_field(ctx, key="note", label="社内向け", type="text", show_in_chat=False)
    await fields.set_value(ctx, contact_id=inbox.contact_id, key="points", value=1200)
    await memos.create_memo(
        ctx, contact_id=inbox.contact_id, title="好み", body="静かに過ごしたい", author=None
    )
    response = await client.get(f"/contacts/{inbox.contact_id}", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert "<title>佐藤 美咲 | お客様詳細ページ | Madoguchi</title>" in page
    for text in (
        "佐藤 美咲",
        "対応ステータス",
        "対応マーク",
        "メールアドレス",
        "メルマガ受信",
        "電話番号",
        "VIP",
        "来店ポイント",
        "1200",
        "社内向け",  # every field, not only those shown beside the chat
        "静かに過ごしたい",
        "カルテ",
        "会話一覧",
        "非表示にする",
        "ブロックする",
        "このお客様を削除",
    ):
        assert text in page, text
    assert f'href="/c/{inbox.conversation_id}"' in page
    assert "ブロックしたお客様のメッセージは保存されますが" in page
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_the_email_phone_and_mail_opt_in_are_saved_in_place(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    url = f"/ui/contacts/{inbox.contact_id}/profile"
    email = await client.post(
        url, data={"email": "Misaki@Example.com", "place": "page"}, headers=HTMX
    )
    assert email.status_code == 200
    assert 'value="misaki@example.com"' in email.text
    phone = await client.post(url, data={"phone": "090-1234-5678", "place": "page"}, headers=HTMX)
    assert phone.status_code == 200
    opt_in = await client.post(url, data={"mail_opt_in": ["0", "1"], "place": "page"}, headers=HTMX)
    assert opt_in.status_code == 200
    stored = (await api_contact(client, inbox.contact_id)).json()
    assert stored["email"] == "misaki@example.com"
    assert stored["phone"] == "090-1234-5678"
    assert stored["mail_opt_in"] is True
    # Unchecked, only the hidden "0" comes: opted out again; the rest stays.
    await client.post(url, data={"mail_opt_in": "0", "place": "page"}, headers=HTMX)
    stored = (await api_contact(client, inbox.contact_id)).json()
    assert stored["mail_opt_in"] is False and stored["email"] == "misaki@example.com"


async def test_each_fact_is_shown_once_and_the_newsletter_caption_follows_the_switch(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    # The salon kept phones and e-mails in profile fields before: the same facts as the
    # contact's own 電話番号 and メールアドレス. 自宅電話 is another fact and stays.
    await fields.create_field(ctx, key="tel", label="電話番号", type="phone")
    await fields.create_field(ctx, key="mail", label="メール", type="email")
    await fields.create_field(ctx, key="home", label="自宅電話", type="phone")
    await fields.set_value(ctx, contact_id=inbox.contact_id, key="tel", value="090-1234-5678")
    await fields.set_value(ctx, contact_id=inbox.contact_id, key="home", value="03-1234-5678")
    await contacts.update_contact(
        ctx,
        contact_id=inbox.contact_id,
        changes=contacts.ContactChanges(email="misaki@example.com", set_email=True),
    )
    await fields.set_value(ctx, contact_id=inbox.contact_id, key="mail", value="misaki@example.com")
    page = (await client.get(f"/contacts/{inbox.contact_id}", headers=HTML)).text
    labels = re.findall(r"<label[^>]*>([^<]+)</label>", page)
    assert labels.count("電話番号") == 1 and labels.count("メールアドレス") == 1
    assert "メール" not in labels and "自宅電話" in labels
    assert 'id="field-tel"' not in page and 'id="field-mail"' not in page
    # The other number is said once, under the one 電話番号, with a way to make it hers; the
    # e-mail, the same in both, is not said again.
    assert page.count("パーソナル情報の「電話番号」に 090-1234-5678 が入っています。") == 1
    assert 'data-twin="email"' not in page

    used = await client.post(
        f"/ui/contacts/{inbox.contact_id}/profile",
        data={"phone": "090-1234-5678", "place": "page"},
        headers=HTMX,
    )
    assert used.status_code == 200 and 'data-twin="phone"' not in used.text
    assert (await api_contact(client, inbox.contact_id)).json()["phone"] == "090-1234-5678"
    kept = (await client.get(f"/api/v1/contacts/{inbox.contact_id}/fields")).json()
    assert kept["tel"] == "090-1234-5678"  # nothing deleted
    # Beside the chat the fields stay as 表示設定 says (no 電話番号 row there).
    chat = await client.get(f"/ui/contacts/{inbox.contact_id}/part/fields?place=chat", headers=HTMX)
    assert 'id="field-tel"' in chat.text

    # メルマガ受信: the caption says what the switch says (CSS shows the one of its state).
    off = (await client.get(f"/contacts/{inbox.contact_id}", headers=HTML)).text
    switch = re.search(r'<input type="checkbox" id="contact-optin"[^>]*>', off)
    assert switch is not None and "checked" not in switch.group(0)
    assert "配信への同意がありません" in off and 'data-optin-caption="on"' in off


async def test_a_wrong_email_is_refused_in_japanese_and_the_old_one_kept(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    url = f"/ui/contacts/{inbox.contact_id}/profile"
    await client.post(url, data={"email": "misaki@example.com", "place": "page"}, headers=HTMX)
    response = await client.post(url, data={"email": "misaki", "place": "page"}, headers=HTMX)
    assert response.status_code == 422
    assert response.text == "misaki はメールアドレスの形式ではありません。"
    phone = await client.post(url, data={"phone": "でんわ", "place": "page"}, headers=HTMX)
    assert phone.text == "でんわ は電話番号の形式ではありません。"
    assert (await api_contact(client, inbox.contact_id)).json()["email"] == "misaki@example.com"


async def test_hiding_takes_the_customer_out_of_the_inbox_into_hidden(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    response = await client.post(f"/contacts/{inbox.contact_id}/hide")
    assert response.status_code == 303
    assert response.headers["location"] == f"/contacts/{inbox.contact_id}?done=hidden"
    page = (await client.get(response.headers["location"], headers=HTML)).text
    assert "非表示にしました" in page and "受信箱に再表示する" in page
    assert (await api_contact(client, inbox.contact_id)).json()["hidden"] is True

    row = f'id="row-{inbox.conversation_id}"'
    assert row not in (await client.get("/", headers=HTML)).text
    hidden = await client.get("/?view=hidden", headers=HTML)
    assert row in hidden.text
    assert 'class="tab tab--hidden" href="/?view=hidden" aria-current="true"' in hidden.text
    assert row in (await client.get("/ui/list?view=hidden", headers=HTMX)).text
    # A live refresh of its row on 一覧 tells the page to drop it.
    gone = await client.get(f"/ui/rows/{inbox.conversation_id}?view=all", headers=HTMX)
    assert gone.text.strip() == ""

    await client.post(f"/contacts/{inbox.contact_id}/show")
    assert row in (await client.get("/", headers=HTML)).text
    assert (
        "非表示中のお客様はいません"
        in (await client.get("/ui/list?view=hidden", headers=HTMX)).text
    )


async def test_a_blocked_customers_messages_are_kept_but_do_not_raise_the_conversation(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    await client.post(f"/ui/conversations/{inbox.conversation_id}/read", headers=HTMX)
    response = await client.post(f"/contacts/{inbox.contact_id}/block")
    assert response.status_code == 303
    page = (await client.get(response.headers["location"], headers=HTML)).text
    assert "ブロックしました" in page and "ブロックを解除する" in page
    await factory.inbound(inbox.channel, contact="c-1", text="またよろしくお願いします")
    stored = await client.get(f"/api/v1/conversations/{inbox.conversation_id}/messages")
    assert stored.json()["items"][-1]["text"] == "またよろしくお願いします"
    assert not (await client.get(f"/api/v1/conversations/{inbox.conversation_id}")).json()["unread"]
    row = (await client.get(f"/ui/rows/{inbox.conversation_id}", headers=HTMX)).text
    assert "ブロック中" in row

    await client.post(f"/contacts/{inbox.contact_id}/unblock")
    assert (await api_contact(client, inbox.contact_id)).json()["blocked"] is False


async def test_deleting_asks_first_then_removes_everything_and_goes_back_to_the_inbox(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    book = await records.create_book(
        factory.ctx, name="施術履歴", fields=[{"key": "menu", "label": "メニュー", "type": "text"}]
    )
    await records.create_record(
        factory.ctx,
        contact_id=inbox.contact_id,
        book=book.id,
        at=factory.ctx.now(),
        values_={"menu": "カット"},
        author=None,
    )
    await memos.create_memo(
        factory.ctx, contact_id=inbox.contact_id, title="", body="メモ", author=None
    )
    confirm = await client.get(f"/contacts/{inbox.contact_id}/delete", headers=HTML)
    assert confirm.status_code == 200
    text = confirm.text
    assert "「佐藤 美咲」を削除しますか？" in text
    for consequence in (
        "会話 1件（メッセージもすべて）",
        "メモ 1件",
        "カルテの記録 1件",
        "元に戻せません",
    ):
        assert consequence in text, consequence
    assert (
        await api_contact(client, inbox.contact_id)
    ).status_code == 200  # asking deletes nothing

    response = await client.post(f"/contacts/{inbox.contact_id}/delete")
    assert response.status_code == 303
    assert response.headers["location"] == "/?deleted=1"
    inbox_page = (await client.get("/?deleted=1", headers=HTML)).text
    assert "お客様を削除しました" in inbox_page
    assert f'id="row-{inbox.conversation_id}"' not in inbox_page
    assert (await api_contact(client, inbox.contact_id)).status_code == 404
    assert (await client.get(f"/api/v1/conversations/{inbox.conversation_id}")).status_code == 404


async def test_a_customer_is_added_by_hand_from_the_list(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    assert 'href="/contacts/new"' in (await client.get("/", headers=HTML)).text
    form = await client.get("/contacts/new", headers=HTML)
    assert form.status_code == 200 and "お客様を追加" in form.text

    refused = await client.post(
        "/contacts/new", data={"display_name": " ", "email": "yamada@example.com"}
    )
    assert refused.status_code == 422
    assert "システム表示名は1〜255文字で入力してください。" in refused.text
    assert 'value="yamada@example.com"' in refused.text  # nothing typed is lost
    bad_mail = await client.post(
        "/contacts/new", data={"display_name": "ヤマダ ハナコ", "email": "yamada"}
    )
    assert bad_mail.status_code == 422
    assert "yamada はメールアドレスの形式ではありません。" in bad_mail.text

    made = await client.post(
        "/contacts/new",
        data={
            "display_name": "ヤマダ ハナコ",
            "email": "yamada@example.com",
            "phone": "06-6484-5445",
        },
    )
    assert made.status_code == 303
    location = made.headers["location"]
    created = re.match(r"/contacts/(\d+)\?done=created", location)
    assert created is not None
    contact_id = int(created.group(1))
    page = (await client.get(location, headers=HTML)).text
    assert "お客様を登録しました" in page
    assert "ヤマダ ハナコ" in page and "手動で登録（チャットはまだありません）" in page
    stored = (await api_contact(client, contact_id)).json()
    assert stored["channel"] is None and stored["phone"] == "06-6484-5445"


async def test_an_unknown_customer_is_a_translated_404(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    page = await client.get("/contacts/999999", headers=HTML)
    assert page.status_code == 404
    assert "ID 999999 のお客様は見つかりません。" in page.text
    assert (await client.get("/contacts/999999/delete", headers=HTML)).status_code == 404
    assert (await client.post("/contacts/999999/delete")).status_code == 404
    assert (await client.post("/contacts/999999/hide")).status_code == 404
    fragment = await client.post("/ui/contacts/999999/tags", data={}, headers=HTMX)
    assert fragment.status_code == 404
    assert fragment.text == "ID 999999 のお客様は見つかりません。"


async def test_the_contact_page_is_for_members_only(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await client.post("/logout")
    response = await client.get(f"/contacts/{inbox.contact_id}", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/contacts/{inbox.contact_id}"
    fragment = await client.get(f"/ui/contacts/{inbox.contact_id}/part/tags", headers=HTMX)
    assert fragment.status_code == 401
    assert (await client.post(f"/contacts/{inbox.contact_id}/delete")).status_code == 401
    assert (await client.get("/ui/palette.css")).status_code == 401


async def test_a_deletion_from_another_site_is_refused(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    response = await client.post(
        f"/contacts/{inbox.contact_id}/delete", headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert (await api_contact(client, inbox.contact_id)).status_code == 200


# --- 絞り込み through the UI's URLs ----------------------------------------------------------


async def test_the_list_is_filtered_by_status_tags_and_a_field_and_keeps_it_in_links(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    other = await factory.inbound(inbox.channel, contact="c-2", name="田中 翔太", text="駐車場は？")
    third = await factory.inbound(inbox.channel, contact="c-3", name="鈴木 花", text="予約です")
    waiting = (await statuses.list_statuses(ctx.db))[2]
    unchecked = (await marks.list_marks(ctx.db))[0]
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    new = await tags.create_tag(ctx, actor=None, name="新規")
    await fields.create_field(ctx, key="points", label="来店ポイント", type="number")
    await contacts.update_contact(
        ctx,
        contact_id=inbox.contact_id,
        changes=contacts.ContactChanges(status=waiting.id, set_status=True),
    )
    await tags.set_tags(ctx, contact_id=inbox.contact_id, tag_ids=[vip.id, new.id])
    await tags.set_tags(ctx, contact_id=other.conversation.contact_id, tag_ids=[vip.id])
    await fields.set_value(ctx, contact_id=inbox.contact_id, key="points", value=1500)
    await fields.set_value(ctx, contact_id=third.conversation.contact_id, key="points", value=200)

    def rows(html: str) -> set[int]:
        return {int(i) for i in re.findall(r'id="row-(\d+)"', html)}

    first, second, last = inbox.conversation_id, other.conversation.id, third.conversation.id
    by_status = await client.get("/ui/list", params={"status": str(waiting.id)}, headers=HTMX)
    assert rows(by_status.text) == {first}
    assert "ステータス：連絡待ち" in by_status.text  # the chip, out of band
    assert 'hx-swap-oob="true"' in by_status.text
    any_tag = await client.get("/ui/list", params={"tag": [str(vip.id), str(new.id)]}, headers=HTMX)
    assert rows(any_tag.text) == {first, second}
    all_tags = await client.get(
        "/ui/list", params={"tag": [str(vip.id), str(new.id)], "tag_mode": "all"}, headers=HTMX
    )
    assert rows(all_tags.text) == {first}
    assert "タグ（すべて）：VIP" in all_tags.text
    by_field = await client.get(
        "/ui/list", params={"fk": "points", "fo": "gte", "fv": "1000"}, headers=HTMX
    )
    assert rows(by_field.text) == {first}
    assert "来店ポイント が 1000 以上" in by_field.text
    empty_field = await client.get(
        "/ui/list", params={"fk": "points", "fo": "empty", "fv": ""}, headers=HTMX
    )
    assert rows(empty_field.text) == {second}
    unassigned = await client.get("/ui/list", params={"assignee": "none"}, headers=HTMX)
    assert rows(unassigned.text) == {first, second, last}
    channel = await client.get("/ui/list", params={"channel": str(inbox.channel.id)}, headers=HTMX)
    assert rows(channel.text) == {first, second, last}
    combined = await client.get(
        "/ui/list", params={"tag": str(vip.id), "q": "駐車場"}, headers=HTMX
    )
    assert rows(combined.text) == {second}
    nothing = await client.get(
        "/ui/list",
        params={"tag": str(new.id), "status": str(waiting.id), "mark": str(unchecked.id)},
        headers=HTMX,
    )
    assert "この条件に一致する会話はありません。" in nothing.text

    # The page keeps the filter: a reload, and the member links of its rows.
    page = await client.get(f"/?status={waiting.id}&tag={vip.id}", headers=HTML)
    assert rows(page.text) == {first}
    link = re.search(rf'href="(/c/{first}\?[^"]+)"', page.text)
    assert link is not None
    query = parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)
    assert query == {"tag": [str(vip.id)], "status": [str(waiting.id)]}
    opened = await client.get(link.group(1).replace("&amp;", "&"), headers=HTML)
    assert rows(opened.text) == {first}
    assert f'data-conversation-id="{first}"' in opened.text
    # Each chip removes its own condition.
    assert re.search(rf'href="/\?tag={vip.id}" hx-get="/ui/list\?tag={vip.id}"', page.text)
    # A live refresh of a row follows the same filter.
    assert (
        await client.get(f"/ui/rows/{second}?status={waiting.id}", headers=HTMX)
    ).text.strip() == ""
    assert (
        f'id="row-{first}"'
        in (await client.get(f"/ui/rows/{first}?status={waiting.id}", headers=HTMX)).text
    )


async def test_a_filter_the_engine_refuses_is_explained_in_the_list(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    await fields.create_field(factory.ctx, key="points", label="来店ポイント", type="number")
    response = await client.get(
        "/ui/list", params={"fk": "points", "fo": "gt", "fv": "たくさん"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "来店ポイント には数値を入力してください（入力値：たくさん）。" in response.text
    unknown = await client.get("/", params={"tag": "存在しないタグ"}, headers=HTML)
    assert unknown.status_code == 200
    assert "「存在しないタグ」というタグは見つかりません。" in unknown.text
    assert "絞り込みを解除" in unknown.text  # and the way out


async def test_the_filter_form_offers_what_the_workspace_has(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    folder = await tags.create_folder(factory.ctx, actor=None, name="担当スタッフ")
    await tags.create_tag(factory.ctx, actor=None, name="担当:佐藤", folder=folder.id)
    await fields.create_field(factory.ctx, key="birthday", label="生年月日", type="date")
    form = await client.get(
        "/ui/filter", params={"fk": "birthday", "fo": "after", "fv": "1990-01-01"}, headers=HTMX
    )
    assert form.status_code == 200
    text = form.text
    for expected in (
        "担当スタッフ",
        "担当:佐藤",
        "いずれかを含む",
        "すべてを含む",
        "未対応",
        "クレーム",
        "担当者なし",
        "自分",
        "すべてのチャネル",
        "生年月日",
        "条件を追加",
        "この条件で絞り込む",
    ):
        assert expected in text, expected
    assert 'value="1990-01-01"' in text and '<option value="after" selected>' in text
    # A condition row fits its field: a date takes a date input and date ops.
    term = await client.get("/ui/filter/term", params={"fk": "birthday"}, headers=HTMX)
    assert 'type="date"' in term.text and "より前" in term.text and "以上" not in term.text


async def test_the_customer_list_finds_customers_without_a_chat(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    added = await contacts.create_contact(
        factory.ctx, display_name="ヤマダ ハナコ", phone="0312345678"
    )
    page = await client.get("/contacts", headers=HTML)
    assert page.status_code == 200
    assert 'href="/contacts" class="topnav-link" aria-current="page"' in page.text
    assert page.text.index("ヤマダ ハナコ") < page.text.index("佐藤 美咲")  # newest first
    assert f'href="/contacts/{added.id}"' in page.text
    assert "手動で登録（チャットはまだありません）" in page.text
    found = await client.get("/contacts", params={"q": "やまだ"}, headers=HTML)
    assert "ヤマダ ハナコ" in found.text and "佐藤 美咲" not in found.text
    none = await client.get("/contacts", params={"q": "存在しない"}, headers=HTML)
    assert "「存在しない」に一致するお客様はいません。" in none.text
