"""Team workflow through the API: assignee and followers, notes with @mentions, close and
reopen, snooze and wake, templates, images, scheduled messages, actions, permanent delete."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from madoguchi.channels.models import Channel
from madoguchi.config import Settings
from madoguchi.conversations.models import Message, ScheduledMessage
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.members.models import Member
from tests.fixtures import Factory, auth


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner", name="店長 彩")


@pytest.fixture
async def token(factory: Factory, owner: Member) -> str:
    return await factory.token(owner)


@pytest.fixture
async def channel(factory: Factory) -> Channel:
    return await factory.channel()


def png(width: int = 40, height: int = 30, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 80)).save(out, format=fmt)
    return out.getvalue()


async def thread(client: httpx.AsyncClient, token: str, conversation_id: int) -> list[dict]:
    response = await client.get(
        f"/api/v1/conversations/{conversation_id}/messages", headers=auth(token)
    )
    return response.json()["items"]


async def view(client: httpx.AsyncClient, token: str, name: str) -> list[int]:
    response = await client.get("/api/v1/conversations", params={"view": name}, headers=auth(token))
    return [item["id"] for item in response.json()["items"]]


async def test_become_assignee_or_follow_and_mentions(
    client: httpx.AsyncClient, token: str, factory: Factory, channel: Channel, owner: Member
) -> None:
    kenta = await factory.member(name="健太")
    misaki = await factory.member(name="美咲")
    kenta_token = await factory.token(kenta)
    conversation_id = (await factory.inbound(channel)).conversation.id
    url = f"/api/v1/conversations/{conversation_id}"

    taken = await client.post(f"{url}/become-assignee", headers=auth(token))
    assert taken.json()["assignee_id"] == owner.id
    assert conversation_id in await view(client, token, "mine")
    assert conversation_id not in await view(client, token, "unassigned")
    refused = await client.post(f"{url}/become-assignee", headers=auth(kenta_token))
    assert refused.status_code == 409
    assert "店長 彩" in refused.json()["detail"]
    await client.post(f"{url}/follow", headers=auth(kenta_token))

    note = await client.post(
        f"{url}/messages",
        json={"text": "@美咲 さん、明日の予約お願いします", "kind": "note"},
        headers=auth(token),
    )
    assert note.status_code == 201
    detail = (await client.get(f"{url}/detail", headers=auth(token))).json()
    assert [f["name"] for f in detail["followers"]] == ["健太", "美咲"]
    assert detail["member_link"].endswith(f"/c/{conversation_id}")
    misaki_token = await factory.token(misaki)
    notes = (await client.get("/api/v1/notifications", headers=auth(misaki_token))).json()["items"]
    assert [(n["kind"], n["conversation_id"]) for n in notes] == [("mentioned", conversation_id)]

    handed = await client.post(f"{url}/assign", json={"member_id": kenta.id}, headers=auth(token))
    assert handed.json()["assignee_id"] == kenta.id
    kenta_notes = (await client.get("/api/v1/notifications", headers=auth(kenta_token))).json()[
        "items"
    ]
    assert kenta_notes[0]["kind"] == "assigned"
    system = [
        m["meta"]["event"]
        for m in await thread(client, token, conversation_id)
        if m["kind"] == "system"
    ]
    assert system == ["self_assigned", "followed", "assigned"]
    unknown = await client.post(f"{url}/assign", json={"member_id": 999}, headers=auth(token))
    assert unknown.status_code == 404


async def test_close_with_tags_and_memo_then_any_message_reopens(
    client: httpx.AsyncClient, token: str, factory: Factory, channel: Channel
) -> None:
    conversation_id = (await factory.inbound(channel, contact="u")).conversation.id
    url = f"/api/v1/conversations/{conversation_id}"
    tag = (
        await client.post("/api/v1/conversation-tags", json={"name": "予約"}, headers=auth(token))
    ).json()

    too_long = await client.post(f"{url}/close", json={"memo": "あ" * 501}, headers=auth(token))
    assert too_long.status_code == 422
    assert (await client.get(url, headers=auth(token))).json()["state"] == "open"

    closed = await client.post(
        f"{url}/close",
        json={"tag_ids": [tag["id"]], "memo": "12/3 15時 カット予約済み"},
        headers=auth(token),
    )
    assert (
        closed.json()["state"] == "closed" and closed.json()["memo"] == "12/3 15時 カット予約済み"
    )
    assert conversation_id in await view(client, token, "closed")
    assert conversation_id not in await view(client, token, "all")
    detail = (await client.get(f"{url}/detail", headers=auth(token))).json()
    assert [t["name"] for t in detail["tags"]] == ["予約"]

    await factory.inbound(channel, contact="u", text="やっぱり時間を変えたいです")
    assert (await client.get(url, headers=auth(token))).json()["state"] == "open"

    await client.post(f"{url}/close", headers=auth(token))
    await client.post(f"{url}/messages", json={"text": "ご連絡です"}, headers=auth(token))
    assert (await client.get(url, headers=auth(token))).json()["state"] == "open"
    await client.post(f"{url}/close", headers=auth(token))
    reopened = await client.post(f"{url}/reopen", headers=auth(token))
    assert reopened.json()["state"] == "open"


async def test_snooze_wakes_at_its_time_or_when_the_customer_writes(
    client: httpx.AsyncClient,
    token: str,
    factory: Factory,
    channel: Channel,
    settings: Settings,
    database: Database,
) -> None:
    first = (await factory.inbound(channel, contact="a")).conversation.id
    second = (await factory.inbound(channel, contact="b")).conversation.id
    now = datetime.now(UTC)
    past = await client.post(
        f"/api/v1/conversations/{first}/snooze",
        json={"until": (now - timedelta(minutes=1)).isoformat()},
        headers=auth(token),
    )
    assert past.status_code == 422
    assert past.json()["detail"] == "The snooze time must be in the future."
    for conversation_id in (first, second):
        snoozed = await client.post(
            f"/api/v1/conversations/{conversation_id}/snooze",
            json={"until": (now + timedelta(hours=1)).isoformat()},
            headers=auth(token),
        )
        assert snoozed.json()["state"] == "snoozed"
    assert sorted(await view(client, token, "snoozed")) == sorted([first, second])
    assert await view(client, token, "all") == []

    await factory.inbound(channel, contact="b", text="お返事です")
    assert await view(client, token, "snoozed") == [first]

    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    assert (await worker.tick(now + timedelta(minutes=30))).woke == 0
    assert (await worker.tick(now + timedelta(hours=1, seconds=1))).woke == 1
    assert await view(client, token, "snoozed") == []
    events = [
        m["meta"]["event"] for m in await thread(client, token, first) if m["kind"] == "system"
    ]
    assert events == ["snoozed", "woke"]


async def test_templates_fill_placeholders_and_send_with_images(
    client: httpx.AsyncClient, token: str, factory: Factory, channel: Channel, ctx: Ctx
) -> None:
    from madoguchi.crm import records

    ingested = await factory.inbound(channel, name="佐藤 美咲")
    await records.create_book(ctx, name="施術履歴", fields=[])
    await records.create_record(
        ctx,
        contact_id=ingested.conversation.contact_id,
        book="施術履歴",
        at=datetime.now(UTC) - timedelta(days=30),
        values_={},
        author=None,
    )
    image = (
        await client.post(
            "/api/v1/files", files={"file": ("a.png", png(), "image/png")}, headers=auth(token)
        )
    ).json()
    created = await client.post(
        "/api/v1/templates",
        json={
            "name": "来店お礼",
            "text": "{name}様、{days_since_last_visit}日ぶりのご来店ありがとうございました。"
            "{unknown}",
            "folder": "お礼",
            "image_ids": [image["id"]],
        },
        headers=auth(token),
    )
    assert created.status_code == 201, created.text
    too_long = await client.post(
        "/api/v1/templates", json={"name": "長い", "text": "あ" * 1001}, headers=auth(token)
    )
    assert too_long.status_code == 422
    template_id = created.json()["id"]
    preview = await client.get(
        f"/api/v1/templates/{template_id}/preview",
        params={"conversation_id": ingested.conversation.id},
        headers=auth(token),
    )
    assert (
        preview.json()["text"] == "佐藤 美咲様、30日ぶりのご来店ありがとうございました。{unknown}"
    )
    sent = await client.post(
        f"/api/v1/conversations/{ingested.conversation.id}/messages",
        json={"template_id": template_id},
        headers=auth(token),
    )
    assert sent.status_code == 201
    assert sent.json()["text"].startswith("佐藤 美咲様、30日ぶり")
    assert [i["id"] for i in sent.json()["images"]] == [image["id"]]
    folders = (await client.get("/api/v1/template-folders", headers=auth(token))).json()["items"]
    assert [f["name"] for f in folders] == ["お礼"]


async def test_images_are_checked_by_content_and_size(
    client: httpx.AsyncClient, token: str, factory: Factory, channel: Channel
) -> None:
    conversation_id = (await factory.inbound(channel)).conversation.id
    uploads = []
    for fmt, name in (("PNG", "a.png"), ("JPEG", "b.jpg"), ("GIF", "c.gif"), ("WEBP", "d.webp")):
        response = await client.post(
            "/api/v1/files",
            files={"file": (name, png(fmt=fmt), "application/octet-stream")},
            headers=auth(token),
        )
        assert response.status_code == 201, (fmt, response.text)
        uploads.append(response.json())
    assert uploads[1]["content_type"] == "image/jpeg" and uploads[0]["width"] == 40

    disguised = await client.post(
        "/api/v1/files",
        files={"file": ("photo.jpg", b"MZ\x90\x00 not an image", "image/jpeg")},
        headers=auth(token),
    )
    assert disguised.status_code == 422
    assert disguised.json()["detail"] == "This file is not a JPEG, PNG, GIF or WebP image."
    huge = await client.post(
        "/api/v1/files",
        files={"file": ("big.png", b"\x89PNG" + b"0" * (10 * 1024 * 1024), "image/png")},
        headers=auth(token),
    )
    assert huge.status_code == 422 and "10 MB" in huge.json()["detail"]

    url = f"/api/v1/conversations/{conversation_id}/messages"
    four = await client.post(
        url, json={"image_ids": [u["id"] for u in uploads]}, headers=auth(token)
    )
    assert four.status_code == 422
    before = len(await thread(client, token, conversation_id))
    three = await client.post(
        url,
        json={"text": "仕上がりです", "image_ids": [u["id"] for u in uploads[:3]]},
        headers=auth(token),
    )
    assert three.status_code == 201
    assert len(await thread(client, token, conversation_id)) == before + 1
    only_image = await client.post(url, json={"image_ids": [uploads[3]["id"]]}, headers=auth(token))
    assert only_image.status_code == 201 and only_image.json()["text"] == ""

    full = await client.get(three.json()["images"][0]["url"], headers=auth(token))
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    assert full.content == png(fmt="PNG")
    thumb = await client.get(three.json()["images"][0]["thumbnail_url"], headers=auth(token))
    assert thumb.headers["content-type"] == "image/jpeg"
    assert (await client.get(three.json()["images"][0]["url"])).status_code == 401


async def test_scheduled_messages_limit_edit_cancel_and_exactly_once(
    client: httpx.AsyncClient,
    token: str,
    factory: Factory,
    channel: Channel,
    settings: Settings,
    database: Database,
) -> None:
    ingested = await factory.inbound(channel)
    contact_id, conversation_id = ingested.conversation.contact_id, ingested.conversation.id
    url = f"/api/v1/contacts/{contact_id}/scheduled-messages"
    now = datetime.now(UTC)
    ids = []
    for hours in (1, 2, 3):
        created = await client.post(
            url,
            json={
                "text": f"{hours}時間後のご案内",
                "at": (now + timedelta(hours=hours)).isoformat(),
            },
            headers=auth(token),
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    fourth = await client.post(
        url,
        json={"text": "4通目", "at": (now + timedelta(hours=4)).isoformat()},
        headers=auth(token),
    )
    assert fourth.status_code == 422
    assert "at most 3" in fourth.json()["detail"]
    past = await client.post(
        url,
        json={"text": "過去", "at": (now - timedelta(hours=1)).isoformat()},
        headers=auth(token),
    )
    assert past.status_code == 422

    edited = await client.patch(
        f"/api/v1/scheduled-messages/{ids[1]}", json={"text": "変更後"}, headers=auth(token)
    )
    assert edited.json()["text"] == "変更後"
    assert (
        await client.delete(f"/api/v1/scheduled-messages/{ids[2]}", headers=auth(token))
    ).status_code == 204
    listing = (await client.get(url, headers=auth(token))).json()["items"]
    assert [s["id"] for s in listing] == ids[:2]
    again = await client.delete(f"/api/v1/scheduled-messages/{ids[2]}", headers=auth(token))
    assert again.status_code == 422

    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    assert (await worker.tick(now + timedelta(minutes=59))).sent == 0
    assert (await worker.tick(now + timedelta(hours=1, minutes=1))).sent == 1
    # A restarted worker (a new one) at a later time sends the next, never the first again.
    restarted = Worker(settings=settings, database=database, bus=InProcessBus())
    assert (await restarted.tick(now + timedelta(hours=5))).sent == 1
    assert (await restarted.tick(now + timedelta(hours=6))).sent == 0
    texts = [
        m["text"] for m in await thread(client, token, conversation_id) if m["kind"] == "reply"
    ]
    assert texts == ["1時間後のご案内", "変更後"]
    done = (await client.get(url, params={"include_done": True}, headers=auth(token))).json()[
        "items"
    ]
    assert [s["state"] for s in done] == ["sent", "sent", "cancelled"]
    edit_sent = await client.patch(
        f"/api/v1/scheduled-messages/{ids[0]}", json={"text": "x"}, headers=auth(token)
    )
    assert edit_sent.status_code == 422


async def test_a_damaged_or_enormous_image_is_refused_and_leaves_no_file(
    client: httpx.AsyncClient, token: str, settings: Settings
) -> None:
    def stored_files() -> list[Path]:
        return sorted(p for p in settings.files_dir.rglob("*") if p.is_file())

    before = stored_files()
    whole = png(400, 300, fmt="JPEG")
    cut = await client.post(
        "/api/v1/files",
        files={"file": ("cut.jpg", whole[: len(whole) // 2], "image/jpeg")},
        headers=auth(token),
    )
    assert cut.status_code == 422
    assert cut.json()["detail"] == "This image is damaged or incomplete."
    bitmap = io.BytesIO()
    Image.new("1", (8000, 6000)).save(bitmap, format="PNG")  # small file, 48 megapixels
    enormous = await client.post(
        "/api/v1/files",
        files={"file": ("wide.png", bitmap.getvalue(), "image/png")},
        headers=auth(token),
    )
    assert enormous.status_code == 422
    assert enormous.json()["detail"] == "An image can be at most 40 megapixels."
    assert stored_files() == before


async def test_two_workers_send_every_scheduled_message_exactly_once(
    ctx: Ctx, factory: Factory, channel: Channel, settings: Settings, database: Database
) -> None:
    from madoguchi.conversations import scheduled

    now = datetime.now(UTC)
    for n in range(30):
        ingested = await factory.inbound(channel, contact=f"c{n}")
        for k in range(2):
            await scheduled.schedule(
                ctx,
                contact_id=ingested.conversation.contact_id,
                text=f"案内 {n}-{k}",
                at=now + timedelta(minutes=1),
                author=None,
            )
    await ctx.db.rollback()
    workers = [Worker(settings=settings, database=database, bus=InProcessBus()) for _ in range(2)]
    later = now + timedelta(minutes=2)
    results = await asyncio.gather(*[w.tick(later) for w in workers for _ in range(3)])
    assert sum(r.sent for r in results) == 60
    async with database.read_sessions() as session:
        replies = await session.scalar(select(func.count()).where(Message.kind == "reply"))
        distinct = await session.scalar(
            select(func.count(func.distinct(ScheduledMessage.message_id)))
        )
    assert replies == 60 and distinct == 60


async def test_actions_run_all_steps_or_none(
    client: httpx.AsyncClient, token: str, factory: Factory, channel: Channel, owner: Member
) -> None:
    ingested = await factory.inbound(channel)
    contact_id = ingested.conversation.contact_id
    vip = (await client.post("/api/v1/tags", json={"name": "VIP"}, headers=auth(token))).json()
    await client.post(
        "/api/v1/fields",
        json={"key": "rank", "label": "ランク", "type": "number"},
        headers=auth(token),
    )
    action = await client.post(
        "/api/v1/actions",
        json={
            "name": "VIP対応",
            "steps": [
                {"type": "add_tags", "tag_ids": [vip["id"]]},
                {"type": "set_field", "key": "rank", "value": 1},
                {"type": "set_status", "status": "対応中"},
                {"type": "assign", "member_id": owner.id},
                {"type": "send_text", "text": "いつもありがとうございます"},
            ],
        },
        headers=auth(token),
    )
    assert action.status_code == 201, action.text
    ran = await client.post(
        f"/api/v1/actions/{action.json()['id']}/run",
        json={"contact_id": contact_id},
        headers=auth(token),
    )
    assert ran.status_code == 204
    contact = (await client.get(f"/api/v1/contacts/{contact_id}", headers=auth(token))).json()
    assert [t["name"] for t in contact["tags"]] == ["VIP"]
    assert contact["fields"] == {"rank": 1} and contact["status"]["name"] == "対応中"
    assert (
        await client.get(f"/api/v1/conversations/{ingested.conversation.id}", headers=auth(token))
    ).json()["assignee_id"] == owner.id

    # A step that cannot run undoes the ones before it: a hand-added contact has no conversation.
    other = (
        await client.post("/api/v1/contacts", json={"display_name": "手入力"}, headers=auth(token))
    ).json()["id"]
    failing = await client.post(
        "/api/v1/actions",
        json={
            "name": "壊れる",
            "steps": [
                {"type": "add_tags", "tag_ids": [vip["id"]]},
                {"type": "send_text", "text": "こんにちは"},
            ],
        },
        headers=auth(token),
    )
    assert failing.status_code == 201
    broke = await client.post(
        f"/api/v1/actions/{failing.json()['id']}/run",
        json={"contact_id": other},
        headers=auth(token),
    )
    assert broke.status_code == 422
    assert (await client.get(f"/api/v1/contacts/{other}", headers=auth(token))).json()["tags"] == []
    wrong_value = await client.post(
        "/api/v1/actions",
        json={
            "name": "型違い",
            "steps": [{"type": "set_field", "key": "rank", "value": "たくさん"}],
        },
        headers=auth(token),
    )
    assert wrong_value.status_code == 422
    bad = await client.post(
        "/api/v1/actions", json={"name": "x", "steps": [{"type": "launch"}]}, headers=auth(token)
    )
    assert bad.status_code == 422


async def test_permanent_delete_removes_everything_and_leaves_an_audit_entry(
    client: httpx.AsyncClient, token: str, factory: Factory, channel: Channel, settings: Settings
) -> None:
    ingested = await factory.inbound(channel, text="削除される予定のメッセージ")
    conversation_id, contact_id = ingested.conversation.id, ingested.conversation.contact_id

    def files_on_disk() -> set[str]:
        return {str(p) for p in settings.files_dir.rglob("*") if p.is_file()}

    before = files_on_disk()
    image = (
        await client.post(
            "/api/v1/files", files={"file": ("a.png", png(), "image/png")}, headers=auth(token)
        )
    ).json()
    await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"text": "画像", "image_ids": [image["id"]]},
        headers=auth(token),
    )
    stored = files_on_disk() - before
    assert len(stored) == 2  # the image and its thumbnail
    await client.post(
        f"/api/v1/contacts/{contact_id}/scheduled-messages",
        json={"text": "後で", "at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        headers=auth(token),
    )

    agent_token = await factory.token(await factory.member(role="agent"))
    assert (
        await client.delete(f"/api/v1/conversations/{conversation_id}", headers=auth(agent_token))
    ).status_code == 403
    deleted = await client.delete(f"/api/v1/conversations/{conversation_id}", headers=auth(token))
    assert deleted.status_code == 204
    assert (
        await client.get(f"/api/v1/conversations/{conversation_id}", headers=auth(token))
    ).status_code == 404
    assert (await client.get(image["url"], headers=auth(token))).status_code == 404
    assert not stored & files_on_disk()
    search = await client.get(
        "/api/v1/conversations", params={"q": "削除される予定"}, headers=auth(token)
    )
    assert search.json()["items"] == []
    assert (
        await client.get(f"/api/v1/contacts/{contact_id}/scheduled-messages", headers=auth(token))
    ).json()["items"] == []
    entries = (await client.get("/api/v1/audit", headers=auth(token))).json()["items"]
    [entry] = [e for e in entries if e["kind"] == "conversation.deleted"]
    assert entry["actor"] == {"kind": "member", "id": entry["actor"]["id"], "name": "店長 彩"}
    assert entry["detail"]["conversation_id"] == conversation_id


async def test_uploads_nothing_uses_are_swept_after_a_day(
    client: httpx.AsyncClient, token: str, factory: Factory, channel: Channel, ctx: Ctx
) -> None:
    from madoguchi.files import service as files

    conversation_id = (await factory.inbound(channel)).conversation.id
    sent, kept, abandoned = [
        (
            await client.post(
                "/api/v1/files",
                files={"file": (f"{n}.png", png(20 + n), "image/png")},
                headers=auth(token),
            )
        ).json()
        for n in range(3)
    ]
    await client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"image_ids": [sent["id"]]},
        headers=auth(token),
    )
    await client.post(
        "/api/v1/templates",
        json={"name": "写真", "text": "", "image_ids": [kept["id"]]},
        headers=auth(token),
    )
    assert await files.sweep_unused(ctx, now=datetime.now(UTC)) == 0  # too young yet
    assert await files.sweep_unused(ctx, now=datetime.now(UTC) + timedelta(days=2)) == 1
    assert (await client.get(abandoned["url"], headers=auth(token))).status_code == 404
    for still in (sent, kept):
        assert (await client.get(still["url"], headers=auth(token))).status_code == 200


async def test_name_in_a_template_leaves_out_the_staff_prefix(ctx: Ctx, factory: Factory) -> None:
    from madoguchi.automation import templates
    from madoguchi.contacts import service as contacts

    channel = await factory.channel()
    ingested = await factory.inbound(channel, name="田中 陽子")
    await contacts.rename_contact(
        ctx, contact_id=ingested.conversation.contact_id, display_name="【美咲】田中 陽子"
    )
    template = await templates.create_template(ctx, name="確認", text="{name}様、{staff}です")
    staff = await factory.member(name="美咲")
    filled = await templates.preview(
        ctx, template_id=template.id, conversation_id=ingested.conversation.id, member=staff
    )
    assert filled.text == "田中 陽子様、美咲です"
