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
from sqlalchemy import update

from madoguchi.channels.models import Channel
from madoguchi.config import Settings
from madoguchi.conversations.models import Conversation
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
    assert (await post(client, instagram, not_instagram)).status_code == 422


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
