"""Web Push (RFC 8030, 8291, 8292): the notifications F41 raises in the tab, sent to a member's
phone or PC when no tab of theirs is open.

A member subscribes each browser they want told (``subscribe``: the browser's
``PushSubscription.toJSON()``). What happens queues a ``PushDelivery`` inside the change that
causes it (``queue``); the worker sends it (``send_due``), never a request, so a slow push
service slows no reply. Each push is a POST to the subscription's endpoint, its payload
encrypted for that browser (``Content-Encoding: aes128gcm``, http_ece) and signed for by the
workspace's VAPID key (``Authorization: vapid t=…, k=…``, py-vapid), which is made at first
use and kept in the database, like the signing key. An endpoint answering 404 or 410 is gone:
its subscription is forgotten. The payload names no customer and quotes nothing they wrote
unless the subscription allows previews.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, Message
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.i18n import gettext_for
from madoguchi.members.models import Member
from madoguchi.notifications.models import PushDelivery, PushSubscription
from madoguchi.workspace import service as workspace

log = logging.getLogger(__name__)

VAPID_KEY = "vapid_private_key"
# How long a push service keeps a push for a browser that is off (seconds).
TTL = 12 * 3600
# A failed push (the push service busy or unreachable) is tried this many times in all.
ATTEMPTS = 3
RETRY_AFTER = timedelta(seconds=30)
# A push not sent by then (the worker was stopped) is dropped: by now it would only be noise.
STALE_AFTER = timedelta(hours=1)
# How long the push service gets to answer; the worker sends one push at a time.
TIMEOUT = 10.0
# A quoted message is cut here: a push carries at most 4 kB.
PREVIEW_CHARS = 140
MAX_ENDPOINT = 2000
KINDS = ("message", "assigned", "mentioned", "scheduled_failed")

_keys: dict[str, ec.EllipticCurvePrivateKey] = {}


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_private(key: ec.EllipticCurvePrivateKey) -> str:
    return _b64encode(key.private_numbers().private_value.to_bytes(32, "big"))


def _from_raw(text: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(_b64decode(text), "big"), ec.SECP256R1())


async def vapid_key(db: AsyncSession) -> ec.EllipticCurvePrivateKey:
    """The workspace's VAPID key (P-256), made on first use and shared by every process
    through the database."""
    raw = await workspace.kept_value(
        db, VAPID_KEY, lambda: _raw_private(ec.generate_private_key(ec.SECP256R1()))
    )
    if raw not in _keys:
        _keys[raw] = _from_raw(raw)
    return _keys[raw]


def public_key_of(key: ec.EllipticCurvePrivateKey) -> str:
    """The application server key a browser subscribes with: the uncompressed point,
    base64url without padding."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return _b64encode(point)


async def public_key(db: AsyncSession) -> str:
    return public_key_of(await vapid_key(db))


async def make_vapid_key(database: Database) -> None:
    """At start: the key made (once for good) before any browser asks for it."""
    async with database.write_sessions() as session:
        await vapid_key(session)
        await session.commit()


# --- subscriptions ----------------------------------------------------------------------------


def _checked_endpoint(endpoint: str, *, allow_loopback_http: bool) -> str:
    endpoint = endpoint.strip()
    if not endpoint or len(endpoint) > MAX_ENDPOINT:
        raise Invalid("The push endpoint must be an https address of at most 2000 characters.")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        parts.port  # noqa: B018 - a port that is not a number raises
    except ValueError:
        raise Invalid("The push endpoint is not a web address.") from None
    if not host or parts.username or parts.password:
        raise Invalid("The push endpoint is not a web address.")
    if parts.scheme == "https":
        return endpoint
    if parts.scheme == "http" and host == "127.0.0.1" and allow_loopback_http:
        return endpoint
    raise Invalid("The push endpoint must be an https address.")


def _checked_keys(p256dh: str, auth: str) -> tuple[str, str]:
    try:
        point = _b64decode(p256dh.strip())
        secret = _b64decode(auth.strip())
    except (binascii.Error, ValueError):
        raise Invalid("The subscription's keys must be base64url text.") from None
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Invalid("keys.p256dh is not the browser's P-256 public key.") from None
    if len(point) != 65 or len(secret) != 16:
        raise Invalid("keys.p256dh is not the browser's P-256 public key.")
    return _b64encode(point), _b64encode(secret)


def device_label(user_agent: str) -> str:
    """A short name for the browser, from its User-Agent ("Chrome / Android")."""
    agent = user_agent or ""
    browser = next(
        (
            name
            for token, name in (
                ("Edg/", "Edge"),
                ("OPR/", "Opera"),
                ("SamsungBrowser", "Samsung Internet"),
                ("Firefox/", "Firefox"),
                ("CriOS", "Chrome"),
                ("Chrome/", "Chrome"),
                ("Safari/", "Safari"),
            )
            if token in agent
        ),
        "",
    )
    system = next(
        (
            name
            for token, name in (
                ("Android", "Android"),
                ("iPhone", "iPhone"),
                ("iPad", "iPad"),
                ("Windows", "Windows"),
                ("Mac OS X", "Mac"),
                ("CrOS", "ChromeOS"),
                ("Linux", "Linux"),
            )
            if token in agent
        ),
        "",
    )
    return " / ".join(part for part in (browser, system) if part)[:100]


async def subscribe(
    ctx: Ctx,
    *,
    member: Member,
    endpoint: str,
    p256dh: str,
    auth: str,
    label: str = "",
    previews: bool | None = None,
) -> PushSubscription:
    """Add this browser for the member (committed). The same endpoint again (the browser
    subscribing anew, or another member signing in on it) is the same row, now theirs."""
    endpoint = _checked_endpoint(
        endpoint, allow_loopback_http=ctx.settings.push_allow_loopback_http
    )
    p256dh, auth = _checked_keys(p256dh, auth)
    subscription = await ctx.db.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    )
    if subscription is None:
        subscription = PushSubscription(
            member_id=member.id,
            endpoint=endpoint,
            p256dh=p256dh,
            auth=auth,
            label=label[:100],
            previews=bool(previews),
            created_at=ctx.now(),
        )
        ctx.db.add(subscription)
    else:
        if subscription.member_id != member.id:
            # Another member's browser until now: what they allowed does not carry over.
            subscription.previews = False
        subscription.member_id = member.id
        subscription.p256dh = p256dh
        subscription.auth = auth
        subscription.label = label[:100] or subscription.label
        if previews is not None:
            subscription.previews = previews
    await ctx.db.flush()
    await ctx.commit()
    return subscription


async def subscriptions_of(db: AsyncSession, *, member_id: int) -> list[PushSubscription]:
    return list(
        await db.scalars(
            select(PushSubscription)
            .where(PushSubscription.member_id == member_id)
            .order_by(PushSubscription.id)
        )
    )


async def _own(ctx: Ctx, member: Member, subscription_id: int) -> PushSubscription:
    subscription = await ctx.db.get(PushSubscription, subscription_id)
    if subscription is None or subscription.member_id != member.id:
        raise NotFound("There is no such device.")
    return subscription


async def set_previews(
    ctx: Ctx, *, member: Member, subscription_id: int, previews: bool
) -> PushSubscription:
    subscription = await _own(ctx, member, subscription_id)
    subscription.previews = previews
    await ctx.commit()
    return subscription


async def unsubscribe(ctx: Ctx, *, member: Member, subscription_id: int) -> None:
    """Forget one of the member's browsers (another member's is not found)."""
    await ctx.db.delete(await _own(ctx, member, subscription_id))
    await ctx.commit()


# --- queueing ---------------------------------------------------------------------------------


async def queue(
    ctx: Ctx,
    *,
    member_id: int,
    kind: str,
    conversation_id: int | None,
    message_id: int | None = None,
    actor_name: str = "",
) -> None:
    """A push for the worker to send (nothing committed), if the member has a browser to
    send it to and wants this kind of notification (the same choices as the tab's)."""
    has_device = await ctx.db.scalar(
        select(exists().where(PushSubscription.member_id == member_id))
    )
    if not has_device:
        return  # the common case: one indexed look, nothing more
    member = await ctx.db.get(Member, member_id)
    if member is None or not member.active:
        return
    wanted = member.notify_mentions if kind == "mentioned" else member.notify_assigned
    if not wanted:
        return
    ctx.db.add(
        PushDelivery(
            member_id=member_id,
            kind=kind,
            conversation_id=conversation_id,
            message_id=message_id,
            actor_name=actor_name[:100],
            next_at=ctx.now(),
            created_at=ctx.now(),
        )
    )


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    member_id: int
    subscription_id: int | None
    kind: str
    conversation_id: int | None
    message_id: int | None
    actor_name: str
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class _Target:
    id: int
    endpoint: str
    p256dh: str
    auth: str
    previews: bool


CtxFactory = Callable[[], AbstractAsyncContextManager[Ctx]]


async def send_due(
    ctxs: CtxFactory,
    *,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None = None,
    limit: int = 100,
) -> int:
    """Send the pushes due at ``now``; how many reached a push service. Each is claimed in a
    transaction of its own (deleted: no other worker sends it) and sent outside any."""
    async with ctxs() as ctx:
        due = list(
            await ctx.db.scalars(
                select(PushDelivery.id)
                .where(PushDelivery.next_at <= now)
                .order_by(PushDelivery.id)
                .limit(limit)
            )
        )
        if not due:
            return 0
        # Stored before anything is signed with it: the browsers subscribed with this one.
        key = await vapid_key(ctx.db)
        await ctx.db.commit()
    sent = 0
    async with httpx.AsyncClient(timeout=TIMEOUT, transport=transport) as client:
        for delivery_id in due:
            try:
                sent += await _send_one(ctxs, client, key, delivery_id, now)
            except Exception:
                log.exception("a push could not be sent")
    return sent


async def _claim(ctx: Ctx, delivery_id: int) -> _Claimed | None:
    row = await ctx.db.get(PushDelivery, delivery_id)
    if row is None:
        return None
    claimed = _Claimed(
        member_id=row.member_id,
        subscription_id=row.subscription_id,
        kind=row.kind,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        actor_name=row.actor_name,
        attempts=row.attempts,
        created_at=row.created_at,
    )
    gone = await ctx.db.execute(delete(PushDelivery).where(PushDelivery.id == delivery_id))
    if getattr(gone, "rowcount", 0) != 1:
        await ctx.db.rollback()
        return None
    await ctx.db.commit()
    return claimed


async def _send_one(
    ctxs: CtxFactory,
    client: httpx.AsyncClient,
    key: ec.EllipticCurvePrivateKey,
    delivery_id: int,
    now: datetime,
) -> int:
    async with ctxs() as ctx:
        claimed = await _claim(ctx, delivery_id)
        if claimed is None or claimed.created_at < now - STALE_AFTER:
            return 0
        if await ctx.bus.is_present(claimed.member_id):
            return 0  # a live tab tells them itself
        member = await ctx.db.get(Member, claimed.member_id)
        if member is None or not member.active:
            return 0
        query = select(PushSubscription).where(PushSubscription.member_id == member.id)
        if claimed.subscription_id is not None:
            query = query.where(PushSubscription.id == claimed.subscription_id)
        targets = [
            _Target(s.id, s.endpoint, s.p256dh, s.auth, s.previews)
            for s in await ctx.db.scalars(query)
        ]
        payloads = {
            previews: json.dumps(
                await _payload(ctx.db, claimed, member.language, previews=previews),
                ensure_ascii=False,
            ).encode()
            for previews in {target.previews for target in targets}
        }
        subject = ctx.settings.base_url or "https://localhost"
        clock = ctx.now
    sent = 0
    for target in targets:
        outcome = await _post(client, key, subject, target, payloads[target.previews])
        async with ctxs() as ctx:
            if outcome == "sent":
                sent += 1
                found = await ctx.db.get(PushSubscription, target.id)
                if found is not None:
                    found.last_sent_at = clock()
            elif outcome == "gone":
                await ctx.db.execute(
                    delete(PushSubscription).where(PushSubscription.id == target.id)
                )
            elif outcome == "retry" and claimed.attempts + 1 < ATTEMPTS:
                ctx.db.add(
                    PushDelivery(
                        member_id=claimed.member_id,
                        subscription_id=target.id,
                        kind=claimed.kind,
                        conversation_id=claimed.conversation_id,
                        message_id=claimed.message_id,
                        actor_name=claimed.actor_name,
                        attempts=claimed.attempts + 1,
                        next_at=now + RETRY_AFTER * (2**claimed.attempts),
                        created_at=claimed.created_at,
                    )
                )
            await ctx.db.commit()
    return sent


def encrypt(payload: bytes, *, p256dh: str, auth: str) -> bytes:
    """The payload encrypted for one browser (RFC 8291, aes128gcm), with a key of its own."""
    sender = ec.generate_private_key(ec.SECP256R1())
    encrypted: bytes = http_ece.encrypt(
        payload,
        private_key=sender,
        dh=_b64decode(p256dh),
        auth_secret=_b64decode(auth),
        version="aes128gcm",
    )
    return encrypted


def vapid_authorization(key: ec.EllipticCurvePrivateKey, endpoint: str, subject: str) -> str:
    """``vapid t=<JWT signed ES256 for the endpoint's origin>, k=<our public key>``."""
    parts = urlsplit(endpoint)
    claims = {
        "aud": f"{parts.scheme}://{parts.netloc}",
        "exp": int(time.time()) + 12 * 3600,
        "sub": subject,
    }
    signed: dict[str, str] = Vapid02(private_key=key, conf={"no-strict": True}).sign(claims)
    return signed["Authorization"]


async def _post(
    client: httpx.AsyncClient,
    key: ec.EllipticCurvePrivateKey,
    subject: str,
    target: _Target,
    payload: bytes,
) -> str:
    """``sent``, ``gone`` (forget the subscription), ``retry`` or ``dropped``."""
    try:
        body = encrypt(payload, p256dh=target.p256dh, auth=target.auth)
        answer = await client.post(
            target.endpoint,
            content=body,
            headers={
                "Authorization": vapid_authorization(key, target.endpoint, subject),
                "Content-Encoding": "aes128gcm",
                "Content-Type": "application/octet-stream",
                "TTL": str(TTL),
                "Urgency": "high",
            },
        )
    except httpx.HTTPError as error:
        log.warning("the push service at %s did not answer: %s", _origin(target.endpoint), error)
        return "retry"
    if answer.status_code in (404, 410):
        return "gone"
    if answer.is_success:
        return "sent"
    if answer.status_code == 429 or answer.status_code >= 500:
        return "retry"
    log.warning(
        "the push service at %s refused a push: %s %s",
        _origin(target.endpoint),
        answer.status_code,
        answer.text[:200],
    )
    return "dropped"


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


async def _payload(
    db: AsyncSession, claimed: _Claimed, language: str, *, previews: bool
) -> dict[str, object]:
    """What the service worker shows: a title, a line, where a tap leads, and a tag that
    folds a conversation's notifications into one."""
    _ = gettext_for(language).gettext
    name = claimed.actor_name or _("Someone")
    lines = {
        "message": _("A customer sent a new message"),
        "assigned": _("%(name)s made you the assignee") % {"name": name},
        "mentioned": _("%(name)s mentioned you") % {"name": name},
        "scheduled_failed": _("A scheduled message could not be sent"),
    }
    title = "Madoguchi"
    body = lines.get(claimed.kind, _("New message"))
    if previews and claimed.conversation_id is not None:
        contact_name = await db.scalar(
            select(Contact.display_name)
            .join(Conversation, Conversation.contact_id == Contact.id)
            .where(Conversation.id == claimed.conversation_id)
        )
        title = contact_name or title
        if claimed.message_id is not None and claimed.kind in ("message", "mentioned"):
            text = await db.scalar(select(Message.text).where(Message.id == claimed.message_id))
            if text and text.strip():
                quoted = " ".join(text.split())
                if len(quoted) > PREVIEW_CHARS:
                    quoted = quoted[: PREVIEW_CHARS - 1] + "…"
                body = quoted if claimed.kind == "message" else f"{body}: {quoted}"
    url = f"/c/{claimed.conversation_id}" if claimed.conversation_id is not None else "/"
    return {
        "title": title,
        "body": body,
        "url": url,
        "tag": f"madoguchi-{claimed.kind}-{claimed.conversation_id or 0}",
        "kind": claimed.kind,
        "conversation_id": claimed.conversation_id,
    }
