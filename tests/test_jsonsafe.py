"""Deeply nested JSON from outside is refused with a sentence, never a 500: the list filter, and
signed LINE and Instagram webhook bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest

from madoguchi.channels import service as channels
from madoguchi.kit import jsonsafe
from madoguchi.kit.context import Ctx
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
