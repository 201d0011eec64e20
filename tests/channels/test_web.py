"""The web chat and the customer link over HTTP and a real WebSocket."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import httpx
import pytest
import websockets

from madoguchi.channels.models import Channel
from madoguchi.kit.context import Ctx
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

SITE = "https://salon.example.jp"


@pytest.fixture
async def web(ctx: Ctx) -> Channel:
    from madoguchi.channels import service as channels

    return await channels.create_channel(
        ctx,
        kind="web",
        name="ルミエール Webチャット",
        settings={"allowed_origins": f"{SITE} https://other.example.jp", "identity_secret": "shh"},
    )


async def session(client: httpx.AsyncClient, channel: Channel, **body: object) -> httpx.Response:
    return await client.post(f"/widget/{channel.id}/session", json=body, headers={"Origin": SITE})


async def test_snippet_script_and_cors(client: httpx.AsyncClient, web: Channel) -> None:
    script = await client.get(f"/widget/{web.id}.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert f'"channelId": {web.id}' in script.text and "MADOGUCHI_CONFIG" not in script.text
    preflight = await client.options(
        f"/widget/{web.id}/session",
        headers={"Origin": SITE, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == SITE
    stranger = await client.post(
        f"/widget/{web.id}/session", json={}, headers={"Origin": "https://evil.example"}
    )
    assert stranger.status_code == 403
    assert (await client.get("/widget/999.js")).status_code == 404


async def test_visitor_chats_and_a_returning_visitor_keeps_the_history(
    client: httpx.AsyncClient, web: Channel, factory: Factory
) -> None:
    member_token = await factory.token(await factory.member())
    started = await session(client, web)
    token = started.json()["visitor_token"]
    assert started.headers["access-control-allow-origin"] == SITE
    headers = {"Origin": SITE, "X-Visitor-Token": token}
    sent = await client.post(
        f"/widget/{web.id}/messages",
        json={"text": "カラーの料金を教えてください", "client_id": "c-000001"},
        headers=headers,
    )
    assert sent.status_code == 201
    again = await client.post(
        f"/widget/{web.id}/messages",
        json={"text": "カラーの料金を教えてください", "client_id": "c-000001"},
        headers=headers,
    )
    assert again.status_code == 200 and again.json()["id"] == sent.json()["id"]

    [item] = (await client.get("/api/v1/conversations", headers=auth(member_token))).json()["items"]
    await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "6,600円からです"},
        headers=auth(member_token),
    )
    await client.post(
        f"/api/v1/conversations/{item['id']}/messages",
        json={"text": "常連さん", "kind": "note"},
        headers=auth(member_token),
    )
    returning = await session(client, web, visitor_token=token)
    assert returning.json()["visitor_token"] == token
    history = await client.get(f"/widget/{web.id}/messages", headers=headers)
    assert [(m["from"], m["text"]) for m in history.json()["items"]] == [
        ("customer", "カラーの料金を教えてください"),
        ("staff", "6,600円からです"),
    ]
    assert (
        await client.get(
            f"/widget/{web.id}/messages", headers={"Origin": SITE, "X-Visitor-Token": token + "x"}
        )
    ).status_code == 401


async def test_verified_customers_need_the_hash_and_stay_apart_from_visitors(
    client: httpx.AsyncClient, web: Channel
) -> None:
    good = hmac.new(b"shh", b"member-42", hashlib.sha256).hexdigest()
    wrong = await session(client, web, user_id="member-42", user_hash="0" * 64)
    assert wrong.status_code == 401
    verified = await session(client, web, user_id="member-42", user_hash=good)
    assert verified.json()["verified"] is True
    verified_token = verified.json()["visitor_token"]
    await client.post(
        f"/widget/{web.id}/messages",
        json={"text": "会員です"},
        headers={"Origin": SITE, "X-Visitor-Token": verified_token},
    )
    # Someone presenting that token without the hash gets a fresh, empty chat.
    replayed = await session(client, web, visitor_token=verified_token)
    assert (
        replayed.json()["visitor_token"] != verified_token and replayed.json()["verified"] is False
    )
    history = await client.get(
        f"/widget/{web.id}/messages",
        headers={"Origin": SITE, "X-Visitor-Token": replayed.json()["visitor_token"]},
    )
    assert history.json()["items"] == []


async def test_staff_reply_reaches_the_visitor_over_the_websocket(
    live_server: LiveServer, web: Channel, factory: Factory
) -> None:
    member_token = await factory.token(await factory.member())
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        token = (
            await http.post(f"/widget/{web.id}/session", json={}, headers={"Origin": SITE})
        ).json()["visitor_token"]
        await http.post(
            f"/widget/{web.id}/messages",
            json={"text": "駐車場はありますか"},
            headers={"Origin": SITE, "X-Visitor-Token": token},
        )
        url = live_server.url.replace("http", "ws") + f"/widget/{web.id}/ws?token={token}"
        async with websockets.connect(url, additional_headers={"Origin": SITE}) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ready"}
            [item] = (await http.get("/api/v1/conversations", headers=auth(member_token))).json()[
                "items"
            ]
            await http.post(
                f"/api/v1/conversations/{item['id']}/messages",
                json={"text": "社内メモ", "kind": "note"},
                headers=auth(member_token),
            )
            await http.post(
                f"/api/v1/conversations/{item['id']}/messages",
                json={"text": "2台分ございます"},
                headers=auth(member_token),
            )
            event = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert event["type"] == "message"
            assert (
                event["message"]["from"] == "staff"
                and event["message"]["text"] == "2台分ございます"
            )
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(url + "x", additional_headers={"Origin": SITE}):
                pass


async def test_customer_link_shows_only_that_customer_and_can_be_revoked(
    client: httpx.AsyncClient, web: Channel, factory: Factory
) -> None:
    member_token = await factory.token(await factory.member())
    api = await factory.channel()
    mine = await factory.inbound(api, contact="me", name="自分", text="私のメッセージ")
    await factory.inbound(api, contact="other", name="他人", text="他人のメッセージ")
    created = await client.post(
        f"/api/v1/contacts/{mine.conversation.contact_id}/customer-link", headers=auth(member_token)
    )
    assert created.status_code == 201
    url = created.json()["url"]
    path = "/" + url.split("/", 3)[3]
    page = await client.get(path)
    assert page.status_code == 200 and "madoguchi-config" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    messages = await client.get(path + "/messages")
    assert [m["text"] for m in messages.json()["items"]] == ["私のメッセージ"]
    posted = await client.post(path + "/messages", json={"text": "リンクから送信"})
    assert posted.status_code == 201

    renewed = await client.post(
        f"/api/v1/contacts/{mine.conversation.contact_id}/customer-link", headers=auth(member_token)
    )
    assert (await client.get(path)).status_code == 404  # the old link stopped working
    new_path = "/" + renewed.json()["url"].split("/", 3)[3]
    assert (await client.get(new_path)).status_code == 200
    revoked = await client.delete(
        f"/api/v1/contacts/{mine.conversation.contact_id}/customer-link", headers=auth(member_token)
    )
    assert revoked.status_code == 204
    assert (await client.get(new_path + "/messages")).status_code == 404
    assert (await client.get("/chat/guessing-a-token")).status_code == 404
