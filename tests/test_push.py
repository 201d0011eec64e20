"""Web Push (issue 13, item 10) against a local recording push service: each push is checked
as a real push service and a real browser would (the VAPID JWT's ES256 signature with the
application server key, its audience and expiry; the aes128gcm payload decrypted with the
subscription's own private key)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import httpx
import pytest
import websockets
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.conversations import workflow
from madoguchi.events import EventBus, InProcessBus, RedisBus
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Pushed:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    """A push service on 127.0.0.1 that records what it is sent; ``/gone/…`` answers 410,
    ``/busy/…`` 503."""

    url: str
    received: list[Pushed] = field(default_factory=list)


@pytest.fixture
def push_service() -> Iterator[PushService]:
    received: list[Pushed] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append(
                Pushed(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length),
                )
            )
            status = 201
            if self.path.startswith("/gone/"):
                status = 410
            elif self.path.startswith("/busy/"):
                status = 503
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield PushService(f"http://127.0.0.1:{server.server_address[1]}", received)
    server.shutdown()
    server.server_close()


@dataclass
class Browser:
    """A browser's side of a subscription: its P-256 key pair and auth secret."""

    endpoint: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    secret: bytes = field(default_factory=lambda: os.urandom(16))

    def to_json(self) -> dict[str, Any]:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64(point), "auth": b64(self.secret)},
        }

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.key, auth_secret=self.secret, version="aes128gcm"
        )
        payload: dict[str, Any] = json.loads(plain)
        return payload


def check_vapid(pushed: Pushed, *, public_key: str, origin: str) -> None:
    """What a push service checks: the scheme, our key, and a JWT it signed for this origin."""
    scheme, _, params = pushed.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(part.strip().split("=", 1) for part in params.split(","))
    assert parts["k"] == public_key
    header, claims, signature = parts["t"].split(".")
    assert json.loads(unb64(header)) == {"typ": "JWT", "alg": "ES256"}
    raw = unb64(signature)
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(parts["k"]))
    key.verify(
        encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
        f"{header}.{claims}".encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    # A signature over anything else does not pass.
    with pytest.raises(InvalidSignature):
        key.verify(
            encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
            f"{header}.{claims}x".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
    decoded = json.loads(unb64(claims))
    assert decoded["aud"] == origin
    assert time.time() < decoded["exp"] <= time.time() + 24 * 3600
    assert decoded["sub"]
    assert pushed.headers["content-encoding"] == "aes128gcm"
    assert int(pushed.headers["ttl"]) > 0


@pytest.fixture
def push_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"push_allow_loopback_http": True})


@pytest.fixture
async def push_client(
    database: Database, push_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(push_settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def worker(push_settings: Settings, database: Database, bus: EventBus | None = None) -> Worker:
    return Worker(settings=push_settings, database=database, bus=bus or InProcessBus(), adapters={})


async def test_a_push_is_signed_encrypted_and_quotes_the_customer_only_with_previews(
    push_client: httpx.AsyncClient,
    push_service: PushService,
    push_settings: Settings,
    database: Database,
    ctx: Ctx,
    factory: Factory,
) -> None:
    owner = await factory.member(role="owner", name="店長")
    stylist = await factory.member()
    headers = auth(await factory.token(stylist))
    channel = await factory.channel()
    key = (await push_client.get("/api/v1/push/key", headers=headers)).json()["public_key"]
    assert len(unb64(key)) == 65
    quiet = Browser(f"{push_service.url}/push/quiet")
    previewing = Browser(f"{push_service.url}/push/previews")
    for browser, previews in ((quiet, None), (previewing, True)):
        body = {**browser.to_json(), **({"previews": previews} if previews else {})}
        answer = await push_client.post("/api/v1/push/subscriptions", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
    listed = (await push_client.get("/api/v1/push/subscriptions", headers=headers)).json()
    assert [(d["endpoint"], d["previews"]) for d in listed["items"]] == [
        (quiet.endpoint, False),
        (previewing.endpoint, True),
    ]

    first = await factory.inbound(channel, name="加藤 美穂", text="はじめまして")
    conversation_id = first.conversation.id
    await workflow.assign(ctx, conversation_id=conversation_id, member_id=stylist.id, actor=owner)
    await factory.inbound(channel, name="加藤 美穂", text="明日15時に予約できますか")
    await ctx.db.rollback()
    result = await worker(push_settings, database).tick()

    assert result.pushed == 4  # the assignment and the message, to each device
    assert {p.path for p in push_service.received} == {"/push/quiet", "/push/previews"}
    for pushed in push_service.received:
        check_vapid(pushed, public_key=key, origin=push_service.url)
    seen = {
        (p.path, payload["kind"]): payload
        for p in push_service.received
        for payload in [(quiet if p.path == "/push/quiet" else previewing).decrypt(p.body)]
    }
    assert seen[("/push/quiet", "assigned")]["body"] == "店長さんがあなたを担当者にしました"
    quiet_message = seen[("/push/quiet", "message")]
    assert quiet_message["url"] == f"/c/{conversation_id}"
    text = json.dumps(list(seen[k] for k in seen if k[0] == "/push/quiet"), ensure_ascii=False)
    assert "加藤" not in text and "予約" not in text and "はじめまして" not in text
    preview = seen[("/push/previews", "message")]
    assert preview["title"] == "加藤 美穂"
    assert preview["body"] == "明日15時に予約できますか"
    # Sent once: the next tick has nothing to send.
    assert (await worker(push_settings, database).tick()).pushed == 0


async def test_a_mention_is_pushed_and_an_endpoint_answering_410_is_forgotten(
    push_client: httpx.AsyncClient,
    push_service: PushService,
    push_settings: Settings,
    database: Database,
    ctx: Ctx,
    factory: Factory,
) -> None:
    from madoguchi.conversations import service as conversations
    from madoguchi.members import service as members

    owner = await factory.member(role="owner", name="店長")
    stylist = await factory.member(name="佐藤")
    headers = auth(await factory.token(stylist))
    gone = Browser(f"{push_service.url}/gone/1")
    answer = await push_client.post(
        "/api/v1/push/subscriptions", json=gone.to_json(), headers=headers
    )
    assert answer.status_code == 201
    # A colleague who turned mention notifications off is not pushed either.
    quiet = await factory.member(name="山本")
    await members.update_settings(ctx, member=quiet, notify_mentions=False)
    quiet_headers = auth(await factory.token(quiet))
    elsewhere = Browser(f"{push_service.url}/push/yamamoto")
    answer = await push_client.post(
        "/api/v1/push/subscriptions", json=elsewhere.to_json(), headers=quiet_headers
    )
    assert answer.status_code == 201
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    await conversations.send_message(
        ctx,
        conversation_id=ingested.conversation.id,
        member=owner,
        text="@佐藤 @山本 お願いします",
        kind="note",
    )
    await ctx.db.rollback()
    assert (await worker(push_settings, database).tick()).pushed == 0
    [pushed] = push_service.received
    assert pushed.path == "/gone/1"
    assert gone.decrypt(pushed.body)["body"] == "店長さんが社内メモであなたをメンションしました"
    listed = await push_client.get("/api/v1/push/subscriptions", headers=headers)
    assert listed.json()["items"] == []


async def _bus_of(server: LiveServer, settings: Settings) -> AsyncIterator[EventBus]:
    if settings.redis_url:
        # Another process's view: the live tabs are in Redis.
        bus = RedisBus(settings.redis_url, settings.redis_prefix)
        try:
            yield bus
        finally:
            await bus.close()
    else:
        # One process without Redis: the server's own bus knows its tabs.
        yield server.server.config.app.state.runtime.bus


async def test_no_push_while_the_member_has_a_live_tab(
    live_server: LiveServer,
    push_service: PushService,
    push_settings: Settings,
    database: Database,
    ctx: Ctx,
    factory: Factory,
) -> None:
    from madoguchi.notifications import push

    member = await factory.member()
    token = await factory.token(member)
    channel = await factory.channel()
    browser = Browser(f"{push_service.url}/push/1")
    keys = browser.to_json()["keys"]
    await push.subscribe(
        Ctx(db=ctx.db, bus=ctx.bus, settings=push_settings),
        member=member,
        endpoint=browser.endpoint,
        p256dh=keys["p256dh"],
        auth=keys["auth"],
    )
    ingested = await factory.inbound(channel)
    conversation_id = ingested.conversation.id
    await workflow.assign(ctx, conversation_id=conversation_id, member_id=member.id, actor=None)
    url = live_server.url.replace("http://", "ws://") + "/ws"
    async with contextlib.aclosing(_bus_of(live_server, push_settings)) as buses:
        bus = await anext(buses)
        async with websockets.connect(url, additional_headers=auth(token)) as connection:
            await asyncio.wait_for(connection.recv(), 5)  # ready: the tab is live
            assert await bus.is_present(member.id)
            await factory.inbound(channel, text="まだ開いています")
            await ctx.db.rollback()
            assert (await worker(push_settings, database, bus).tick()).pushed == 0
        assert push_service.received == []
        deadline = time.monotonic() + 5
        while await bus.is_present(member.id):
            assert time.monotonic() < deadline, "the closed tab is still counted"
            await asyncio.sleep(0.02)
        await factory.inbound(channel, text="閉じました")
        await ctx.db.rollback()
        assert (await worker(push_settings, database, bus).tick()).pushed == 1
    [pushed] = push_service.received
    assert browser.decrypt(pushed.body)["kind"] == "message"


async def test_subscriptions_are_checked_and_each_members_own(
    push_client: httpx.AsyncClient, client: httpx.AsyncClient, factory: Factory
) -> None:
    alice = auth(await factory.token(await factory.member()))
    bob = auth(await factory.token(await factory.member()))
    browser = Browser("https://push.example.com/send/abc")
    body = browser.to_json()
    first = await push_client.post("/api/v1/push/subscriptions", json=body, headers=alice)
    again = await push_client.post("/api/v1/push/subscriptions", json=body, headers=alice)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()  # the same browser is one device
    device = first.json()["id"]

    refusals = {
        "http://push.example.com/x": "https",
        "http://127.0.0.1:9/x": "https",  # only with the tests' setting (not on `client`)
        "ftp://push.example.com/x": "https",
        "https://": "web address",
    }
    for endpoint, words in refusals.items():
        answer = await client.post(
            "/api/v1/push/subscriptions", json={**body, "endpoint": endpoint}, headers=alice
        )
        assert answer.status_code == 422, endpoint
        assert words in answer.json()["detail"]
    for keys in (
        {"p256dh": "not base64 !", "auth": body["keys"]["auth"]},
        {"p256dh": b64(b"\x04" + b"\x01" * 64), "auth": body["keys"]["auth"]},
        {"p256dh": body["keys"]["p256dh"], "auth": b64(b"short")},
        {"p256dh": body["keys"]["p256dh"]},
    ):
        answer = await client.post(
            "/api/v1/push/subscriptions", json={**body, "keys": keys}, headers=alice
        )
        assert answer.status_code == 422, keys
        assert isinstance(answer.json()["detail"], str)
    assert (
        await client.post("/api/v1/push/subscriptions", json=[], headers=alice)
    ).status_code == 422

    assert (await client.get("/api/v1/push/subscriptions", headers=bob)).json()["items"] == []
    assert (
        await client.delete(f"/api/v1/push/subscriptions/{device}", headers=bob)
    ).status_code == 404
    patched = await client.patch(
        f"/api/v1/push/subscriptions/{device}", json={"previews": True}, headers=alice
    )
    assert patched.json()["previews"] is True
    assert (
        await client.delete(f"/api/v1/push/subscriptions/{device}", headers=alice)
    ).status_code == 204
    assert (
        await client.delete(f"/api/v1/push/subscriptions/{device}", headers=alice)
    ).status_code == 404
    assert (await client.get("/api/v1/push/key")).status_code == 401


async def test_the_vapid_key_is_made_once_and_kept(
    database: Database, settings: Settings, factory: Factory
) -> None:
    headers = auth(await factory.token(await factory.member()))
    from madoguchi.notifications import push
    from madoguchi.workspace import service as workspace

    keys = []
    for _ in range(2):  # two starts of the server, the second one reading what the first kept
        push._keys.clear()
        workspace.forget_kept()
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                keys.append((await client.get("/api/v1/push/key", headers=headers)).json())
    assert keys[0] == keys[1]


async def test_the_app_shell_is_served(client: httpx.AsyncClient, factory: Factory) -> None:
    manifest = await client.get("/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    document = manifest.json()
    assert document["display"] == "standalone" and document["start_url"] == "/"
    sizes = {icon["sizes"] for icon in document["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in document["icons"]:
        image = await client.get(icon["src"])
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(image.content[16:20]), int.from_bytes(image.content[20:24])
        assert f"{width}x{height}" == icon["sizes"]
    worker_script = await client.get("/sw.js")
    assert worker_script.headers["content-type"].startswith("text/javascript")
    assert "/offline" in worker_script.text and "showNotification" in worker_script.text
    offline = await client.get("/offline")
    assert offline.status_code == 200 and "オフライン" in offline.text
    login = await client.get("/login")
    assert '<link rel="manifest" href="/manifest.webmanifest">' in login.text


async def test_a_busy_push_service_is_tried_three_times_and_a_late_push_dropped(
    push_client: httpx.AsyncClient,
    push_service: PushService,
    push_settings: Settings,
    database: Database,
    ctx: Ctx,
    factory: Factory,
) -> None:
    from datetime import timedelta

    from madoguchi.kit.db import utcnow

    owner = await factory.member(role="owner")
    stylist = await factory.member()
    headers = auth(await factory.token(stylist))
    busy = Browser(f"{push_service.url}/busy/1")
    answer = await push_client.post(
        "/api/v1/push/subscriptions", json=busy.to_json(), headers=headers
    )
    assert answer.status_code == 201
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    conversation_id = ingested.conversation.id
    await workflow.assign(ctx, conversation_id=conversation_id, member_id=stylist.id, actor=owner)
    await ctx.db.rollback()
    now = utcnow()
    for later in (0, 31, 62, 200):  # 30 s, then 60 s more; a fourth time never comes
        await worker(push_settings, database).tick(now + timedelta(seconds=later))
    assert [p.path for p in push_service.received] == ["/busy/1"] * 3
    assert (
        len((await push_client.get("/api/v1/push/subscriptions", headers=headers)).json()["items"])
        == 1
    )

    # A push the worker never got to within the hour is dropped, not sent late.
    push_service.received.clear()
    await workflow.assign(ctx, conversation_id=conversation_id, member_id=None, actor=owner)
    await workflow.assign(ctx, conversation_id=conversation_id, member_id=stylist.id, actor=owner)
    await ctx.db.rollback()
    await worker(push_settings, database).tick(utcnow() + timedelta(hours=2))
    assert push_service.received == []
