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


async def test_widget_errors_carry_cors_headers_for_allowed_origins_only(
    client: httpx.AsyncClient, web: Channel
) -> None:
    token = (await session(client, web)).json()["visitor_token"]
    allowed = {"Origin": SITE, "X-Visitor-Token": token}
    answers = [
        await session(client, web, user_id="member-42", user_hash="0" * 64),
        await client.get(f"/widget/{web.id}/messages", headers={**allowed, "X-Visitor-Token": "x"}),
        await client.post(f"/widget/{web.id}/messages", json={"text": ""}, headers=allowed),
        await client.post(f"/widget/{web.id}/messages", json={"text": "   "}, headers=allowed),
        await client.post(
            f"/widget/{web.id}/messages",
            content=b"{not json",
            headers={**allowed, "Content-Type": "application/json"},
        ),
    ]
    assert [answer.status_code for answer in answers] == [401, 401, 422, 422, 422]
    for answer in answers:
        assert answer.headers["access-control-allow-origin"] == SITE
        assert "detail" in answer.json()

    stranger = {"Origin": "https://evil.example", "X-Visitor-Token": token}
    refused = [
        await client.post(f"/widget/{web.id}/session", json={}, headers=stranger),
        await client.post(f"/widget/{web.id}/messages", json={"text": ""}, headers=stranger),
        await client.get(f"/widget/{web.id}/messages", headers=stranger),
        await client.options(f"/widget/{web.id}/session", headers=stranger),
        await client.post("/widget/999/session", json={}, headers={"Origin": SITE}),
    ]
    assert [answer.status_code for answer in refused] == [403, 422, 403, 403, 404]
    for answer in refused:
        assert "access-control-allow-origin" not in answer.headers


async def _link_path(http: httpx.AsyncClient, member_token: str, contact_id: int) -> str:
    created = await http.post(
        f"/api/v1/contacts/{contact_id}/customer-link", headers=auth(member_token)
    )
    return "/" + created.json()["url"].split("/", 3)[3]


async def test_revoking_a_customer_link_closes_its_open_chat(
    live_server: LiveServer, factory: Factory
) -> None:
    member_token = await factory.token(await factory.member())
    api = await factory.channel()
    first = await factory.inbound(api, contact="me", name="自分", text="予約したいです")
    contact_id = first.conversation.contact_id
    ws_base = live_server.url.replace("http", "ws")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        path = await _link_path(http, member_token, contact_id)
        async with websockets.connect(ws_base + path + "/ws") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ready"}
            revoked = await http.delete(
                f"/api/v1/contacts/{contact_id}/customer-link", headers=auth(member_token)
            )
            assert revoked.status_code == 204
            await http.post(
                f"/api/v1/conversations/{first.conversation.id}/messages",
                json={"text": "リンク無効後の返信"},
                headers=auth(member_token),
            )
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                while True:  # nothing but the close may come: no reply after the revocation
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    assert frame["type"] != "message", frame
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

        # A new link ends the chat open on the old one too.
        old = await _link_path(http, member_token, contact_id)
        async with websockets.connect(ws_base + old + "/ws") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ready"}
            await _link_path(http, member_token, contact_id)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(ws_base + old + "/ws"):
                pass


async def _frames_until(ws: websockets.ClientConnection, kind: str) -> dict[str, object]:
    while True:
        frame: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == kind:
            return frame


async def test_visitor_writes_over_the_websocket_once_per_client_id(
    live_server: LiveServer, web: Channel, factory: Factory
) -> None:
    member_token = await factory.token(await factory.member())
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        token = (
            await http.post(f"/widget/{web.id}/session", json={}, headers={"Origin": SITE})
        ).json()["visitor_token"]
        url = live_server.url.replace("http", "ws") + f"/widget/{web.id}/ws?token={token}"
        frame = {"type": "message", "text": "カットの予約をしたいです", "client_id": "c-ws-0001"}
        async with websockets.connect(url, additional_headers={"Origin": SITE}) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ready"}
            await ws.send(json.dumps(frame, ensure_ascii=False))
            ack = await _frames_until(ws, "ack")
            assert ack["client_id"] == "c-ws-0001" and ack["created"] is True
            stored = ack["message"]
            assert isinstance(stored, dict)
            assert stored["text"] == "カットの予約をしたいです" and stored["from"] == "customer"
        # The page reconnects and resends what it had no answer for: stored once.
        async with websockets.connect(url, additional_headers={"Origin": SITE}) as ws:
            await _frames_until(ws, "ready")
            await ws.send(json.dumps(frame, ensure_ascii=False))
            again = await _frames_until(ws, "ack")
            assert again["created"] is False and again["message"] == stored
        posted = await http.post(
            f"/widget/{web.id}/messages",
            json={"text": frame["text"], "client_id": frame["client_id"]},
            headers={"Origin": SITE, "X-Visitor-Token": token},
        )
        assert posted.status_code == 200 and posted.json()["id"] == stored["id"]

        [item] = (await http.get("/api/v1/conversations", headers=auth(member_token))).json()[
            "items"
        ]
        thread = await http.get(
            f"/api/v1/conversations/{item['id']}/messages", headers=auth(member_token)
        )
        texts = [m["text"] for m in thread.json()["items"] if m["kind"] == "inbound"]
        assert texts == ["カットの予約をしたいです"]


async def test_bad_frames_get_an_error_and_the_chat_goes_on(
    live_server: LiveServer, web: Channel
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        token = (
            await http.post(f"/widget/{web.id}/session", json={}, headers={"Origin": SITE})
        ).json()["visitor_token"]
    url = live_server.url.replace("http", "ws") + f"/widget/{web.id}/ws?token={token}"
    bad: list[str | bytes] = [
        "{not json",
        json.dumps(["message", "こんにちは"]),
        json.dumps({"type": "typing"}),
        json.dumps({"type": "message", "text": "", "client_id": "c-empty-01"}),
        json.dumps({"type": "message", "text": "   ", "client_id": "c-blank-01"}),
        json.dumps({"type": "message", "text": "あ" * 5001, "client_id": "c-long-001"}),
        json.dumps({"type": "message", "text": 42}),
        b"\x00binary",
    ]
    async with websockets.connect(url, additional_headers={"Origin": SITE}) as ws:
        await _frames_until(ws, "ready")
        details = []
        for raw in bad:
            await ws.send(raw)
            error = await _frames_until(ws, "error")
            assert isinstance(error["detail"], str) and error["detail"]
            details.append(error["detail"])
        assert "JSON" in details[0]
        assert details[4] == "The message is empty."
        assert "5000" in details[5]
        await ws.send(
            json.dumps({"type": "message", "text": "失礼しました", "client_id": "c-ok-0001"})
        )
        ack = await _frames_until(ws, "ack")
        assert isinstance(ack["message"], dict) and ack["message"]["text"] == "失礼しました"


async def test_customer_link_page_writes_over_its_websocket(
    live_server: LiveServer, factory: Factory
) -> None:
    member_token = await factory.token(await factory.member())
    api = await factory.channel()
    first = await factory.inbound(api, contact="me", name="自分", text="はじめまして")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        path = await _link_path(http, member_token, first.conversation.contact_id)
        async with websockets.connect(live_server.url.replace("http", "ws") + path + "/ws") as ws:
            await _frames_until(ws, "ready")
            frame = {"type": "message", "text": "リンクから", "client_id": "c-link-001"}
            await ws.send(json.dumps(frame, ensure_ascii=False))
            ack = await _frames_until(ws, "ack")
            assert isinstance(ack["message"], dict)
            posted = await http.post(
                path + "/messages", json={"text": "リンクから", "client_id": "c-link-001"}
            )
            assert posted.status_code == 200 and posted.json()["id"] == ack["message"]["id"]
        texts = [m["text"] for m in (await http.get(path + "/messages")).json()["items"]]
        assert texts == ["はじめまして", "リンクから"]


async def test_a_visitors_nul_is_dropped_and_a_broken_character_refused_readably(
    client: httpx.AsyncClient, web: Channel
) -> None:
    token = (await session(client, web)).json()["visitor_token"]
    headers = {"Origin": SITE, "X-Visitor-Token": token, "Content-Type": "application/json"}
    # The JSON as a broken client writes it: a NUL (dropped: the message is kept) ...
    sent = await client.post(
        f"/widget/{web.id}/messages",
        content='{"text": "予約\\u0000したいです", "client_id": "c-broken1"}'.encode(),
        headers=headers,
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["text"] == "予約したいです"
    # ... and half of an emoji's surrogate pair: refused, in words the page can read.
    half = await client.post(
        f"/widget/{web.id}/messages",
        content='{"text": "予約\\ud83d", "client_id": "c-broken2"}'.encode(),
        headers=headers,
    )
    assert half.status_code == 422 and "text" in half.json()["detail"]
    assert half.headers["access-control-allow-origin"] == SITE


async def test_turning_the_channel_off_ends_the_chats_open_on_it(
    live_server: LiveServer, web: Channel, factory: Factory
) -> None:
    owner_token = await factory.token(await factory.member(role="owner"))
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        token = (
            await http.post(f"/widget/{web.id}/session", json={}, headers={"Origin": SITE})
        ).json()["visitor_token"]
        url = live_server.url.replace("http", "ws") + f"/widget/{web.id}/ws?token={token}"
        async with websockets.connect(url, additional_headers={"Origin": SITE}) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ready"}
            turned_off = await http.patch(
                f"/api/v1/channels/{web.id}", json={"enabled": False}, headers=auth(owner_token)
            )
            assert turned_off.status_code == 200, turned_off.text
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@pytest.mark.parametrize("how", ["turned off", "deleted"])
async def test_a_customer_link_stops_when_its_channel_is_turned_off_or_deleted(
    how: str, live_server: LiveServer, factory: Factory
) -> None:
    owner_token = await factory.token(await factory.member(role="owner"))
    api = await factory.channel()
    first = await factory.inbound(api, contact="linked", name="リンク 客", text="こんにちは")
    contact_id = first.conversation.contact_id
    ws_base = live_server.url.replace("http", "ws")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        path = await _link_path(http, owner_token, contact_id)
        sent = await http.post(f"{path}/messages", json={"text": "停止前のメッセージ"})
        assert sent.status_code == 201
        async with websockets.connect(ws_base + path + "/ws") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ready"}
            if how == "turned off":
                changed = await http.patch(
                    f"/api/v1/channels/{api.id}", json={"enabled": False}, headers=auth(owner_token)
                )
            else:
                changed = await http.delete(f"/api/v1/channels/{api.id}", headers=auth(owner_token))
            assert changed.status_code in (200, 204), changed.text
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        refused = [
            await http.get(path),
            await http.get(f"{path}/messages"),
            await http.post(f"{path}/messages", json={"text": "停止後のメッセージ"}),
        ]
        assert [r.status_code for r in refused] == [404, 404, 404]
        again = await http.post(
            f"/api/v1/contacts/{contact_id}/customer-link", headers=auth(owner_token)
        )
        assert again.status_code == 409
        thread = await http.get(
            f"/api/v1/conversations/{first.conversation.id}/messages", headers=auth(owner_token)
        )
        texts = [m["text"] for m in thread.json()["items"]]
        assert "停止前のメッセージ" in texts and "停止後のメッセージ" not in texts
