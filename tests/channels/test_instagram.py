"""Instagram DMs through the real wire format: hub.challenge, X-Hub-Signature-256, the Send API."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from madoguchi.channels.models import Channel, OutboxEntry
from madoguchi.config import Settings
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, Message
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.channels.conftest import Recorder
from tests.fixtures import Factory, auth

APP_SECRET = "meta-app-secret"


@pytest.fixture
async def instagram(ctx: Ctx, recorder: Recorder) -> Channel:
    from madoguchi.channels import service as channels

    return await channels.create_channel(
        ctx,
        kind="instagram",
        name="Instagram @lumiere",
        settings={
            "app_secret": APP_SECRET,
            "verify_token": "verify-me",
            "access_token": "IGTOKEN",
            "api_base": recorder.url,
        },
    )


def envelope(*messaging: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "object": "instagram",
            "entry": [{"id": "17841400000", "time": 1732500000, "messaging": list(messaging)}],
        },
        ensure_ascii=False,
    ).encode()


def dm(mid: str, text: str = "", sender: str = "IGSID1", **message: Any) -> dict[str, Any]:
    return {
        "sender": {"id": sender},
        "recipient": {"id": "17841400000"},
        "timestamp": 1732500000000,
        "message": {"mid": mid, **({"text": text} if text else {}), **message},
    }


async def post(
    client: httpx.AsyncClient, channel: Channel, body: bytes, secret: str = APP_SECRET
) -> httpx.Response:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return await client.post(
        f"/webhooks/instagram/{channel.id}",
        content=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )


async def test_subscription_check_answers_the_challenge_only_for_the_right_token(
    client: httpx.AsyncClient, instagram: Channel
) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": "verify-me",
        "hub.challenge": "1158201444",
    }
    ok = await client.get(f"/webhooks/instagram/{instagram.id}", params=params)
    assert ok.status_code == 200 and ok.text == "1158201444"
    wrong = await client.get(
        f"/webhooks/instagram/{instagram.id}", params={**params, "hub.verify_token": "nope"}
    )
    assert wrong.status_code == 403
    unknown = await client.get("/webhooks/instagram/999", params=params)
    assert unknown.status_code == 404


async def test_signed_messages_are_stored_echoes_and_forgeries_are_not(
    client: httpx.AsyncClient, instagram: Channel, recorder: Recorder, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    picture = io.BytesIO()
    Image.new("RGB", (20, 20), (255, 0, 0)).save(picture, format="PNG")
    recorder.answer("GET", "/cdn/photo.png", (200, picture.getvalue()), content_type="image/png")
    recorder.answer("GET", "/IGSID1", (200, {"username": "haru_0312", "name": "Haru"}))
    body = envelope(
        dm("m_1", "インスタ見て連絡しました！"),
        dm(
            "m_2",
            attachments=[{"type": "image", "payload": {"url": f"{recorder.url}/cdn/photo.png"}}],
        ),
        dm("m_3", "こちらからの返信", is_echo=True),
    )
    forged = await post(client, instagram, body, secret="other")
    assert forged.status_code == 401
    assert (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"] == []

    assert (await post(client, instagram, body)).status_code == 200
    assert (await post(client, instagram, body)).status_code == 200  # redelivered
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "haru_0312"
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert [m["text"] for m in messages] == ["インスタ見て連絡しました！", ""]
    assert messages[1]["images"][0]["width"] == 20
    [profile] = recorder.calls("GET", "/IGSID1")
    assert profile.query["access_token"] == "IGTOKEN"

    not_instagram = json.dumps({"object": "page", "entry": []}).encode()
    assert (await post(client, instagram, not_instagram)).status_code == 400


async def test_replies_go_by_the_send_api_within_the_24_hour_window(
    client: httpx.AsyncClient,
    instagram: Channel,
    recorder: Recorder,
    factory: Factory,
    settings: Settings,
    database: Database,
    ctx: Ctx,
) -> None:
    token = await factory.token(await factory.member())
    await post(client, instagram, envelope(dm("m_10", "予約できますか")))
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    recorder.answer(
        "POST", "/me/messages", (200, {"recipient_id": "IGSID1", "message_id": "m_out"})
    )
    reply = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "はい、空いています"},
        headers=auth(token),
    )
    assert reply.status_code == 201
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    [sent] = recorder.calls("POST", "/me/messages")
    assert sent.query["access_token"] == "IGTOKEN"
    assert sent.json() == {"recipient": {"id": "IGSID1"}, "message": {"text": "はい、空いています"}}

    await ctx.db.execute(
        update(Conversation)
        .where(Conversation.id == item["id"])
        .values(last_inbound_at=datetime.now(UTC) - timedelta(hours=25))
    )
    await ctx.db.commit()
    late = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "遅い返信"},
        headers=auth(token),
    )
    assert late.status_code == 422
    assert "24 hours" in late.json()["detail"]
    note = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "社内メモは書ける", "kind": "note"},
        headers=auth(token),
    )
    assert note.status_code == 201


async def stored(database: Database) -> tuple[int, int]:
    """How many messages and contacts there are."""
    async with database.read_sessions() as session:
        messages = await session.scalar(select(func.count()).select_from(Message))
        contacts = await session.scalar(select(func.count()).select_from(Contact))
        return int(messages or 0), int(contacts or 0)


def raw_body(*entries: Any) -> bytes:
    return json.dumps({"object": "instagram", "entry": list(entries)}).encode()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (raw_body({"messaging": [dm("m_ok", "先")]}, "x"), "entry[1]"),
        (envelope(dm("m_ok", "先"), {**dm("m_2", "x"), "sender": "S1"}), "messaging[1].sender"),
        (envelope(dm("m_ok", "先"), dm("m_2", attachments=["x"])), "attachments[0]"),
        (envelope(dm("m_ok", "先"), dm("m_2", attachments={"x": 1})), "message.attachments"),
        (envelope(dm("m_ok", "先"), {**dm("m_2"), "message": "str"}), "messaging[1].message"),
        (envelope(dm("m_ok", "先"), dm("m_2", "x", is_echo="yes")), "message.is_echo"),
        (envelope(dm("m_ok", "先"), dm("m_2", text=["x"])), "message.text"),
        (raw_body({"messaging": "x"}), "entry[0].messaging"),
        (json.dumps({"object": "instagram", "entry": {}}).encode(), "entry"),
        (b"[not json", "JSON"),
    ],
)
async def test_a_malformed_body_is_refused_whole_with_400_and_nothing_is_stored(
    client: httpx.AsyncClient,
    instagram: Channel,
    recorder: Recorder,
    database: Database,
    body: bytes,
    where: str,
) -> None:
    response = await post(client, instagram, body)
    assert response.status_code == 400
    assert where in response.json()["detail"]
    assert await stored(database) == (0, 0)
    assert recorder.requests == []


async def test_well_formed_events_without_a_message_are_ignored(
    client: httpx.AsyncClient, instagram: Channel, database: Database
) -> None:
    read = {"sender": {"id": "IGSID1"}, "recipient": {"id": "1"}, "read": {"mid": "m_1"}}
    reaction = {"sender": {"id": "IGSID1"}, "reaction": {"mid": "m_1", "action": "react"}}
    body = raw_body({"id": "1", "messaging": [read, reaction]}, {"id": "1", "changes": []})
    assert (await post(client, instagram, body)).status_code == 200
    assert await stored(database) == (0, 0)


async def test_a_profile_answer_that_is_not_json_leaves_the_igsid_as_name(
    client: httpx.AsyncClient, instagram: Channel, recorder: Recorder, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    recorder.answer("GET", "/IGSID1", (200, b"<html>oops</html>"), content_type="text/html")
    assert (await post(client, instagram, envelope(dm("m_20", "こんにちは")))).status_code == 200
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "IGSID1"
    assert item["contact"]["avatar_url"] is None


async def test_the_contacts_picture_comes_from_the_profile(
    client: httpx.AsyncClient, instagram: Channel, recorder: Recorder, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    picture = "https://scontent.cdninstagram.com/v/t51/haru.jpg?oh=1"
    recorder.answer(
        "GET", "/IGSID1", (200, {"username": "haru_0312", "name": "Haru", "profile_pic": picture})
    )
    assert (await post(client, instagram, envelope(dm("m_30", "はじめまして")))).status_code == 200
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "haru_0312"
    assert item["contact"]["avatar_url"] == picture
    [profile] = recorder.calls("GET", "/IGSID1")
    assert profile.query["fields"] == "name,username,profile_pic"


async def test_a_text_over_the_limit_is_kept_shortened_with_the_rest_of_the_body(
    client: httpx.AsyncClient, instagram: Channel, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    body = envelope(dm("m_40", "あ" * 5001), dm("m_41", "次のメッセージ"))
    assert (await post(client, instagram, body)).status_code == 200
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert [len(m["text"]) for m in messages] == [5000, 7]
    assert messages[0]["meta"] == {"truncated_from": 5001}


async def test_a_reply_with_images_sends_each_image_and_a_retry_skips_what_went_out(
    client: httpx.AsyncClient,
    instagram: Channel,
    recorder: Recorder,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    await post(client, instagram, envelope(dm("m_50", "写真見せてください")))
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    image_ids, pictures = [], []
    for colour in ((255, 0, 0), (0, 0, 255)):
        picture = io.BytesIO()
        Image.new("RGB", (24, 24), colour).save(picture, format="PNG")
        pictures.append(picture.getvalue())
        uploaded = await client.post(
            "/api/v1/files",
            files={"file": ("p.png", picture.getvalue(), "image/png")},
            headers=auth(token),
        )
        image_ids.append(uploaded.json()["id"])
    reply = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "こちらです", "image_ids": image_ids},
        headers=auth(token),
    )
    assert reply.status_code == 201
    # The text and the first image go out, the second image meets a busy Send API.
    recorder.answer(
        "POST",
        "/me/messages",
        (200, {"recipient_id": "IGSID1", "message_id": "m_out1"}),
        (200, {"recipient_id": "IGSID1", "message_id": "m_out2"}),
        (500, {"error": {"message": "busy"}}),
        (200, {"recipient_id": "IGSID1", "message_id": "m_out3"}),
    )
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    now = datetime.now(UTC)
    assert (await worker.tick(now)).delivered == 0
    assert (await worker.tick(now + timedelta(seconds=6))).delivered == 1

    calls = recorder.calls("POST", "/me/messages")
    assert all(call.query["access_token"] == "IGTOKEN" for call in calls)
    bodies = [call.json() for call in calls]
    assert [body["recipient"] for body in bodies] == [{"id": "IGSID1"}] * 4
    assert bodies[0]["message"] == {"text": "こちらです"}
    # The retry sends the second image again, not the text and the first image.
    urls = []
    for body in bodies[1:]:
        attachment = body["message"]["attachment"]
        assert set(body["message"]) == {"attachment"}
        assert attachment["type"] == "image" and set(attachment["payload"]) == {"url"}
        urls.append(attachment["payload"]["url"])
    assert urls[1] == urls[2] and urls[0] != urls[1]
    for url, picture in zip((urls[0], urls[2]), pictures, strict=True):
        assert url.startswith(settings.base_url + "/public/files/")
        fetched = await client.get(url.replace(settings.base_url, ""))
        assert fetched.status_code == 200 and fetched.content == picture
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert messages[-1]["delivery"] == "sent"


async def reply_with_two_images(
    client: httpx.AsyncClient, instagram: Channel, token: str
) -> dict[str, Any]:
    """A customer's DM, and a member's reply to it with a text and two images (posted, not yet
    delivered)."""
    await post(client, instagram, envelope(dm("m_60", "写真見せてください")))
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    image_ids = []
    for colour in ((255, 0, 0), (0, 0, 255)):
        picture = io.BytesIO()
        Image.new("RGB", (24, 24), colour).save(picture, format="PNG")
        uploaded = await client.post(
            "/api/v1/files",
            files={"file": ("p.png", picture.getvalue(), "image/png")},
            headers=auth(token),
        )
        image_ids.append(uploaded.json()["id"])
    reply = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "こちらです", "image_ids": image_ids},
        headers=auth(token),
    )
    assert reply.status_code == 201
    answer: dict[str, Any] = reply.json()
    return answer


def parts_posted(recorder: Recorder) -> list[str]:
    """What the Send API was asked to deliver, in order: the text, or the image's file id."""
    posted = []
    for call in recorder.calls("POST", "/me/messages"):
        message = call.json()["message"]
        if "text" in message:
            posted.append(message["text"])
        else:
            url = message["attachment"]["payload"]["url"]
            posted.append(url.split("/public/files/")[1].split("/")[0])
    return posted


async def test_a_retry_by_another_worker_sends_only_the_parts_the_customer_does_not_have(
    client: httpx.AsyncClient,
    instagram: Channel,
    recorder: Recorder,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    reply = await reply_with_two_images(client, instagram, token)
    recorder.answer(
        "POST",
        "/me/messages",
        (200, {"message_id": "m_out1"}),
        (200, {"message_id": "m_out2"}),
        (500, {"error": {"message": "busy"}}),
        (200, {"message_id": "m_out3"}),
    )
    now = datetime.now(UTC)
    first = Worker(settings=settings, database=database, bus=InProcessBus())
    assert (await first.tick(now)).delivered == 0
    text, image1, image2 = parts_posted(recorder)
    assert [text, image1, image2] == ["こちらです", *(str(i["id"]) for i in reply["images"])]
    # What went out is kept with the reply, not in the worker that sent it.
    async with database.read_sessions() as session:
        entry = await session.scalar(
            select(OutboxEntry).where(OutboxEntry.message_id == reply["id"])
        )
        assert entry is not None and entry.parts_sent == 2

    # A worker that never saw the first attempt (another process, or after a restart).
    second = Worker(settings=settings, database=database, bus=InProcessBus())
    assert (await second.tick(now + timedelta(seconds=6))).delivered == 1
    assert parts_posted(recorder) == [text, image1, image2, image2]
    messages = (
        await client.get(
            f"/api/v1/conversations/{reply['conversation_id']}/messages", headers=auth(token)
        )
    ).json()["items"]
    assert messages[-1]["delivery"] == "sent"


async def test_a_resent_failed_reply_skips_the_parts_the_customer_got(
    client: httpx.AsyncClient,
    instagram: Channel,
    recorder: Recorder,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    reply = await reply_with_two_images(client, instagram, token)
    # The second image is refused for good (a 400 is not retried): the reply is marked failed,
    # with Meta's answer (a NUL in it is not kept: PostgreSQL could not).
    recorder.answer(
        "POST",
        "/me/messages",
        (200, {"message_id": "m_out1"}),
        (200, {"message_id": "m_out2"}),
        (400, b'{"error": {"message": "bad\x00 image"}}'),
        content_type="application/json",
    )
    now = datetime.now(UTC)
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick(now)
    text, image1, image2 = parts_posted(recorder)
    messages = (
        await client.get(
            f"/api/v1/conversations/{reply['conversation_id']}/messages", headers=auth(token)
        )
    ).json()["items"]
    assert messages[-1]["delivery"] == "failed"
    assert "HTTP 400" in messages[-1]["delivery_error"]
    assert "bad image" in messages[-1]["delivery_error"]

    recorder.answer("POST", "/me/messages", (200, {"message_id": "m_out3"}))
    resent = await client.post(f"/api/v1/messages/{reply['id']}/resend", headers=auth(token))
    assert resent.status_code == 200
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    assert (await worker.tick(now + timedelta(seconds=1))).delivered == 1
    assert parts_posted(recorder) == [text, image1, image2, image2]


async def test_control_characters_in_a_dm_are_stored_cleaned(
    client: httpx.AsyncClient,
    instagram: Channel,
    recorder: Recorder,
    factory: Factory,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    recorder.answer("GET", "/IGSID9", (200, {"username": "haru\x00_0312\x07"}))
    body = envelope(dm("m_\x0070", "予約\x00したい\tです\r\n明日\x1b", sender="IGSID\x009"))
    assert (await post(client, instagram, body)).status_code == 200
    assert (await post(client, instagram, body)).status_code == 200  # redelivered: stored once
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "haru_0312"
    contact_url = f"/api/v1/contacts/{item['contact_id']}"
    assert (await client.get(contact_url, headers=auth(token))).json()["external_id"] == "IGSID9"
    [message] = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert message["text"] == "予約したい\tです\r\n明日"
    assert message["external_id"] == "m_70"
