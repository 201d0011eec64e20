from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.contacts import service as contacts
from madoguchi.conversations import workflow
from madoguchi.conversations.models import MAX_TEXT_LENGTH
from madoguchi.kit.db import Database
from madoguchi.members import service as members
from madoguchi.ui import inbox as inbox_ui
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, Inbox, is_unread, sign_in


async def test_inbox_is_japanese_by_default(client: httpx.AsyncClient, inbox: Inbox) -> None:
    response = await client.get("/", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert '<html lang="ja">' in page
    assert "<title>(1) 受信箱 | Madoguchi</title>" in page
    for text in (
        "一覧",
        "未確認",
        "名前・メッセージで検索",
        "佐藤 美咲",
        "カットの予約をしたいです",
    ):
        assert text in page, text
    assert f'id="row-{inbox.conversation_id}"' in page
    assert "会話を選んでください" in page


async def test_a_member_who_chose_english_sees_english(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    await members.update_settings(factory.ctx, member=inbox.member, language="en")
    page = (await client.get(f"/c/{inbox.conversation_id}", headers=HTML)).text
    assert '<html lang="en">' in page
    assert "<title>(1) Inbox | Madoguchi</title>" in page
    for text in ("All", "Unread", "Unread (click to change)", "Send", "Display name"):
        assert text in page, text
    assert "受信箱" not in page and "未確認（クリックで変更）" not in page
    # The workspace's own names (the mark 未確認, the statuses) are its data, shown as written.


async def test_the_member_link_opens_the_conversation(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    response = await client.get(f"/c/{inbox.conversation_id}", headers=HTML)
    assert response.status_code == 200
    page = response.text
    assert f'data-conversation-id="{inbox.conversation_id}"' in page
    assert 'data-pane="thread"' in page  # a phone shows the conversation first
    assert 'aria-current="true"' in page  # the row is highlighted
    assert "名前" in page and "システム表示名" in page  # the API channel's name label
    assert 'class="message message--inbound"' in page


async def test_opening_a_conversation_does_not_mark_it_read(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    page = await client.get(f"/c/{inbox.conversation_id}", headers=HTML)
    assert "未確認（クリックで変更）" in page.text
    fragment = await client.get(f"/ui/conversations/{inbox.conversation_id}", headers=HTMX)
    assert fragment.status_code == 200
    assert "未確認（クリックで変更）" in fragment.text
    assert await is_unread(client, inbox.conversation_id)


async def test_the_toggle_marks_read_and_unread_again(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    conversation_id = inbox.conversation_id
    response = await client.post(f"/ui/conversations/{conversation_id}/read", headers=HTMX)
    assert response.status_code == 200
    assert "<span>確認済み</span>" in response.text
    assert "未確認（クリックで変更）" not in response.text
    assert "madoguchi:read-state" in response.headers["hx-trigger-after-settle"]
    assert not await is_unread(client, conversation_id)
    page = await client.get("/", headers=HTML)
    assert "<title>受信箱 | Madoguchi</title>" in page.text

    response = await client.post(f"/ui/conversations/{conversation_id}/unread", headers=HTMX)
    assert "未確認（クリックで変更）" in response.text
    assert await is_unread(client, conversation_id)


async def test_the_composer_sends_a_reply(client: httpx.AsyncClient, inbox: Inbox) -> None:
    response = await client.post(
        f"/ui/conversations/{inbox.conversation_id}/messages",
        data={"text": "ご連絡ありがとうございます。\n明日10時はいかがですか？", "kind": "reply"},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert 'class="message message--reply"' in response.text
    assert "明日10時はいかがですか？" in response.text
    assert "店長" in response.text  # who answered
    stored = (await client.get(f"/api/v1/conversations/{inbox.conversation_id}/messages")).json()[
        "items"
    ]
    assert [m["kind"] for m in stored] == ["inbound", "reply"]
    assert stored[-1]["text"] == "ご連絡ありがとうございます。\n明日10時はいかがですか？"
    assert stored[-1]["sender_member_id"] == inbox.member.id
    # Answering is reading.
    assert not await is_unread(client, inbox.conversation_id)


async def test_the_composer_saves_an_internal_note(client: httpx.AsyncClient, inbox: Inbox) -> None:
    response = await client.post(
        f"/ui/conversations/{inbox.conversation_id}/messages",
        data={"text": "前回はカラー（アッシュ系）", "kind": "note"},
        headers=HTMX,
    )
    assert 'class="message message--note"' in response.text
    assert "社内メモ" in response.text
    stored = (await client.get(f"/api/v1/conversations/{inbox.conversation_id}/messages")).json()[
        "items"
    ]
    assert stored[-1]["kind"] == "note"
    assert await is_unread(client, inbox.conversation_id)  # a note is not an answer


async def test_a_too_long_message_is_refused_in_japanese_and_nothing_is_stored(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    text = "あ" * (MAX_TEXT_LENGTH + 1)
    url = f"/ui/conversations/{inbox.conversation_id}/messages"
    response = await client.post(url, data={"text": text, "kind": "reply"}, headers=HTMX)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == f"メッセージは{MAX_TEXT_LENGTH}文字以内で入力してください。"
    stored = (await client.get(f"/api/v1/conversations/{inbox.conversation_id}/messages")).json()[
        "items"
    ]
    assert len(stored) == 1

    # Without JavaScript the page comes back with the error and the text still in the box.
    page = await client.post(url, data={"text": text, "kind": "reply"}, headers=HTML)
    assert page.status_code == 422
    assert "メッセージは5000文字以内で入力してください。" in page.text
    assert text in page.text


async def test_without_javascript_the_composer_posts_and_comes_back(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    response = await client.post(
        f"/ui/conversations/{inbox.conversation_id}/messages",
        data={"text": "承知しました", "kind": "reply"},
        headers=HTML,
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/c/{inbox.conversation_id}"


async def test_renaming_the_customer_in_the_panel(client: httpx.AsyncClient, inbox: Inbox) -> None:
    url = f"/ui/contacts/{inbox.contact_id}/name"
    response = await client.post(url, data={"display_name": "佐藤様（常連）"}, headers=HTMX)
    assert response.status_code == 200
    assert "佐藤様（常連）" in response.text
    assert "madoguchi:contact-updated" in response.headers["hx-trigger-after-settle"]
    contact = (await client.get(f"/api/v1/contacts/{inbox.contact_id}")).json()
    assert contact["display_name"] == "佐藤様（常連）"
    assert contact["channel_name"] == "佐藤 美咲"
    header = await client.get(f"/ui/conversations/{inbox.conversation_id}/header", headers=HTMX)
    assert "佐藤様（常連）" in header.text

    # Blank goes back to the channel's name.
    response = await client.post(url, data={"display_name": "  "}, headers=HTMX)
    assert "佐藤 美咲" in response.text


async def test_a_too_long_name_is_refused_with_the_reason(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    response = await client.post(
        f"/ui/contacts/{inbox.contact_id}/name", data={"display_name": "名" * 256}, headers=HTMX
    )
    assert response.status_code == 422
    assert response.text == "システム表示名は255文字以内で入力してください。"


async def test_an_unknown_conversation_is_a_translated_404(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    page = await client.get("/c/999999", headers=HTML)
    assert page.status_code == 404
    assert "ID 999999 の会話は見つかりません。" in page.text
    fragment = await client.get("/ui/conversations/999999", headers=HTMX)
    assert fragment.status_code == 404
    assert fragment.text == "ID 999999 の会話は見つかりません。"
    toggle = await client.post("/ui/conversations/999999/read", headers=HTMX)
    assert toggle.status_code == 404


async def test_the_list_fragment_searches_and_switches_tabs(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    await factory.inbound(inbox.channel, contact="c-2", name="田中 翔太", text="駐車場はありますか")
    await client.post(f"/ui/conversations/{inbox.conversation_id}/read", headers=HTMX)

    everything = await client.get("/ui/list", headers=HTMX)
    assert everything.headers["x-madoguchi-unread"] == "1"
    assert "佐藤 美咲" in everything.text and "田中 翔太" in everything.text
    assert 'id="list-tabs"' in everything.text and 'hx-swap-oob="true"' in everything.text

    unread = await client.get("/ui/list?view=unread", headers=HTMX)
    assert "田中 翔太" in unread.text and "佐藤 美咲" not in unread.text

    by_text = await client.get("/ui/list", params={"q": "駐車場"}, headers=HTMX)
    assert "田中 翔太" in by_text.text and "佐藤 美咲" not in by_text.text
    by_name = await client.get("/ui/list", params={"q": "さとう"}, headers=HTMX)
    assert "佐藤 美咲" not in by_name.text or "田中 翔太" not in by_name.text
    nothing = await client.get("/ui/list", params={"q": "存在しない言葉"}, headers=HTMX)
    assert "「存在しない言葉」に一致する会話はありません。" in nothing.text


async def test_the_list_pages_on_with_show_more(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    for n in range(35):
        await factory.inbound(
            inbox.channel, contact=f"many-{n}", name=f"お客様{n:02d}", text="質問"
        )
    first = await client.get("/", headers=HTML)
    assert first.text.count('<li class="row') == 30
    assert "さらに表示" in first.text
    cursor = re.search(r"cursor=([\w-]+)", first.text)
    assert cursor is not None
    more = await client.get(f"/ui/list?view=all&cursor={cursor.group(1)}", headers=HTMX)
    assert more.text.count('<li class="row') == 6
    assert "さらに表示" not in more.text
    assert 'id="conversation-list"' not in more.text  # just rows, to replace the button


async def test_the_row_fragment_follows_the_tab(client: httpx.AsyncClient, inbox: Inbox) -> None:
    url = f"/ui/rows/{inbox.conversation_id}"
    row = await client.get(url, params={"view": "unread"}, headers=HTMX)
    assert f'id="row-{inbox.conversation_id}"' in row.text
    assert 'class="badge"' in row.text
    await client.post(f"/ui/conversations/{inbox.conversation_id}/read", headers=HTMX)
    gone = await client.get(url, params={"view": "unread"}, headers=HTMX)
    assert gone.text.strip() == ""  # read: it leaves the 未確認 tab
    assert gone.headers["x-madoguchi-unread"] == "0"
    still = await client.get(url, params={"view": "all"}, headers=HTMX)
    assert f'id="row-{inbox.conversation_id}"' in still.text
    assert 'class="badge"' not in still.text
    assert (await client.get("/ui/rows/999999", headers=HTMX)).text.strip() == ""


async def test_the_thread_fragments_give_newer_and_older_messages(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ids = [inbox.first.message.id]
    for n in range(60):
        ingested = await factory.inbound(inbox.channel, contact="c-1", text=f"メッセージ{n}")
        ids.append(ingested.message.id)
    page = await client.get(f"/c/{inbox.conversation_id}", headers=HTML)
    assert page.text.count('data-message-id="') == 50
    assert "以前のメッセージを表示" in page.text

    base = f"/ui/conversations/{inbox.conversation_id}/messages"
    older = await client.get(base, params={"before": ids[-50]}, headers=HTMX)
    assert older.text.count('data-message-id="') == 11
    assert "以前のメッセージを表示" not in older.text
    newer = await client.get(base, params={"after": ids[-3]}, headers=HTMX)
    found = [int(i) for i in re.findall(r'data-message-id="(\d+)"', newer.text)]
    assert found == ids[-2:]


async def test_days_and_times_are_shown_in_japan_time(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    # 15:30 UTC on Tuesday 24 November is 00:30 on Wednesday the 25th in Tokyo.
    factory.ctx.clock = lambda: datetime(2026, 11, 24, 15, 30, tzinfo=UTC)
    await factory.inbound(inbox.channel, contact="c-1", text="夜分にすみません")
    page = (await client.get(f"/c/{inbox.conversation_id}", headers=HTML)).text
    assert "2026年11月25日（水）" in page
    assert ">00:30</time>" in page


async def test_pages_load_nothing_from_other_hosts(client: httpx.AsyncClient, inbox: Inbox) -> None:
    for path in ("/", f"/c/{inbox.conversation_id}", "/settings"):
        response = await client.get(path, headers=HTML)
        assert "default-src 'self'" in response.headers["content-security-policy"]
        references = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert references, path
        assert all(ref.startswith(("/", "#")) for ref in references), (path, references)


async def test_a_message_can_not_be_sent_across_sites(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    response = await client.post(
        f"/ui/conversations/{inbox.conversation_id}/messages",
        data={"text": "forged", "kind": "reply"},
        headers={**HTMX, "Origin": "https://evil.example"},
    )
    assert response.status_code == 403


async def test_each_member_has_their_own_read_state_when_the_workspace_says_so(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await factory.unread_per_member()
    owner = await factory.member(role="owner")
    other = await factory.member(name="あや")
    ingested = await factory.inbound(await factory.channel())
    await sign_in(client, owner)
    await client.post(f"/ui/conversations/{ingested.conversation.id}/read", headers=HTMX)
    assert "<title>受信箱 | Madoguchi</title>" in (await client.get("/", headers=HTML)).text
    await client.post("/logout")
    await sign_in(client, other)
    page = await client.get("/", headers=HTML)
    assert "<title>(1) 受信箱 | Madoguchi</title>" in page.text


async def test_a_reply_waiting_for_its_channel_shows_as_sending(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    member = await factory.member()
    line = await factory.channel(kind="line", name="サロン公式LINE")
    ingested = await factory.inbound(line, contact="U123", name="高橋 由美")
    await sign_in(client, member)
    response = await client.post(
        f"/ui/conversations/{ingested.conversation.id}/messages",
        data={"text": "お待ちしております", "kind": "reply"},
        headers=HTMX,
    )
    assert "送信中…" in response.text
    page = (await client.get(f"/c/{ingested.conversation.id}", headers=HTML)).text
    assert "LINE登録名" in page  # the channel name's label follows the channel
    assert "送信中…" in page


async def test_signing_in_again_keeps_the_lists_filter(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await client.post("/logout")
    response = await client.get("/c/1?view=unread&tag=3&tag=5", headers=HTML)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/c/1%3Fview%3Dunread%26tag%3D3%26tag%3D5"
    login = await client.get(response.headers["location"], headers=HTML)
    assert 'value="/c/1?view=unread&amp;tag=3&amp;tag=5"' in login.text


async def test_an_unexpected_error_shows_a_small_translated_page(
    settings: Settings, database: Database, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    member = await factory.member()
    await factory.inbound(await factory.channel())

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(inbox_ui, "_list_page", broken)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            await sign_in(client, member)
            page = await client.get("/?view=unread", headers=HTML)
            assert page.status_code == 500
            assert page.headers["content-type"].startswith("text/html")
            assert "問題が発生しました" in page.text
            assert 'href="/?view=unread"' in page.text  # 「再読み込み」 asks for the same page
            assert "Internal Server Error" not in page.text
            fragment = await client.get("/ui/list", headers=HTMX)
            assert fragment.status_code == 500
            assert fragment.text == "問題が発生しました。もう一度お試しください。"


async def test_the_list_has_a_tab_for_hidden_customers(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    page = (await client.get("/", headers=HTML)).text
    assert 'href="/?view=hidden"' in page and "非表示中" in page
    assert "絞り込み" in page and 'aria-controls="filter-panel"' in page


async def test_a_search_shows_each_result_with_its_state(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    closed = await factory.inbound(
        inbox.channel, contact="c-closed", name="伊藤 さくら", text="ありがとう"
    )
    hidden = await factory.inbound(
        inbox.channel, contact="c-hidden", name="伊藤 花子", text="またね"
    )
    await workflow.close(ctx, conversation_id=closed.conversation.id, actor=inbox.member)
    await contacts.update_contact(
        ctx,
        contact_id=hidden.conversation.contact_id,
        changes=contacts.ContactChanges(hidden=True),
    )
    await ctx.db.commit()

    plain = (await client.get("/ui/list", headers=HTMX)).text
    assert "伊藤" not in plain
    found = (await client.get("/ui/list", params={"q": "伊藤"}, headers=HTMX)).text
    assert "一致する会話はありません" not in found
    closed_row = found.split(f'id="row-{closed.conversation.id}"')[1].split("</li>")[0]
    assert 'data-row-state="closed"' in closed_row and "終了" in closed_row
    hidden_row = found.split(f'id="row-{hidden.conversation.id}"')[1].split("</li>")[0]
    assert 'data-row-state="hidden"' in hidden_row and "非表示" in hidden_row
    chosen = (
        await client.get("/ui/list", params={"q": "伊藤", "view": "closed"}, headers=HTMX)
    ).text
    assert f'id="row-{closed.conversation.id}"' in chosen
    assert f'id="row-{hidden.conversation.id}"' not in chosen


async def test_the_unread_count_stops_past_the_most_it_shows(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unread count is counted no further than one past the most a page shows, which then
    shows "999+" (here two, as "2+"): counted whole, every page paid for 300,000 unread
    conversations at a million contacts."""
    from madoguchi.conversations import repository

    monkeypatch.setattr(repository, "UNREAD_SHOWN_AT_MOST", 2)
    for n in range(3):
        await factory.inbound(inbox.channel, contact=f"more-{n}", text="こんにちは")
    await factory.ctx.db.commit()
    assert await repository.unread_total(factory.ctx.db, member_id=inbox.member.id) == 3
    page = (await client.get("/", headers=HTML)).text
    assert "<title>(2+) 受信箱 | Madoguchi</title>" in page
    assert re.search(r'class="tab-count" data-unread-count\s*>2\+</span>', page), page
    listed = await client.get("/ui/list", headers=HTMX)
    assert listed.headers[inbox_ui.UNREAD_HEADER] == "2+"  # what the page's script shows
