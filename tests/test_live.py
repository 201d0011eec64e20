"""Live events over a real WebSocket connection to a real server."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from madoguchi.config import Settings
from madoguchi.events import Event, create_bus
from tests.conftest import LiveServer
from tests.fixtures import PASSWORD, Factory, auth


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def next_event(connection: ClientConnection) -> dict[str, Any]:
    raw = await asyncio.wait_for(connection.recv(), 5)
    event: dict[str, Any] = json.loads(raw)
    return event


async def test_member_sees_new_message_and_rename_live(
    live_server: LiveServer, factory: Factory
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    channel = await factory.channel()
    async with (
        websockets.connect(ws_url(live_server), additional_headers=auth(token)) as connection,
        httpx.AsyncClient(base_url=live_server.url, headers=auth(token)) as http,
    ):
        assert (await next_event(connection)) == {"type": "ready", "member_id": member.id}
        posted = await http.post(
            f"/api/v1/channels/{channel.id}/inbound",
            json={
                "contact": {"external_id": "u1", "name": "高橋"},
                "external_id": "e1",
                "text": "今日空いてますか",
            },
        )
        message = posted.json()
        created = await next_event(connection)
        assert created["type"] == "message.created"
        assert created["message_id"] == message["id"]
        assert created["conversation_id"] == message["conversation_id"]
        updated = await next_event(connection)
        assert updated["type"] == "conversation.updated"
        contact_id = updated["contact_id"]

        await http.patch(f"/api/v1/contacts/{contact_id}", json={"display_name": "高橋様"})
        renamed = await next_event(connection)
        assert renamed == {
            "type": "contact.updated",
            "member_id": None,
            "contact_id": contact_id,
            "part": "profile",
        }


async def test_read_state_events_reach_only_that_member(
    live_server: LiveServer, factory: Factory
) -> None:
    alice, bob = await factory.member(), await factory.member()
    alice_token, bob_token = await factory.token(alice), await factory.token(bob)
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    conversation_id = ingested.conversation.id
    async with (
        websockets.connect(ws_url(live_server), additional_headers=auth(bob_token)) as bob_ws,
        httpx.AsyncClient(base_url=live_server.url) as http,
    ):
        await next_event(bob_ws)  # ready
        await http.post(f"/api/v1/conversations/{conversation_id}/read", headers=auth(alice_token))
        await http.post(f"/api/v1/conversations/{conversation_id}/read", headers=auth(bob_token))
        event = await next_event(bob_ws)
        # Alice's read came first, but only Bob's reaches Bob.
        assert event["type"] == "conversation.read_state"
        assert event["member_id"] == bob.id


async def test_websocket_with_session_cookie(live_server: LiveServer, factory: Factory) -> None:
    member = await factory.member()
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        login = await http.post(
            "/api/v1/auth/login", json={"email": member.email, "password": PASSWORD}
        )
        cookie = login.cookies["madoguchi_session"]
    headers = {"Cookie": f"madoguchi_session={cookie}", "Origin": live_server.url}
    async with websockets.connect(ws_url(live_server), additional_headers=headers) as connection:
        assert (await next_event(connection))["member_id"] == member.id

    forged = {"Cookie": f"madoguchi_session={cookie}", "Origin": "https://evil.example"}
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url(live_server), additional_headers=forged):
            pass


async def test_websocket_without_credentials_is_refused(live_server: LiveServer) -> None:
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url(live_server)):
            pass
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(ws_url(live_server), additional_headers=auth("mdg_nope")):
            pass


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the services leg)")
async def test_redis_bus_carries_events_between_processes(settings: Settings) -> None:
    # Two buses stand for two app processes sharing one Redis.
    first, second = create_bus(settings), create_bus(settings)
    await first.start()
    await second.start()
    try:
        async with second.subscribe() as subscription:
            await first.publish(Event("message.created", {"message_id": 7}, member_id=3))
            received = await asyncio.wait_for(anext(aiter(subscription)), 5)
        assert received == Event("message.created", {"message_id": 7}, member_id=3)
    finally:
        await first.close()
        await second.close()
