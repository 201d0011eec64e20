"""LINE through its real wire format: signed webhook bodies in, push API calls out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, select

from madoguchi.channels.models import Channel, ChannelEvent
from madoguchi.config import Settings
from madoguchi.connectors import line as line_connector
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Message
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.channels.conftest import SECRET, TOKEN, Recorder
from tests.fixtures import Factory, auth


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def text_event(
    message_id: str, text: str, user: str = "U1", redelivery: bool = False
) -> dict[str, Any]:
    return {
        "type": "message",
        "mode": "active",
        "timestamp": 1732500000000,
        "webhookEventId": f"01EV{message_id}",
        "deliveryContext": {"isRedelivery": redelivery},
        "source": {"type": "user", "userId": user},
        "replyToken": "r" * 32,
        "message": {"id": message_id, "type": "text", "quoteToken": "q", "text": text},
    }


async def post(
    client: httpx.AsyncClient, channel: Channel, events: list[dict[str, Any]], **kw: Any
) -> httpx.Response:
    body = json.dumps({"destination": "Uxxxxxxxx", "events": events}, ensure_ascii=False).encode()
    signature = kw.get("signature") or sign(body)
    return await client.post(
        f"/webhooks/line/{channel.id}",
        content=body,
        headers={"X-Line-Signature": signature, "Content-Type": "application/json"},
    )


async def count_messages(database: Database) -> int:
    async with database.read_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Message)) or 0)


async def test_verify_button_and_bad_signatures(
    client: httpx.AsyncClient, line: Channel, database: Database
) -> None:
    assert (await post(client, line, [])).status_code == 200
    forged = await post(client, line, [text_event("1", "こんにちは")], signature=sign(b"other"))
    assert forged.status_code == 401
    wrong_secret = await post(
        client, line, [text_event("1", "x")], signature=None or sign(b"{}", "x")
    )
    assert wrong_secret.status_code == 401
    missing = await client.post(f"/webhooks/line/{line.id}", content=b"{}")
    assert missing.status_code == 401
    unknown = await client.post(
        "/webhooks/line/999", content=b"{}", headers={"X-Line-Signature": "x"}
    )
    assert unknown.status_code == 404
    malformed_body = b"{not json"
    malformed = await client.post(
        f"/webhooks/line/{line.id}",
        content=malformed_body,
        headers={"X-Line-Signature": sign(malformed_body)},
    )
    assert malformed.status_code == 400
    assert await count_messages(database) == 0


@hypothesis.settings(max_examples=200, deadline=None)
@given(body=st.text(), secret=st.text(min_size=1), forged=st.binary(min_size=1, max_size=8))
def test_the_signature_is_the_one_line_s_own_sdk_validates(
    body: str, secret: str, forged: bytes
) -> None:
    """The connector works out X-Line-Signature itself; LINE's SDK (a test dependency only)
    is the reference."""
    from linebot.v3.webhook import SignatureValidator

    raw = body.encode()
    ours = line_connector.signature_of(secret, raw)
    assert SignatureValidator(secret).validate(body, ours)
    other = line_connector.signature_of(secret, raw + forged)
    assert not SignatureValidator(secret).validate(body, other)


def test_serving_leaves_the_line_sdk_unimported() -> None:
    """Importing LINE's SDK (its webhook models, aiohttp) took about a second of every process's
    start: the app and the command line do without it."""
    code = (
        "import sys, madoguchi.app, madoguchi.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'linebot', 'aiohttp'}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert found.stdout.strip() == "[]"


async def test_text_message_lands_in_the_inbox_with_the_profile_name_once(
    client: httpx.AsyncClient,
    line: Channel,
    recorder: Recorder,
    factory: Factory,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    recorder.answer("GET", "/v2/bot/profile/U1", (200, {"userId": "U1", "displayName": "はなこ🌸"}))
    assert (
        await post(client, line, [text_event("5001", "明日14時空いてますか？")])
    ).status_code == 200
    again = await post(
        client, line, [text_event("5001", "明日14時空いてますか？", redelivery=True)]
    )
    assert again.status_code == 200
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "はなこ🌸"
    assert item["channel"]["kind"] == "line"
    assert item["last_message_preview"] == "明日14時空いてますか？"
    assert await count_messages(database) == 1
    profile_calls = recorder.calls("GET", "/v2/bot/profile/U1")
    assert profile_calls and profile_calls[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_image_sticker_follow_and_unfollow(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(picture, format="JPEG")
    recorder.answer(
        "GET", "/v2/bot/message/7001/content", (200, picture.getvalue()), content_type="image/jpeg"
    )
    sticker_png = io.BytesIO()
    Image.new("RGBA", (74, 68), (250, 200, 0, 255)).save(sticker_png, format="PNG")
    recorder.answer(
        "GET",
        "/stickershop/v1/sticker/1988/android/sticker.png",
        (200, sticker_png.getvalue()),
        content_type="image/png",
    )
    events = [
        {
            "type": "follow",
            "source": {"type": "user", "userId": "U2"},
            "timestamp": 1,
            "mode": "active",
        },
        {
            **text_event("7001", ""),
            "source": {"type": "user", "userId": "U2"},
            "message": {"id": "7001", "type": "image", "contentProvider": {"type": "line"}},
        },
        {
            **text_event("7002", ""),
            "source": {"type": "user", "userId": "U2"},
            "message": {"id": "7002", "type": "sticker", "packageId": "446", "stickerId": "1988"},
        },
    ]
    assert (await post(client, line, events)).status_code == 200
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    image, sticker = messages
    assert image["images"][0]["width"] == 64
    assert sticker["meta"] == {"sticker": {"package_id": "446", "sticker_id": "1988"}}
    assert sticker["images"][0]["width"] == 74  # the sticker's own image, kept
    content = recorder.calls("GET", "/v2/bot/message/7001/content")[0]
    assert content.headers["authorization"] == f"Bearer {TOKEN}"

    unfollow = {
        "type": "unfollow",
        "source": {"type": "user", "userId": "U2"},
        "timestamp": 2,
        "mode": "active",
    }
    await post(client, line, [unfollow])
    contact = (
        await client.get(f"/api/v1/contacts/{item['contact_id']}", headers=auth(token))
    ).json()
    assert contact["blocked"] is True
    follow = {
        "type": "follow",
        "source": {"type": "user", "userId": "U2"},
        "timestamp": 3,
        "mode": "active",
    }
    await post(client, line, [follow])
    contact = (
        await client.get(f"/api/v1/contacts/{item['contact_id']}", headers=auth(token))
    ).json()
    assert contact["blocked"] is False


async def test_reply_goes_out_by_push_with_a_retry_key_and_retries_then_fails_visibly(
    client: httpx.AsyncClient,
    line: Channel,
    recorder: Recorder,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    await post(client, line, [text_event("9001", "予約したいです", user="U9")])
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    reply = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "ご予約承ります。"},
        headers=auth(token),
    )
    assert reply.json()["delivery"] == "pending"

    recorder.answer(
        "POST", "/v2/bot/message/push", (500, {"message": "busy"}), (200, {"sentMessages": []})
    )
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    now = datetime.now(UTC)
    assert (await worker.tick(now)).delivered == 0
    assert (await worker.tick(now + timedelta(seconds=2))).delivered == 0  # backing off
    assert (await worker.tick(now + timedelta(seconds=6))).delivered == 1
    first, second = recorder.calls("POST", "/v2/bot/message/push")
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert first.headers["x-line-retry-key"] == second.headers["x-line-retry-key"]
    assert second.json() == {"to": "U9", "messages": [{"type": "text", "text": "ご予約承ります。"}]}
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert messages[-1]["delivery"] == "sent"

    recorder.answer(
        "POST",
        "/v2/bot/message/push",
        (400, {"message": "The property, 'to', in the request body is invalid"}),
    )
    failing = await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "もう一通"},
        headers=auth(token),
    )
    await worker.tick(now + timedelta(seconds=10))
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert messages[-1]["delivery"] == "failed"
    assert "HTTP 400" in messages[-1]["delivery_error"]

    recorder.answer("POST", "/v2/bot/message/push", (200, {}))
    resent = await client.post(
        f"/api/v1/messages/{failing.json()['id']}/resend", headers=auth(token)
    )
    assert resent.status_code == 200 and resent.json()["delivery"] == "pending"
    assert (await worker.tick(now + timedelta(seconds=11))).delivered == 1
    not_failed = await client.post(
        f"/api/v1/messages/{failing.json()['id']}/resend", headers=auth(token)
    )
    assert not_failed.status_code == 422


async def test_reply_with_images_uses_public_signed_urls(
    client: httpx.AsyncClient,
    line: Channel,
    recorder: Recorder,
    factory: Factory,
    settings: Settings,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    await post(client, line, [text_event("9101", "写真送ってください", user="U7")])
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    picture = io.BytesIO()
    Image.new("RGB", (30, 30), (0, 0, 0)).save(picture, format="PNG")
    image = (
        await client.post(
            "/api/v1/files",
            files={"file": ("p.png", picture.getvalue(), "image/png")},
            headers=auth(token),
        )
    ).json()
    await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "こちらです", "image_ids": [image["id"]]},
        headers=auth(token),
    )
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    [push] = recorder.calls("POST", "/v2/bot/message/push")
    text, picture_message = push.json()["messages"]
    assert text == {"type": "text", "text": "こちらです"}
    url = picture_message["originalContentUrl"]
    assert url.startswith(settings.base_url + "/public/files/")
    fetched = await client.get(url.replace(settings.base_url, ""))
    assert fetched.status_code == 200 and fetched.content == picture.getvalue()
    forged = await client.get(url.replace(settings.base_url, "")[:-4] + "0000")
    assert forged.status_code == 404


async def test_a_burst_of_1000_events_with_redeliveries_stores_the_distinct_messages(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, database: Database
) -> None:
    recorder.answer("GET", "/v2/bot/profile/U1", (200, {"displayName": "常連さん"}))
    events = [text_event(str(10000 + n), f"メッセージ{n}", user=f"U{n % 20}") for n in range(900)]
    events += [{**events[n * 9], "deliveryContext": {"isRedelivery": True}} for n in range(100)]
    for start in range(0, len(events), 100):
        response = await post(client, line, events[start : start + 100])
        assert response.status_code == 200
    assert await count_messages(database) == 900


async def count_contacts(database: Database) -> int:
    async with database.read_sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)


def now_ms(shift: timedelta = timedelta()) -> int:
    return int((datetime.now(UTC) + shift).timestamp() * 1000)


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({**text_event("1", "x"), "source": "U1"}, "events[1].source"),
        ({**text_event("1", "x"), "message": "str"}, "events[1].message"),
        ({**text_event("1", "x"), "message": {"id": 1, "type": "text"}}, "events[1].message.id"),
        ({**text_event("1", "x"), "deliveryContext": []}, "events[1].deliveryContext"),
        ({"type": "follow", "source": {"type": "user", "userId": ["U1"]}}, "events[1].source"),
        ({**text_event("1", "x"), "webhookEventId": "E" * 65}, "events[1].webhookEventId"),
        ("x", "events[1]"),
    ],
)
async def test_a_malformed_body_is_refused_whole_with_400_and_nothing_is_stored(
    client: httpx.AsyncClient,
    line: Channel,
    recorder: Recorder,
    database: Database,
    event: Any,
    where: str,
) -> None:
    response = await post(client, line, [text_event("500", "先に届いた方"), event])
    assert response.status_code == 400
    assert where in response.json()["detail"]
    assert await count_messages(database) == 0
    assert await count_contacts(database) == 0
    assert recorder.requests == []


async def test_not_json_is_400_and_well_formed_unknown_events_are_ignored(
    client: httpx.AsyncClient, line: Channel, database: Database
) -> None:
    raw = b"[1, 2"
    response = await client.post(
        f"/webhooks/line/{line.id}", content=raw, headers={"X-Line-Signature": sign(raw)}
    )
    assert response.status_code == 400
    unknown = [
        {"type": "postback", "source": {"type": "user", "userId": "U1"}, "postback": {}},
        {**text_event("1", ""), "message": {"id": "1", "type": "location", "title": "x"}},
        {**text_event("2", "グループの話"), "source": {"type": "group", "groupId": "C1"}},
        {"type": "membership", "timestamp": 1},
    ]
    assert (await post(client, line, unknown)).status_code == 200
    assert await count_messages(database) == 1  # the location, shown as unsupported


async def test_a_text_over_the_limit_is_kept_shortened_and_the_rest_of_the_batch_stored(
    client: httpx.AsyncClient, line: Channel, factory: Factory, database: Database
) -> None:
    token = await factory.token(await factory.member())
    events = [
        text_event("601", "一通目"),
        text_event("602", "長" * 6000),
        text_event("603", "三通目"),
    ]
    assert (await post(client, line, events)).status_code == 200
    assert await count_messages(database) == 3
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    messages = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    first, long, third = messages
    assert (first["text"], third["text"]) == ("一通目", "三通目")
    assert len(long["text"]) == 5000 and long["text"].startswith("長長")
    assert long["meta"] == {"truncated_from": 6000}


@pytest.mark.parametrize(
    "answer",
    [(200, b"<html>busy</html>"), (200, b"[1, 2]"), (200, b'{"displayName": 3}'), (503, b"")],
)
async def test_a_profile_api_answer_that_is_not_a_profile_leaves_the_id_as_name(
    client: httpx.AsyncClient,
    line: Channel,
    recorder: Recorder,
    factory: Factory,
    answer: tuple[int, bytes],
) -> None:
    token = await factory.token(await factory.member())
    recorder.answer("GET", "/v2/bot/profile/U1", answer, content_type="text/html")
    assert (await post(client, line, [text_event("701", "こんにちは")])).status_code == 200
    follow = {"type": "follow", "source": {"type": "user", "userId": "U1"}, "timestamp": 1}
    assert (await post(client, line, [follow])).status_code == 200
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "U1"
    assert item["contact"]["avatar_url"] is None


async def test_the_contacts_picture_comes_from_the_profile_api(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    picture = "https://profile.line-scdn.net/0hAbCd"
    recorder.answer(
        "GET", "/v2/bot/profile/U1", (200, {"displayName": "はなこ", "pictureUrl": picture})
    )
    assert (await post(client, line, [text_event("801", "はじめまして")])).status_code == 200
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["avatar_url"] == picture
    contact_url = f"/api/v1/contacts/{item['contact_id']}"
    assert (await client.get(contact_url, headers=auth(token))).json()["avatar_url"] == picture

    # A follow fetches the profile again: a new picture replaces the old one.
    recorder.answer(
        "GET",
        "/v2/bot/profile/U1",
        (200, {"displayName": "はなこ", "pictureUrl": picture + "-new"}),
    )
    follow = {"type": "follow", "source": {"type": "user", "userId": "U1"}, "timestamp": now_ms()}
    assert (await post(client, line, [follow])).status_code == 200
    contact = (await client.get(contact_url, headers=auth(token))).json()
    assert contact["avatar_url"] == picture + "-new"

    # A follow from someone new creates the contact with their picture.
    recorder.answer(
        "GET", "/v2/bot/profile/U2", (200, {"displayName": "たろう", "pictureUrl": picture + "2"})
    )
    newcomer = {"type": "follow", "source": {"type": "user", "userId": "U2"}, "timestamp": 1}
    assert (await post(client, line, [newcomer])).status_code == 200
    newcomer_contact = (await line_contacts(client, token))["U2"]
    assert newcomer_contact["avatar_url"] == picture + "2"
    assert newcomer_contact["channel_name"] == "たろう"


async def line_contacts(client: httpx.AsyncClient, token: str) -> dict[str, dict[str, Any]]:
    """The contacts by their LINE user id, read through the API."""
    items = (await client.get("/api/v1/contacts", headers=auth(token))).json()["items"]
    return {contact["external_id"]: contact for contact in items}


async def test_a_redelivered_stale_unfollow_does_not_block_a_contact_who_followed_again(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    token = await factory.token(await factory.member())

    def change(kind: str, event_id: str, at: int, redelivery: bool = False) -> dict[str, Any]:
        return {
            "type": kind,
            "mode": "active",
            "timestamp": at,
            "webhookEventId": event_id,
            "deliveryContext": {"isRedelivery": redelivery},
            "source": {"type": "user", "userId": "U5"},
        }

    unfollow = change("unfollow", "01UNFOLLOW", now_ms(-timedelta(minutes=5)))
    await post(client, line, [change("follow", "01FOLLOW1", now_ms(-timedelta(minutes=9)))])
    await post(client, line, [unfollow])
    await post(client, line, [change("follow", "01FOLLOW2", now_ms(-timedelta(minutes=1)))])
    # LINE did not hear our 200 for the unfollow and sends it again, after the newer follow.
    redelivered = {**unfollow, "deliveryContext": {"isRedelivery": True}}
    assert (await post(client, line, [redelivered])).status_code == 200
    assert (await line_contacts(client, token))["U5"]["blocked"] is False
    profile_calls = len(recorder.calls("GET", "/v2/bot/profile/U5"))

    # A redelivered follow whose effect is in place is not processed again.
    late_follow = change("follow", "01FOLLOW2", now_ms(-timedelta(minutes=1)), redelivery=True)
    assert (await post(client, line, [late_follow])).status_code == 200
    assert len(recorder.calls("GET", "/v2/bot/profile/U5")) == profile_calls

    # A redelivered unfollow that happened after everything we know of is applied.
    fresh = change("unfollow", "01UNFOLLOW2", now_ms(timedelta(seconds=5)), redelivery=True)
    assert (await post(client, line, [fresh])).status_code == 200
    assert (await line_contacts(client, token))["U5"]["blocked"] is True


def follow_change(
    kind: str, event_id: str, at: int, user: str = "U6", redelivery: bool = False
) -> dict[str, Any]:
    return {
        "type": kind,
        "mode": "active",
        "timestamp": at,
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": redelivery},
        "source": {"type": "user", "userId": user},
    }


async def test_a_follow_delivered_twice_is_applied_once_even_without_the_redelivery_flag(
    client: httpx.AsyncClient, line: Channel, recorder: Recorder, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    follow = follow_change("follow", "01FOLLOWTWICE", now_ms())
    assert (await post(client, line, [follow])).status_code == 200
    # Two webhook requests raced (LINE's retry, a proxy's): the same webhookEventId again.
    assert (await post(client, line, [follow])).status_code == 200
    assert len(recorder.calls("GET", "/v2/bot/profile/U6")) == 1
    assert (await line_contacts(client, token))["U6"]["blocked"] is False


async def test_an_unfollow_arriving_after_a_newer_follow_does_not_block(
    client: httpx.AsyncClient, line: Channel, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    unfollow = follow_change("unfollow", "01LATEUNFOLLOW", now_ms(-timedelta(minutes=5)))
    follow = follow_change("follow", "01NEWFOLLOW", now_ms(-timedelta(minutes=1)))
    # Two webhook requests overtook each other: the newer follow is applied first.
    assert (await post(client, line, [follow])).status_code == 200
    assert (await post(client, line, [unfollow])).status_code == 200
    assert (await line_contacts(client, token))["U6"]["blocked"] is False
    # An unfollow that happened after the follow still blocks.
    newer = follow_change("unfollow", "01NEWUNFOLLOW", now_ms())
    assert (await post(client, line, [newer])).status_code == 200
    assert (await line_contacts(client, token))["U6"]["blocked"] is True


async def test_a_redelivered_unfollow_never_applied_blocks_though_the_contact_changed_since(
    client: httpx.AsyncClient, line: Channel, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    follow = follow_change("follow", "01FIRSTFOLLOW", now_ms(-timedelta(minutes=20)))
    assert (await post(client, line, [follow])).status_code == 200
    contact = (await line_contacts(client, token))["U6"]
    renamed = await client.patch(
        f"/api/v1/contacts/{contact['id']}", json={"display_name": "田中様"}, headers=auth(token)
    )
    assert renamed.status_code == 200
    # The unfollow's first delivery was lost before it was stored (our 500); LINE sends it again
    # after a member edited the contact: the edit is not a sign it was applied.
    unfollow = follow_change(
        "unfollow", "01LOSTUNFOLLOW", now_ms(-timedelta(minutes=10)), redelivery=True
    )
    assert (await post(client, line, [unfollow])).status_code == 200
    contact = (await line_contacts(client, token))["U6"]
    assert contact["blocked"] is True
    assert contact["display_name"] == "田中様"


async def test_applied_events_are_forgotten_after_a_week(
    client: httpx.AsyncClient, line: Channel, ctx: Ctx, database: Database
) -> None:
    now = datetime.now(UTC)
    for event_id, received in (("01OLD", now - timedelta(days=8)), ("01RECENT", now)):
        ctx.db.add(
            ChannelEvent(
                channel_id=line.id,
                event_id=event_id,
                external_id="U9",
                happened_at=received,
                received_at=received,
            )
        )
    await ctx.db.commit()
    follow = follow_change("follow", "01NEWEST", now_ms(timedelta(seconds=1)), user="U9")
    assert (await post(client, line, [follow])).status_code == 200
    async with database.read_sessions() as session:
        kept = set(await session.scalars(select(ChannelEvent.event_id)))
    assert kept == {"01RECENT", "01NEWEST"}


async def test_control_characters_in_a_line_event_are_stored_cleaned(
    client: httpx.AsyncClient,
    line: Channel,
    recorder: Recorder,
    factory: Factory,
    database: Database,
) -> None:
    token = await factory.token(await factory.member())
    recorder.answer("GET", "/v2/bot/profile/U8", (200, {"displayName": "はな\x00こ\x1f"}))
    events = [
        {
            **text_event("9\x00501", "明日\x00の\x0b予約\tです\n", user="U\x008"),
            "webhookEventId": "01EV\x009501",
        },
        {
            **text_event("9502", "", user="U8"),
            "message": {"id": "9502", "type": "sticker", "packageId": "4\x0046", "stickerId": "1"},
        },
        follow_change("follow", "01FOLLOW\x00NUL", now_ms(), user="U\x008"),
    ]
    assert (await post(client, line, events)).status_code == 200
    assert (await post(client, line, events)).status_code == 200  # redelivered: stored once
    [item] = (await client.get("/api/v1/conversations", headers=auth(token))).json()["items"]
    assert item["contact"]["channel_name"] == "はなこ"
    assert (await line_contacts(client, token))["U8"]["blocked"] is False
    text, sticker = (
        await client.get(f"/api/v1/conversations/{item['id']}/messages", headers=auth(token))
    ).json()["items"]
    assert text["text"] == "明日の予約\tです"
    assert text["external_id"] == "9501"
    # The recorder has no image for sticker 1: the sticker is kept with a note, not lost.
    assert sticker["meta"]["sticker"] == {"package_id": "446", "sticker_id": "1"}
    assert await count_messages(database) == 2
