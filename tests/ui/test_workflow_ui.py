"""The team workflow in the staff UI (F2, F6–F16, F41): each action through its UI route, with
the outcome read back through the JSON API or the services, and what the member sees in Japanese."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from madoguchi.automation import macros, templates
from madoguchi.channels import service as channels
from madoguchi.config import Settings
from madoguchi.connectors import inbound
from madoguchi.conversations import workflow
from madoguchi.conversations.models import Conversation, Message
from madoguchi.crm import tags
from madoguchi.events import InProcessBus
from madoguchi.files import service as files
from madoguchi.jobs import Worker
from madoguchi.kit.db import Database
from madoguchi.ui.present import SnoozePreset, snooze_choices, snooze_time
from madoguchi.ui.workflow import confirmed
from tests.fixtures import Factory, auth
from tests.ui.conftest import HTML, HTMX, Inbox, sign_in

TOKYO = ZoneInfo("Asia/Tokyo")


def png(color: tuple[int, int, int] = (200, 30, 60), size: int = 40) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (size, size), color).save(picture, format="PNG")
    return picture.getvalue()


async def item(client: httpx.AsyncClient, conversation_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def detail(client: httpx.AsyncClient, conversation_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}/detail")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def messages(client: httpx.AsyncClient, conversation_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def ui(conversation_id: int, action: str) -> str:
    return f"/ui/conversations/{conversation_id}/{action}"


# --- assignee and followers -------------------------------------------------------------------


async def test_become_assignee_then_a_colleague_is_told_to_follow_and_follows(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    colleague = await factory.member(name="あや")
    cid = inbox.conversation_id
    page = (await client.get(f"/c/{cid}", headers=HTML)).text
    assert "担当者になる" in page

    taken = await client.post(ui(cid, "become-assignee"), headers=HTMX)
    assert taken.status_code == 200
    assert 'id="thread-header"' in taken.text and "自分" in taken.text
    assert "madoguchi:conversation-changed" in taken.headers["hx-trigger-after-settle"]
    assert (await item(client, cid))["assignee_id"] == inbox.member.id
    thread = await client.get(ui(cid, "messages"), headers=HTMX)
    assert "店長さんが担当者になりました" in thread.text

    await sign_in(client, colleague)
    page = (await client.get(f"/c/{cid}", headers=HTML)).text
    assert "担当者になる" not in page and "フォロー" in page
    refused = await client.post(ui(cid, "become-assignee"), headers=HTMX)
    assert refused.status_code == 409
    assert refused.headers["x-madoguchi-swap"] == "error"  # the header, with the reason in it
    assert "すでに店長さんが担当者です。フォローして参加してください。" in refused.text
    assert "フォロー" in refused.text
    assert (await item(client, cid))["assignee_id"] == inbox.member.id

    followed = await client.post(ui(cid, "follow"), headers=HTMX)
    assert followed.status_code == 200 and "フォロー中" in followed.text
    assert [f["id"] for f in (await detail(client, cid))["followers"]] == [colleague.id]
    unfollowed = await client.post(ui(cid, "unfollow"), headers=HTMX)
    assert unfollowed.status_code == 200 and 'aria-pressed="false"' in unfollowed.text
    assert (await detail(client, cid))["followers"] == []


async def test_the_panel_assigns_and_adds_and_removes_followers(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    aya = await factory.member(name="あや")
    aya_token = await factory.token(aya)
    ken = await factory.member(name="健")
    cid = inbox.conversation_id

    assigned = await client.post(
        ui(cid, "assign"), data={"member_id": str(aya.id), "answer": "team"}, headers=HTMX
    )
    assert assigned.status_code == 200
    assert 'id="team-part"' in assigned.text and "更新されました" in assigned.text
    assert (await item(client, cid))["assignee_id"] == aya.id
    seen_by_aya = await client.get("/api/v1/notifications", headers=auth(aya_token))
    [notice] = seen_by_aya.json()["items"]
    assert notice["kind"] == "assigned" and notice["conversation_id"] == cid

    added = await client.post(
        ui(cid, "follow"), data={"member_id": str(ken.id), "answer": "team"}, headers=HTMX
    )
    assert "健さんをフォロワーから外す" in added.text
    assert [f["id"] for f in (await detail(client, cid))["followers"]] == [ken.id]
    removed = await client.post(
        ui(cid, "unfollow"), data={"member_id": str(ken.id), "answer": "team"}, headers=HTMX
    )
    assert removed.status_code == 200
    assert (await detail(client, cid))["followers"] == []

    cleared = await client.post(
        ui(cid, "assign"), data={"member_id": "", "answer": "team"}, headers=HTMX
    )
    assert cleared.status_code == 200
    assert (await item(client, cid))["assignee_id"] is None
    thread = (await client.get(ui(cid, "messages"), headers=HTMX)).text
    assert "店長さんがあやさんを担当者にしました" in thread
    assert "健さんがフォローしました" in thread and "店長さんが担当者を外しました" in thread


async def test_a_mention_in_a_note_makes_a_follower_who_is_notified(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    aya = await factory.member(name="鈴木 彩")
    cid = inbox.conversation_id
    page = (await client.get(f"/c/{cid}", headers=HTML)).text
    assert 'data-handle="鈴木彩"' in page  # the @ suggestions

    sent = await client.post(
        ui(cid, "messages"),
        data={"text": "@鈴木彩 カラーの在庫を確認してください", "kind": "note"},
        headers=HTMX,
    )
    assert sent.status_code == 200 and "message--note" in sent.text
    assert [f["id"] for f in (await detail(client, cid))["followers"]] == [aya.id]

    await sign_in(client, aya)
    count = await client.get("/ui/notifications/unread", headers=HTMX)
    assert count.text == "1"
    listed = await client.get("/ui/notifications", headers=HTMX)
    assert "店長さんが社内メモであなたをメンションしました" in listed.text
    assert f'href="/c/{cid}"' in listed.text and "佐藤 美咲" in listed.text
    assert (await client.post("/ui/notifications/read", headers=HTMX)).status_code == 204
    assert (await client.get("/ui/notifications/unread", headers=HTMX)).text == "0"


# --- close, reopen, snooze, memo, views -------------------------------------------------------


async def test_closing_chooses_tags_and_a_memo_and_refuses_a_memo_over_500(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    booking = await workflow.create_conversation_tag(factory.ctx, name="予約", color="#2f6fd0")
    await workflow.create_conversation_tag(factory.ctx, name="質問")
    cid = inbox.conversation_id

    dialog = await client.get(ui(cid, "close"), headers=HTMX)
    assert dialog.status_code == 200
    for text in ("問い合わせを終了", "問い合わせタグ", "予約", "質問", "問い合わせメモ", "0 / 500"):
        assert text in dialog.text, text

    too_long = await client.post(
        ui(cid, "close"),
        data={"answer": "dialog", "tags_shown": "1", "tag": str(booking.id), "memo": "あ" * 501},
        headers=HTMX,
    )
    assert too_long.status_code == 422
    assert too_long.text == "問い合わせメモは500文字までです。"
    assert (await item(client, cid))["state"] == "open"

    closed = await client.post(
        ui(cid, "close"),
        data={"answer": "dialog", "tags_shown": "1", "tag": str(booking.id), "memo": "15時で予約"},
        headers=HTMX,
    )
    assert closed.status_code == 200
    assert "再開" in closed.text and "state-badge--closed" in closed.text
    after = await item(client, cid)
    assert after["state"] == "closed" and after["memo"] == "15時で予約"
    assert [t["name"] for t in (await detail(client, cid))["tags"]] == ["予約"]
    assert "店長さんが問い合わせを終了しました" in (await client.get(ui(cid, "messages"))).text

    open_list = await client.get("/ui/list", headers=HTMX)
    assert f'id="row-{cid}"' not in open_list.text
    closed_list = await client.get("/ui/list?view=closed", headers=HTMX)
    assert f'id="row-{cid}"' in closed_list.text

    reopened = await client.post(ui(cid, "reopen"), headers=HTMX)
    assert reopened.status_code == 200 and "担当者になる" in reopened.text
    assert (await item(client, cid))["state"] == "open"


async def test_snooze_presets_and_a_given_time_and_a_past_time_refused(
    client: httpx.AsyncClient, settings: Settings, inbox: Inbox
) -> None:
    cid = inbox.conversation_id
    menu = (await client.get(f"/c/{cid}", headers=HTML)).text
    for text in ("1時間後", "明日の朝", "来週（月曜）", "日時を指定…"):
        assert text in menu, text

    snoozed = await client.post(ui(cid, "snooze"), data={"preset": "tomorrow"}, headers=HTMX)
    assert snoozed.status_code == 200
    expected = snooze_time(SnoozePreset.tomorrow, datetime.now(UTC), TOKYO)
    state = await item(client, cid)
    assert state["state"] == "snoozed"
    assert datetime.fromisoformat(state["snooze_until"]) == expected
    assert f"スヌーズ中 〜{expected.month}/{expected.day} 9:00" in snoozed.text
    assert (
        f"{expected.month}/{expected.day} 9:00までスヌーズしました"
        in (await client.get(ui(cid, "messages"))).text
    )
    assert f'id="row-{cid}"' in (await client.get("/ui/list?view=snoozed", headers=HTMX)).text

    dialog = await client.get(ui(cid, "snooze"), headers=HTMX)
    assert 'type="datetime-local"' in dialog.text and "日時（日本時間）" in dialog.text
    past = await client.post(
        ui(cid, "snooze"), data={"until": "2020-01-01T10:00", "answer": "dialog"}, headers=HTMX
    )
    assert past.status_code == 422
    assert past.text == "スヌーズの時刻は未来の日時を指定してください。"
    in_the_header = await client.post(
        ui(cid, "snooze"), data={"until": "2020-01-01T10:00"}, headers=HTMX
    )
    assert in_the_header.status_code == 422
    assert "スヌーズの時刻は未来の日時を指定してください。" in in_the_header.text
    assert 'id="thread-header"' in in_the_header.text

    later = (datetime.now(TOKYO) + timedelta(days=3)).replace(hour=15, minute=30)
    given = await client.post(
        ui(cid, "snooze"),
        data={"until": later.strftime("%Y-%m-%dT%H:%M"), "answer": "dialog"},
        headers=HTMX,
    )
    assert given.status_code == 200
    until = datetime.fromisoformat((await item(client, cid))["snooze_until"])
    assert until.astimezone(TOKYO).strftime("%m-%d %H:%M") == later.strftime("%m-%d %H:%M")


@pytest.mark.parametrize(
    ("now", "preset", "wakes"),
    [
        # Tuesday 21:00 in Tokyo
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), "hour", datetime(2026, 11, 24, 22, 0)),
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), "tomorrow", datetime(2026, 11, 25, 9, 0)),
        (datetime(2026, 11, 24, 12, 0, tzinfo=UTC), "next_week", datetime(2026, 11, 30, 9, 0)),
        # Monday 10:00 in Tokyo: tonight is ahead, next week is the Monday after
        (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), "tonight", datetime(2026, 11, 30, 20, 0)),
        (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), "next_week", datetime(2026, 12, 7, 9, 0)),
    ],
)
def test_snooze_presets_are_japan_time(now: datetime, preset: str, wakes: datetime) -> None:
    assert snooze_time(SnoozePreset(preset), now, TOKYO) == wakes.replace(tzinfo=TOKYO)


def test_tonight_is_not_offered_once_past_20_00() -> None:
    evening = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    assert [p for p, _ in snooze_choices(evening, TOKYO)] == ["hour", "tomorrow", "next_week"]
    morning = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
    assert "tonight" in [p for p, _ in snooze_choices(morning, TOKYO)]


async def test_the_views_show_mine_unassigned_snoozed_and_closed(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    mine = inbox.first.conversation
    other = (await factory.inbound(inbox.channel, contact="c-2", name="田中 翔太")).conversation
    closed = (await factory.inbound(inbox.channel, contact="c-3", name="高橋 紀子")).conversation
    await workflow.assign(
        ctx, conversation_id=mine.id, member_id=inbox.member.id, actor=inbox.member
    )
    await workflow.close(ctx, conversation_id=closed.id, actor=inbox.member)

    page = (await client.get("/", headers=HTML)).text
    for label in ("一覧", "未確認", "自分の担当", "担当者なし", "スヌーズ中", "終了", "非表示中"):
        assert f">{label}<" in page or f">{label}<span" in page, label

    def rows(html: str) -> set[int]:
        return {int(found) for found in re.findall(r'id="row-(\d+)"', html)}

    async def view(name: str) -> set[int]:
        return rows((await client.get(f"/ui/list?view={name}", headers=HTMX)).text)

    assert await view("all") == {mine.id, other.id}
    assert await view("mine") == {mine.id}
    assert await view("unassigned") == {other.id}
    assert await view("closed") == {closed.id}
    assert await view("snoozed") == set()
    # The view stays in the address of a page and of the links that keep it.
    kept = (await client.get("/?view=mine", headers=HTML)).text
    assert 'class="tab tab--mine" href="/?view=mine" aria-current="true"' in kept
    assert rows(kept) == {mine.id}
    assert re.search(r'class="row-assignee"[^>]*title="担当者：店長"', kept)  # names its assignee


async def test_the_memo_in_the_panel_counts_to_500_and_keeps_the_stored_one_on_refusal(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    cid = inbox.conversation_id
    page = (await client.get(f"/c/{cid}", headers=HTML)).text
    assert "この問い合わせ" in page and "0 / 500" in page
    saved = await client.post(
        ui(cid, "memo"), data={"memo": "ブリーチ希望。", "answer": "team"}, headers=HTMX
    )
    assert saved.status_code == 200 and "ブリーチ希望。" in saved.text and "7 / 500" in saved.text
    refused = await client.post(
        ui(cid, "memo"), data={"memo": "い" * 501, "answer": "team"}, headers=HTMX
    )
    assert refused.status_code == 422 and refused.text == "問い合わせメモは500文字までです。"
    assert (await item(client, cid))["memo"] == "ブリーチ希望。"
    tag = (await client.post("/api/v1/conversation-tags", json={"name": "カラー"})).json()
    tagged = await client.post(
        ui(cid, "tags"), data={"tag": str(tag["id"]), "answer": "team"}, headers=HTMX
    )
    assert tagged.status_code == 200
    assert [t["name"] for t in (await detail(client, cid))["tags"]] == ["カラー"]


# --- the composer: images, templates, actions -------------------------------------------------


async def test_images_are_checked_by_content_and_at_most_three_go_with_a_reply(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    cid = inbox.conversation_id
    disguised = await client.post(
        "/ui/files", files={"file": ("photo.jpg", b"this is not a picture", "image/jpeg")}
    )
    assert disguised.status_code == 422
    assert disguised.text == "このファイルはJPEG・PNG・GIF・WebPの画像ではありません。"
    uploaded = []
    for shade in range(4):
        answer = await client.post(
            "/ui/files", files={"file": (f"p{shade}.png", png((shade * 60, 80, 90)), "image/png")}
        )
        assert answer.status_code == 201, answer.text
        uploaded.append(answer.json())
    assert uploaded[0]["thumbnail_url"] == f"/files/{uploaded[0]['id']}/thumbnail"

    four = await client.post(
        ui(cid, "messages"),
        data={"text": "", "kind": "reply", "image_ids": [str(i["id"]) for i in uploaded]},
        headers=HTMX,
    )
    assert four.status_code == 422 and "3枚まで" in four.text  # the service's sentence
    three = await client.post(
        ui(cid, "messages"),
        data={
            "text": "仕上がりです",
            "kind": "reply",
            "image_ids": [str(i["id"]) for i in uploaded[:3]],
        },
        headers=HTMX,
    )
    assert three.status_code == 200
    assert three.text.count('class="message-image"') == 3 and "data-viewer" in three.text
    assert f'src="/files/{uploaded[0]["id"]}/thumbnail"' in three.text
    stored = (await messages(client, cid))[-1]
    assert [i["id"] for i in stored["images"]] == [i["id"] for i in uploaded[:3]]
    assert (await client.get(f"/files/{uploaded[0]['id']}")).status_code == 200


async def test_a_template_is_inserted_filled_in_or_sent_at_once(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    picture = await files.upload_image(ctx, data=png(), name="map.png")
    template = await templates.create_template(
        ctx,
        name="予約の確認",
        text="{name}様、ご予約ありがとうございます。担当の{staff}です。",
        folder="予約",
        image_ids=[picture.id],
    )
    await templates.create_template(ctx, name="お礼", text="ありがとうございました。")
    cid = inbox.conversation_id

    picker = await client.get(ui(cid, "templates"), headers=HTMX)
    assert picker.status_code == 200
    for text in (
        "テンプレートを検索",
        "予約",
        "予約の確認",
        "お礼",
        "フォルダなし",
        "挿入",
        "送信",
    ):
        assert text in picker.text, text

    filled = await client.get(ui(cid, f"templates/{template.id}"), headers=HTMX)
    assert filled.json() == {
        "text": "佐藤 美咲様、ご予約ありがとうございます。担当の店長です。",
        "images": [
            {
                "id": picture.id,
                "thumbnail_url": f"/files/{picture.id}/thumbnail",
                "url": f"/files/{picture.id}",
                "name": "map.png",
            }
        ],
    }
    before = len(await messages(client, cid))
    assert len(await messages(client, cid)) == before  # inserting sends nothing

    sent = await client.post(ui(cid, f"templates/{template.id}/send"), headers=HTMX)
    assert sent.status_code == 200 and "担当の店長です。" in sent.text
    last = (await messages(client, cid))[-1]
    assert last["kind"] == "reply" and last["text"].startswith("佐藤 美咲様")
    assert [i["id"] for i in last["images"]] == [picture.id]


async def test_an_action_runs_every_step_or_none_with_the_reason(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    welcome = await macros.create_action(
        ctx,
        name="初回来店のお礼",
        steps=[
            {"type": "add_tags", "tag_ids": [vip.id]},
            {"type": "send_text", "text": "ご来店ありがとうございました！"},
        ],
    )
    cid, contact_id = inbox.conversation_id, inbox.contact_id
    listed = await client.get(ui(cid, "actions"), headers=HTMX)
    for text in (
        "初回来店のお礼",
        "タグ「VIP」を追加",
        "「ご来店ありがとうございました！」を送信",
        "実行",
    ):
        assert text in listed.text, text

    # On Instagram after its 24 hours the message step cannot run: the tag is not added either.
    instagram = await channels.create_channel(
        ctx, kind="instagram", name="@salon", settings={"api_base": "http://127.0.0.1:9"}
    )
    late = (await factory.inbound(instagram, contact="ig-1", name="haru", text="DM")).conversation
    late.last_inbound_at = datetime.now(UTC) - timedelta(hours=30)
    await ctx.db.commit()
    before = len(await messages(client, late.id))
    failed = await client.post(ui(late.id, f"actions/{welcome.id}/run"), headers=HTMX)
    assert failed.status_code == 422
    assert failed.text.startswith("Instagram では、お客様の最後のメッセージから24時間以内")
    assert (await client.get(f"/api/v1/contacts/{late.contact_id}")).json()["tags"] == []
    assert len(await messages(client, late.id)) == before

    ran = await client.post(ui(cid, f"actions/{welcome.id}/run"), headers=HTMX)
    assert ran.status_code == 200
    assert "「初回来店のお礼」を実行しました" in ran.text
    assert "madoguchi:contact-updated" in ran.headers["hx-trigger-after-settle"]
    contact = (await client.get(f"/api/v1/contacts/{contact_id}")).json()
    assert [t["name"] for t in contact["tags"]] == ["VIP"]
    assert (await messages(client, cid))[-1]["text"] == "ご来店ありがとうございました！"


# --- 送信予約 -----------------------------------------------------------------------------------


async def test_scheduled_messages_three_at_most_edit_and_cancel(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    contact_id = inbox.contact_id
    base = f"/ui/contacts/{contact_id}/scheduled"
    tomorrow = datetime.now(TOKYO) + timedelta(days=1)

    form = await client.get(f"{base}/new", headers=HTMX)
    assert form.status_code == 200 and "送信日時（日本時間）" in form.text
    picture = (await client.post("/ui/files", files={"file": ("a.png", png(), "image/png")})).json()
    for hour in (10, 11, 12):
        data: dict[str, Any] = {
            "text": f"明日{hour}時のご予約のリマインドです",
            "at": tomorrow.replace(hour=hour, minute=0).strftime("%Y-%m-%dT%H:%M"),
            "place": "chat",
        }
        if hour == 10:
            data["image_ids"] = str(picture["id"])
        created = await client.post(base, data=data, headers=HTMX)
        assert created.status_code == 200, created.text
    assert "3 / 3" in created.text and "disabled" in created.text
    fourth = await client.post(
        base,
        data={"text": "4通目", "at": tomorrow.replace(hour=13).strftime("%Y-%m-%dT%H:%M")},
        headers=HTMX,
    )
    assert fourth.status_code == 422
    assert fourth.text == (
        "送信予約は1人のお客様につき3件までです。どれかを取り消してから予約してください。"
    )

    waiting = (await client.get(f"/api/v1/contacts/{contact_id}/scheduled-messages")).json()[
        "items"
    ]
    assert [s["text"][:5] for s in waiting] == ["明日10時"[:5], "明日11時"[:5], "明日12時"[:5]]
    assert waiting[0]["image_ids"] == [picture["id"]]
    first = waiting[0]["id"]
    edit = await client.get(f"{base}/{first}/edit", headers=HTMX)
    assert "送信予約を編集" in edit.text and f'value="{picture["id"]}"' in edit.text
    edited = await client.post(
        f"{base}/{first}",
        data={
            "text": "時間変更のご連絡です",
            "at": tomorrow.replace(hour=9).strftime("%Y-%m-%dT%H:%M"),
        },
        headers=HTMX,
    )
    assert edited.status_code == 200 and "時間変更のご連絡です" in edited.text
    past = await client.post(
        f"{base}/{first}", data={"text": "過去", "at": "2020-01-01T09:00"}, headers=HTMX
    )
    assert past.status_code == 422 and past.text == "送信日時は未来の日時を指定してください。"

    cancelled = await client.post(f"{base}/{first}/cancel", headers=HTMX)
    assert cancelled.status_code == 200 and "2 / 3" in cancelled.text
    left = (await client.get(f"/api/v1/contacts/{contact_id}/scheduled-messages")).json()["items"]
    assert len(left) == 2 and first not in [s["id"] for s in left]
    page = (await client.get(f"/c/{inbox.conversation_id}", headers=HTML)).text
    assert "送信予約" in page and "明日11時のご予約のリマインドです" in page


# --- 永久削除 and the links --------------------------------------------------------------------


async def test_permanent_delete_needs_a_manager_and_the_typed_name(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    agent = await factory.member(name="あや", role="agent")
    cid = inbox.conversation_id
    dialog = await client.get(ui(cid, "delete"), headers=HTMX)
    for text in (
        "この問い合わせを永久に削除しますか？",
        "メッセージ 1件",
        "元に戻すことはできません",
        "「佐藤 美咲」または「削除」",
    ):
        assert text in dialog.text, text

    wrong = await client.post(ui(cid, "delete"), data={"confirm": "佐藤"}, headers=HTMX)
    assert wrong.status_code == 422
    assert wrong.text == "確認のため、お客様の名前（または「削除」）を正しく入力してください。"
    assert (await item(client, cid))["id"] == cid

    await sign_in(client, agent)
    assert "問い合わせを永久削除" not in (await client.get(f"/c/{cid}", headers=HTML)).text
    forbidden = await client.post(ui(cid, "delete"), data={"confirm": "佐藤 美咲"}, headers=HTMX)
    assert forbidden.status_code == 403
    assert forbidden.text == "この変更ができるのはオーナーと管理者だけです。"

    await sign_in(client, inbox.member)
    deleted = await client.post(ui(cid, "delete"), data={"confirm": "佐藤　美咲 "}, headers=HTMX)
    assert deleted.status_code == 200
    assert deleted.headers["hx-retarget"] == "#conversation-pane"
    assert "問い合わせを永久に削除しました。" in deleted.text
    assert (await client.get(f"/api/v1/conversations/{cid}")).status_code == 404


def test_the_confirmation_is_the_name_or_the_word() -> None:
    assert confirmed("佐藤 美咲", name="佐藤 美咲")
    assert confirmed(" 削除 ", name="佐藤 美咲")
    assert confirmed("ＤＥＬＥＴＥ", name="佐藤 美咲")
    assert not confirmed("", name="")
    assert not confirmed("佐藤", name="佐藤 美咲")


async def test_the_customer_link_is_made_shown_once_and_revoked(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    base = f"/ui/contacts/{inbox.contact_id}/customer-link"
    page = (await client.get(f"/c/{inbox.conversation_id}", headers=HTML)).text
    assert "スタッフ用リンクをコピー" in page and "お客様に送るリンク…" in page
    assert f'data-copy-path="/c/{inbox.conversation_id}"' in page
    empty = await client.get(base, headers=HTMX)
    assert "このお客様のリンクはまだ発行されていません。" in empty.text
    made = await client.post(base, headers=HTMX)
    assert made.status_code == 200
    [url] = re.findall(r'value="(http[^"]+/chat/[^"]+)"', made.text)
    token_path = url[url.index("/chat/") :]
    assert (await client.get(token_path)).status_code == 200
    again = await client.get(base, headers=HTMX)
    assert "発行したリンクが有効です" in again.text and token_path not in again.text
    revoked = await client.post(f"{base}/revoke", headers=HTMX)
    assert "リンクを無効にしました。" in revoked.text
    assert (await client.get(token_path)).status_code == 404


# --- what channels add to the thread ----------------------------------------------------------


async def test_a_failed_reply_shows_its_error_and_resend_puts_it_back_in_the_outbox(
    client: httpx.AsyncClient,
    factory: Factory,
    inbox: Inbox,
    settings: Settings,
    database: Database,
) -> None:
    line = await channels.create_channel(
        factory.ctx,
        kind="line",
        name="サロン公式LINE",
        settings={"channel_secret": "s", "access_token": "t", "api_base": "http://127.0.0.1:9"},
    )
    first = await factory.inbound(
        line, contact="U-line", name="LINEのお客様", text="予約できますか"
    )
    cid = first.conversation.id
    sent = await client.post(
        ui(cid, "messages"), data={"text": "はい、どうぞ", "kind": "reply"}, headers=HTMX
    )
    assert "送信中…" in sent.text
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    now = datetime.now(UTC)
    for hours in range(10):  # every retry fails: nothing listens there
        await worker.tick(now + timedelta(hours=hours * 2))
    reply = (await messages(client, cid))[-1]
    assert reply["delivery"] == "failed" and reply["delivery_error"]

    thread = await client.get(ui(cid, "messages"), headers=HTMX)
    assert "送信失敗" in thread.text and "再送" in thread.text
    assert f'hx-post="/ui/messages/{reply["id"]}/resend"' in thread.text
    resent = await client.post(f"/ui/messages/{reply['id']}/resend", headers=HTMX)
    assert resent.status_code == 200 and "送信中…" in resent.text and "再送" not in resent.text
    assert (await messages(client, cid))[-1]["delivery"] == "pending"
    again = await client.post(f"/ui/messages/{reply['id']}/resend", headers=HTMX)
    assert again.status_code == 422 and again.text == "再送できるのは送信に失敗した返信だけです。"


async def test_our_own_delivery_errors_read_in_japanese_and_a_channels_as_it_said(
    client: httpx.AsyncClient,
    factory: Factory,
    inbox: Inbox,
    database: Database,
    settings: Settings,
) -> None:
    line = await channels.create_channel(factory.ctx, kind="line", name="LINE（設定途中）")
    first = await factory.inbound(line, contact="U-new", name="お客様", text="こんにちは")
    cid = first.conversation.id
    await client.post(ui(cid, "messages"), data={"text": "ようこそ", "kind": "reply"}, headers=HTMX)
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    reply = (await messages(client, cid))[-1]
    assert (
        reply["delivery_error"] == "The LINE channel has no access token: set it in its settings."
    )
    thread = await client.get(ui(cid, "messages"), headers=HTMX)
    assert "LINEチャネルにアクセストークンが設定されていません。" in thread.text

    # A channel's own answer is shown as it came, even with a % in it.
    async with database.write_sessions() as session:
        stored = await session.get(Message, reply["id"])
        assert stored is not None
        stored.delivery_error = 'LINE push API: HTTP 400 {"message": "100% <b>bad</b>"}'
        await session.commit()
    thread = await client.get(ui(cid, "messages"), headers=HTMX)
    assert thread.status_code == 200
    assert "HTTP 400 {&#34;message&#34;: &#34;100% &lt;b&gt;bad&lt;/b&gt;&#34;}" in thread.text


async def test_instagram_shows_its_reply_window_and_after_it_only_notes(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    instagram = await channels.create_channel(
        factory.ctx,
        kind="instagram",
        name="@salon",
        settings={"app_secret": "s", "access_token": "t", "api_base": "http://127.0.0.1:9"},
    )
    first = await factory.inbound(instagram, contact="ig-1", name="haru_0312", text="DMです")
    cid = first.conversation.id
    ends = (await item(client, cid))["reply_until"]
    local = datetime.fromisoformat(ends).astimezone(TOKYO)
    page = (await client.get(f"/c/{cid}", headers=HTML)).text
    assert f"返信期限 {local.month}/{local.day} {local.hour}:{local.minute:02d} まで" in page
    assert 'data-reply-closed="false"' in page

    conversation = await factory.ctx.db.get(Conversation, cid)
    assert conversation is not None
    conversation.last_inbound_at = datetime.now(UTC) - timedelta(hours=25)
    await factory.ctx.db.commit()
    page = (await client.get(f"/c/{cid}", headers=HTML)).text
    assert "返信期限切れ" in page and 'data-reply-closed="true"' in page
    assert "24時間を過ぎると返信できません" in page
    assert re.search(r'value="reply"[^>]*disabled', page)
    refused = await client.post(
        ui(cid, "messages"), data={"text": "遅れてすみません", "kind": "reply"}, headers=HTMX
    )
    assert refused.status_code == 422
    assert refused.text.startswith("Instagram では、お客様の最後のメッセージから24時間以内")
    note = await client.post(
        ui(cid, "messages"), data={"text": "返信期限切れ", "kind": "note"}, headers=HTMX
    )
    assert note.status_code == 200


async def test_stickers_unreadable_messages_and_system_lines_read_in_japanese(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    ctx = factory.ctx
    for external_id, meta in (
        ("m-sticker", {"sticker": {"package_id": "446", "sticker_id": "1988"}}),
        ("m-image", {"image_error": "HTTP 404 from the content API"}),
        ("m-other", {"unsupported": "location"}),
    ):
        await inbound.receive(
            ctx,
            inbound.Inbound(
                channel_id=inbox.channel.id,
                kind=inbox.channel.kind,
                sender="c-1",
                name="佐藤 美咲",
                message_id=external_id,
                meta=meta,
            ),
        )
    cid = inbox.conversation_id
    await workflow.close(ctx, conversation_id=cid, actor=inbox.member)
    await workflow.reopen(ctx, conversation_id=cid, actor=inbox.member)
    page = (await client.get(f"/c/{cid}", headers=HTML)).text
    assert ">スタンプ</span>" in page
    assert "画像を受け取れませんでした" in page and 'title="HTTP 404 from the content API"' in page
    assert "表示できない種類のメッセージです（location）" in page
    assert "店長さんが問い合わせを終了しました" in page
    assert "店長さんが問い合わせを再開しました" in page
    assert "closed this conversation" not in page
