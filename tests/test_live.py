"""Live events over a real WebSocket connection to a real server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from madoguchi.config import Settings
from madoguchi.events import Backlog, EventBus, InProcessBus, RedisBus, create_bus
from madoguchi.events.types import (
    ConversationReadState,
    Event,
    MemberCreated,
    MemberUpdated,
    MessageCreated,
    StatusesChanged,
)
from madoguchi.kit.db import Database
from tests.conftest import LiveServer
from tests.fixtures import PASSWORD, Factory, auth


def ws_url(server: LiveServer, since: int | str | None = None) -> str:
    url = server.url.replace("http://", "ws://") + "/ws"
    return url if since is None else f"{url}?since={since}"


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
    await factory.unread_per_member()
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
    published: list[Event] = [
        # The workspace's, though its data names a member.
        MemberCreated(new_member_id=5),
        # That member's own.
        MemberUpdated(member_id=5),
        ConversationReadState(conversation_id=1, contact_id=2, member_id=5),
        MessageCreated(
            conversation_id=1, contact_id=2, message_id=7, kind="inbound", assignee_id=None
        ),
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
    # Numbered in the order published, one stream for every process.
    ids = [event.id for event in received]
    assert ids == list(range(ids[0], ids[0] + len(published))), ids
    assert [event.visible_to(5) for event in received] == [True, True, True, True]
    assert [event.visible_to(6) for event in received] == [True, False, False, True]


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


# --- catching up after a reconnect (?since=) ----------------------------------------------------


@contextlib.asynccontextmanager
async def _small_bus(settings: Settings, kind: str, keep: int) -> AsyncIterator[EventBus]:
    """A bus keeping ``keep`` events, on a stream of its own."""
    if kind == "in-process":
        yield InProcessBus(backlog_size=keep)
        return
    import redis.asyncio as redis

    assert settings.redis_url
    prefix = f"{settings.redis_prefix}-{secrets.token_hex(4)}"
    bus = RedisBus(settings.redis_url, prefix, backlog_size=keep)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()
        client = redis.from_url(settings.redis_url)
        await client.delete(f"{prefix}:events:last_id", f"{prefix}:events:recent")
        await client.aclose()


def _changed(status_id: int) -> Event:
    return StatusesChanged(status_id=status_id)


@pytest.mark.parametrize("kind", BUSES)
async def test_the_backlog_holds_the_events_after_a_cursor_or_says_to_reload(
    settings: Settings, kind: str
) -> None:
    async with _small_bus(settings, kind, keep=3) as bus:
        start = (await bus.backlog(None)).last_id
        assert await bus.backlog(start) == Backlog(last_id=start, events=[], complete=True)
        for status_id in range(1, 6):
            await bus.publish(_changed(status_id))
        newest = (await bus.backlog(None)).last_id
        first = newest - 4  # the five events' ids: first … newest
        assert first > 10**15, "a stream starts at the time, above an earlier stream's ids"
        caught_up = await bus.backlog(first + 1)
        assert caught_up.complete and caught_up.last_id == newest
        assert [(event.id, event) for event in caught_up.events] == [
            (first + 2, _changed(3)),
            (first + 3, _changed(4)),
            (first + 4, _changed(5)),
        ]
        assert await bus.backlog(newest) == Backlog(last_id=newest, events=[], complete=True)
        # The second event is no longer kept: whoever last saw the first must reload.
        too_old = await bus.backlog(first)
        assert (too_old.complete, too_old.events, too_old.last_id) == (False, [], newest)
        # Cursors from other streams: above the newest id, or far below the oldest kept.
        assert not (await bus.backlog(newest + 1)).complete
        assert not (await bus.backlog(0)).complete


async def test_a_cursor_from_before_a_restart_asks_to_reload_however_busy_the_new_stream() -> None:
    before = InProcessBus()
    await before.publish(_changed(1))
    cursor = (await before.backlog(None)).last_id
    await asyncio.sleep(0.01)
    restarted = InProcessBus()
    for status_id in range(100):
        await restarted.publish(_changed(status_id))
    backlog = await restarted.backlog(cursor)
    assert (backlog.complete, backlog.events) == (False, [])


async def test_a_client_with_a_cursor_gets_what_it_missed_then_the_live_events(
    live_server: LiveServer, factory: Factory
) -> None:
    await factory.unread_per_member()
    alice, bob = await factory.member(), await factory.member()
    alice_token, bob_token = await factory.token(alice), await factory.token(bob)
    ingested = await factory.inbound(await factory.channel())
    conversation_id, contact_id = ingested.conversation.id, ingested.conversation.contact_id
    async with httpx.AsyncClient(base_url=live_server.url) as http:

        async def rename(name: str) -> None:
            answer = await http.patch(
                f"/api/v1/contacts/{contact_id}",
                json={"display_name": name},
                headers=auth(alice_token),
            )
            assert answer.status_code == 200, answer.text

        async with websockets.connect(
            ws_url(live_server, "now"), additional_headers=auth(alice_token)
        ) as connection:
            ready = await next_event(connection)
            assert set(ready) == {"type", "member_id", "last_event_id"}
            assert (ready["type"], ready["member_id"]) == ("ready", alice.id)
            await rename("高橋様")
            heard = await next_event(connection)
            assert heard == {
                "type": "contact.updated",
                "member_id": None,
                "contact_id": contact_id,
                "part": "profile",
                "id": ready["last_event_id"] + 1,
            }
            cursor = heard["id"]

        # While Alice is away: a workspace event, Bob's own, and hers.
        await rename("高橋さま")
        read = f"/api/v1/conversations/{conversation_id}/read"
        assert (await http.post(read, headers=auth(bob_token))).status_code == 204
        assert (await http.post(read, headers=auth(alice_token))).status_code == 204

        async with websockets.connect(
            ws_url(live_server, cursor), additional_headers=auth(alice_token)
        ) as connection:
            ready = await next_event(connection)
            assert ready == {"type": "ready", "member_id": alice.id, "last_event_id": cursor + 3}
            missed = [await next_event(connection), await next_event(connection)]
            assert missed == [
                {
                    "type": "contact.updated",
                    "member_id": None,
                    "contact_id": contact_id,
                    "part": "profile",
                    "id": cursor + 1,
                },
                {
                    "type": "conversation.read_state",
                    "member_id": alice.id,
                    "conversation_id": conversation_id,
                    "contact_id": contact_id,
                    "id": cursor + 3,
                },
            ]
            # Then the live ones, each once.
            await rename("高橋")
            live = await next_event(connection)
            assert (live["type"], live["id"]) == ("contact.updated", cursor + 4)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(connection.recv(), 0.5)


async def test_a_cursor_the_server_cannot_serve_asks_the_client_to_reload(
    live_server: LiveServer, factory: Factory
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    async with websockets.connect(
        ws_url(live_server, "now"), additional_headers=auth(token)
    ) as connection:
        newest = (await next_event(connection))["last_event_id"]
    # An id from before the server's stream restarted: above any it has given.
    async with websockets.connect(
        ws_url(live_server, newest + 1000), additional_headers=auth(token)
    ) as connection:
        assert (await next_event(connection))["type"] == "ready"
        assert await next_event(connection) == {"type": "resync", "member_id": member.id}


async def test_a_cursor_that_is_not_an_event_id_is_refused(
    live_server: LiveServer, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    for since in ("-1", "abc", "1.5", "١"):
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(
                ws_url(live_server, since), additional_headers=auth(token)
            ):
                pass


async def test_a_system_line_is_heard_with_its_kind_like_any_message(
    live_server: LiveServer, factory: Factory
) -> None:
    member = await factory.member()
    token = await factory.token(member)
    conversation = (await factory.inbound(await factory.channel())).conversation
    async with (
        websockets.connect(ws_url(live_server), additional_headers=auth(token)) as connection,
        httpx.AsyncClient(base_url=live_server.url, headers=auth(token)) as http,
    ):
        await next_event(connection)  # ready
        taken = await http.post(f"/api/v1/conversations/{conversation.id}/become-assignee")
        assert taken.status_code == 200, taken.text
        heard = [await next_event(connection), await next_event(connection)]
        line = await http.get(f"/api/v1/conversations/{conversation.id}/messages")
        [system] = [message for message in line.json()["items"] if message["kind"] == "system"]
        assert heard == [
            {
                "type": "conversation.updated",
                "member_id": None,
                "conversation_id": conversation.id,
                "contact_id": conversation.contact_id,
            },
            {
                "type": "message.created",
                "member_id": None,
                "conversation_id": conversation.id,
                "contact_id": conversation.contact_id,
                "message_id": system["id"],
                "kind": "system",
                "assignee_id": member.id,
            },
        ]


async def test_reconnecting_with_the_cursor_while_events_flow_misses_none_and_repeats_none(
    live_server: LiveServer, factory: Factory
) -> None:
    token = await factory.token(await factory.member())
    contact_id = (await factory.inbound(await factory.channel())).conversation.contact_id
    renames = 30
    async with httpx.AsyncClient(base_url=live_server.url, headers=auth(token)) as http:

        async def write() -> None:
            for n in range(renames):
                answer = await http.patch(
                    f"/api/v1/contacts/{contact_id}", json={"display_name": f"高橋{n}"}
                )
                assert answer.status_code == 200, answer.text

        async with websockets.connect(
            ws_url(live_server, "now"), additional_headers=auth(token)
        ) as connection:
            cursor = first = (await next_event(connection))["last_event_id"]
        writer = asyncio.create_task(write())
        heard: list[int] = []
        # Each connection takes a few events and drops, often while the writer is mid-flow.
        while len(heard) < renames:
            async with websockets.connect(
                ws_url(live_server, cursor), additional_headers=auth(token)
            ) as connection:
                assert (await next_event(connection))["type"] == "ready"
                for _ in range(1 + len(heard) % 3):
                    event = await next_event(connection)
                    assert event["type"] == "contact.updated", event
                    heard.append(event["id"])
                    cursor = event["id"]
                    if len(heard) == renames:
                        break
        await writer
    assert heard == list(range(first + 1, first + renames + 1))


class RacingBus(InProcessBus):
    """An event lands between a connection's subscribing and its reading of the backlog:
    it is then both in the backlog and on its way live."""

    stream_start = 0

    def __init__(self) -> None:
        super().__init__()
        RacingBus.stream_start = self._last_id

    async def backlog(self, since: int | None) -> Backlog:
        await self.publish(StatusesChanged(status_id=1))
        return await super().backlog(since)


async def test_an_event_both_caught_up_and_live_is_sent_once(
    settings: Settings, database: Database, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await factory.token(await factory.member())
    monkeypatch.setattr("madoguchi.app.create_bus", lambda _settings: RacingBus())
    server = LiveServer(settings)
    await asyncio.to_thread(server.start)
    try:
        async with websockets.connect(
            ws_url(server, RacingBus.stream_start), additional_headers=auth(token)
        ) as connection:
            raced = (await next_event(connection))["last_event_id"]
            assert await next_event(connection) == {
                "type": "statuses.changed",
                "member_id": None,
                "status_id": 1,
                "id": raced,
            }
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(connection.recv(), 0.5)
    finally:
        await asyncio.to_thread(server.stop)
