"""Deeply nested JSON from outside is refused with a sentence, never a 500: the list filter, and
signed LINE and Instagram webhook bodies."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import httpx
import pytest
import websockets

from madoguchi.channels import service as channels
from madoguchi.kit import jsonsafe
from madoguchi.kit.context import Ctx
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

LINE_SECRET = "line-channel-secret"
META_SECRET = "meta-app-secret"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_loads_refuses_nesting_past_the_bound_and_reads_the_rest() -> None:
    assert jsonsafe.loads(nested(jsonsafe.MAX_DEPTH)) is not None
    assert jsonsafe.loads(b'{"a": [{"b": 1}], "c": "[[[[["}') == {"a": [{"b": 1}], "c": "[[[[["}
    for depth in (jsonsafe.MAX_DEPTH + 1, 1_000, 50_000):
        with pytest.raises(jsonsafe.TooDeep):
            jsonsafe.loads(nested(depth))
    with pytest.raises(jsonsafe.TooDeep):
        jsonsafe.loads('{"a": ' * 40 + "1" + "}" * 40)
    with pytest.raises(ValueError) as not_json:
        jsonsafe.loads("[1,")
    assert not isinstance(not_json.value, jsonsafe.TooDeep)


async def test_list_filter_nested_a_thousand_deep_is_a_422(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    for path in ("/api/v1/conversations", "/api/v1/contacts"):
        answer = await client.get(path, params={"filter": nested(1_000)}, headers=auth(token))
        assert answer.status_code == 422
        assert answer.json() == {
            "detail": f"filter nests lists and objects deeper than {jsonsafe.MAX_DEPTH} levels."
        }
    # A filter of ordinary depth still works.
    usual = json.dumps([{"field": "text", "op": "contains", "value": "予約"}])
    answer = await client.get(
        "/api/v1/conversations", params={"filter": usual}, headers=auth(token)
    )
    assert answer.status_code == 200


async def test_signed_line_body_nested_fifty_thousand_deep_is_a_400(
    client: httpx.AsyncClient, ctx: Ctx
) -> None:
    line = await channels.create_channel(
        ctx,
        kind="line",
        name="LINE",
        settings={
            "channel_secret": LINE_SECRET,
            "access_token": "t",
            "api_base": "http://127.0.0.1:9",
        },
    )
    body = nested(50_000).encode()
    signature = base64.b64encode(hmac.new(LINE_SECRET.encode(), body, hashlib.sha256).digest())
    answer = await client.post(
        f"/webhooks/line/{line.id}",
        content=body,
        headers={"X-Line-Signature": signature.decode(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {
        "detail": f"The body nests lists and objects deeper than {jsonsafe.MAX_DEPTH} levels."
    }


async def test_signed_instagram_body_nested_fifty_thousand_deep_is_a_400(
    client: httpx.AsyncClient, ctx: Ctx
) -> None:
    instagram = await channels.create_channel(
        ctx,
        kind="instagram",
        name="Instagram",
        settings={
            "app_secret": META_SECRET,
            "verify_token": "v",
            "access_token": "t",
            "api_base": "http://127.0.0.1:9",
        },
    )
    body = ('{"object": "instagram", "entry": ' + nested(50_000) + "}").encode()
    signature = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    answer = await client.post(
        f"/webhooks/instagram/{instagram.id}",
        content=body,
        headers={"X-Hub-Signature-256": signature, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert "deeper than" in answer.json()["detail"]


async def test_a_deep_body_holding_an_escaped_nul_is_refused_not_a_500(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    """The NUL door reads a JSON body with a \\u0000 escape itself: its bound is the same."""
    token = await factory.token(await factory.member(role="owner"))
    body = '{"name": "a\\u0000b", "x": ' + nested(50_000) + "}"
    answer = await client.post(
        "/api/v1/tags",
        content=body.encode(),
        headers={**auth(token), "Content-Type": "application/json"},
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert isinstance(answer.json()["detail"], str)


async def test_a_deep_web_chat_frame_is_answered_with_an_error_frame(
    live_server: LiveServer, factory: Factory
) -> None:
    web = await channels.create_channel(
        factory.ctx, kind="web", name="サイト", settings={"allowed_origins": "https://shop.example"}
    )
    site = {"Origin": "https://shop.example"}
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        token = (await http.post(f"/widget/{web.id}/session", json={}, headers=site)).json()[
            "visitor_token"
        ]
    url = live_server.url.replace("http", "ws") + f"/widget/{web.id}/ws?token={token}"
    async with websockets.connect(url, additional_headers=site, max_size=None) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "ready"}
        await ws.send(nested(50_000))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer["type"] == "error" and "JSON" in answer["detail"]
        await ws.send(
            json.dumps({"type": "message", "text": "まだ話せます", "client_id": "client-0001"})
        )
        # The ack; the message's own event may come first (the page shows it once, by its id).
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if frame["type"] == "message":
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] == "ack" and frame["message"]["text"] == "まだ話せます", frame


async def test_a_deep_headers_field_in_the_import_form_is_not_a_500(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token = await factory.token(await factory.member(role="owner"))
    answer = await client.post(
        "/settings/import-export/import",
        data={"headers": nested(50_000)},
        files={"file": ("a.csv", "表示名\r\n山田\r\n".encode(), "text/csv")},
        headers=auth(token),
    )
    assert answer.status_code < 500, answer.text
