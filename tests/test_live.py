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


BUSES = [
    "in-process",
    pytest.param(
        "redis",
        marks=pytest.mark.skipif(
            not os.environ.get("REDIS_URL"), reason="needs REDIS_URL (the services leg)"
        ),
    ),
]


@pytest.mark.parametrize("kind", BUSES)
async def test_both_buses_deliver_an_event_as_published_and_to_the_same_members(
    settings: Settings, kind: str
) -> None:
    published = [
        # The workspace's, though its data names a member.
        Event("member.created", {"member_id": 5}),
        # That member's own.
        Event("member.updated", {"member_id": 5}, member_id=5),
        Event("conversation.read_state", {"conversation_id": 1, "contact_id": 2}, member_id=5),
        Event("message.created", {"message_id": 7, "conversation_id": 1}),
    ]
    # Two buses on Redis stand for two app processes sharing it.
    bus_settings = (
        settings.model_copy(update={"redis_url": None}) if kind == "in-process" else settings
    )
    publisher = create_bus(bus_settings)
    listener = publisher if kind == "in-process" else create_bus(bus_settings)
    await publisher.start()
    if listener is not publisher:
        await listener.start()
    try:
        async with listener.subscribe() as subscription:
            for event in published:
                await publisher.publish(event)
            stream = aiter(subscription)
            received = [await asyncio.wait_for(anext(stream), 5) for _ in published]
    finally:
        await publisher.close()
        if listener is not publisher:
            await listener.close()
    assert received == published
    assert [event.visible_to(5) for event in received] == [True, True, True, True]
    assert [event.visible_to(6) for event in received] == [True, False, False, True]


def test_an_event_says_whom_it_is_for_by_its_type() -> None:
    with pytest.raises(ValueError, match="for one member"):
        Event("conversation.read_state", {"conversation_id": 1})
    with pytest.raises(ValueError, match="for everyone"):
        Event("member.created", {"member_id": 5}, member_id=5)


async def test_every_member_hears_of_a_new_colleague_and_only_they_of_their_own_change(
    live_server: LiveServer, factory: Factory
) -> None:
    owner_token = await factory.token(await factory.member(role="owner"))
    agent = await factory.member(role="agent", name="美咲")
    agent_token = await factory.token(agent)
    async with (
        websockets.connect(ws_url(live_server), additional_headers=auth(owner_token)) as owner_ws,
        httpx.AsyncClient(base_url=live_server.url, headers=auth(owner_token)) as http,
    ):
        await next_event(owner_ws)  # ready
        added = await http.post(
            "/api/v1/members",
            json={"email": "ken@example.jp", "name": "健", "role": "agent", "password": PASSWORD},
        )
        assert added.status_code == 201, added.text
        heard = await next_event(owner_ws)
        assert heard == {"type": "member.created", "member_id": added.json()["id"]}
        # A change to the agent is theirs: the owner hears the next workspace event instead.
        renamed = await http.patch(f"/api/v1/members/{agent.id}", json={"name": "美咲さん"})
        assert renamed.status_code == 200
        channel = await http.post("/api/v1/channels", json={"kind": "api", "name": "予約"})
        assert channel.status_code == 201
        assert (await next_event(owner_ws))["type"] == "channel.created"
    async with websockets.connect(
        ws_url(live_server), additional_headers=auth(agent_token)
    ) as agent_ws:
        await next_event(agent_ws)  # ready
        async with httpx.AsyncClient(base_url=live_server.url, headers=auth(agent_token)) as http:
            await http.patch("/api/v1/me", json={"language": "en"})
        heard = await next_event(agent_ws)
        assert heard == {"type": "member.updated", "member_id": agent.id}
