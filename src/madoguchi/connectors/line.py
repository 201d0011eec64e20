"""LINE (Messaging API, F34): the webhook in, push messages out.

The webhook checks ``X-Line-Signature`` with the official SDK, answers LINE's "verify" (an
empty ``events``) with 200, and stores each message once however often LINE redelivers it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from madoguchi.channels.base import (
    DeliveryError,
    Outgoing,
    api_base,
    failure,
    http_client,
)
from madoguchi.channels.models import Channel, ChannelEvent, ChannelKind
from madoguchi.connectors.inbound import (
    Attachment,
    Inbound,
    MediaFile,
    Profile,
    Seen,
    TooBig,
    download,
    load_channel,
    media_problem,
    seen,
)
from madoguchi.connectors.webhooks import (
    accepted,
    body_flag,
    body_id,
    body_list,
    body_number,
    body_object,
    body_string,
    optional_object,
    parse_json,
    profile_of,
    refusal_logged,
    store_each,
)
from madoguchi.contacts import service as contacts
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import one_at_a_time
from madoguchi.kit.errors import BadRequest, Unauthorized
from madoguchi.kit.i18n import N_
from madoguchi.kit.security import constant_time_equals
from madoguchi.kit.web import CtxDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])

# The channel_events.event_id column (LINE's webhookEventIds are ULIDs, 26 characters).
MAX_EVENT_ID_LENGTH = 64
# A file's name when LINE gives none (videos and voice messages have none).
_SUFFIXES = {"video": ".mp4", "audio": ".m4a"}
# How long applied follows and unfollows are remembered: LINE redelivers for less than this.
EVENTS_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class LineConfig:
    channel_id: int
    secret: str
    token: str
    api: str
    data_api: str
    sticker_api: str

    @classmethod
    def of(cls, channel: Channel) -> LineConfig:
        base = channel.settings.get("api_base")
        return cls(
            channel_id=channel.id,
            secret=str(channel.settings.get("channel_secret") or ""),
            token=str(channel.settings.get("access_token") or ""),
            api=api_base(channel, "line"),
            data_api=str(base).rstrip("/") if base else api_base(channel, "line_data"),
            sticker_api=api_base(channel, "line_sticker"),
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class LineEvent:
    """One webhook event, its fields checked."""

    kind: str
    # The person in a 1:1 chat; None for groups, rooms and events without a source.
    user_id: str | None
    event_id: str
    # When it happened, in milliseconds since the epoch.
    timestamp: int | None
    redelivery: bool
    # A message event's message (the fields we read, checked and cleaned), else empty.
    message: dict[str, Any]

    @property
    def happened_at(self) -> datetime | None:
        if self.timestamp is None:
            return None
        try:
            return datetime.fromtimestamp(self.timestamp / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return None


def _events(payload: Any) -> list[LineEvent]:
    """The body's events, every field we read checked before anything is stored."""
    body = body_object(payload, "body")
    events = body_list(body.get("events"), "events")
    return [_event(raw, f"events[{n}]") for n, raw in enumerate(events)]


def _event(raw: Any, path: str) -> LineEvent:
    event = body_object(raw, path)
    kind = body_string(event.get("type"), f"{path}.type") or ""
    source = optional_object(event.get("source"), f"{path}.source")
    user_id = body_string(source.get("userId"), f"{path}.source.userId")
    if body_string(source.get("type"), f"{path}.source.type") == "user":
        user_id = body_id(user_id, f"{path}.source.userId")
    else:
        user_id = None  # groups and rooms are not 1:1 conversations
    delivery = optional_object(event.get("deliveryContext"), f"{path}.deliveryContext")
    message: dict[str, Any] = {}
    if kind == "message":
        raw_message = body_object(event.get("message"), f"{path}.message")
        message["id"] = body_id(raw_message.get("id"), f"{path}.message.id")
        for key in ("type", "text", "packageId", "stickerId", "fileName", "title", "address"):
            message[key] = body_string(raw_message.get(key), f"{path}.message.{key}")
        for key in ("latitude", "longitude"):
            message[key] = _coordinate(raw_message.get(key), f"{path}.message.{key}")
        provider = optional_object(
            raw_message.get("contentProvider"), f"{path}.message.contentProvider"
        )
        message["contentProvider"] = {
            key: body_string(provider.get(key), f"{path}.message.contentProvider.{key}")
            for key in ("type", "originalContentUrl")
        }
    event_id = body_string(event.get("webhookEventId"), f"{path}.webhookEventId") or ""
    if len(event_id) > MAX_EVENT_ID_LENGTH:
        raise BadRequest(
            "Malformed body: %(path)s must be an id of 1 to %(n)d characters.",
            path=f"{path}.webhookEventId",
            n=MAX_EVENT_ID_LENGTH,
        )
    return LineEvent(
        kind=kind,
        user_id=user_id,
        event_id=event_id,
        timestamp=body_number(event.get("timestamp"), f"{path}.timestamp"),
        redelivery=body_flag(delivery.get("isRedelivery"), f"{path}.deliveryContext.isRedelivery"),
        message=message,
    )


def _coordinate(value: Any, path: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not -180 <= value <= 180:
        raise BadRequest("Malformed body: %(path)s must be a number of degrees.", path=path)
    return float(value)


def signature_of(secret: str, body: bytes) -> str:
    """The X-Line-Signature LINE sends with a body: the channel secret's HMAC-SHA256 of the body,
    in base64 (developers.line.biz, Messaging API, "Signature validation"). Worked out here
    rather than by the LINE SDK's SignatureValidator, the one thing this connector used from it:
    importing the SDK (its webhook models and aiohttp) took about a second of every process's
    start."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _verify(config: LineConfig, raw: bytes, headers: Mapping[str, str]) -> None:
    signature = headers.get("x-line-signature", "")
    try:
        raw.decode()
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8.") from None
    if (
        not config.secret
        or not signature
        or not constant_time_equals(signature, signature_of(config.secret, raw))
    ):
        raise Unauthorized("The X-Line-Signature does not match the body.")


async def _handle(
    ctx: Ctx, config: LineConfig, http: httpx.AsyncClient, event: LineEvent, known: Seen
) -> None:
    if event.user_id is None:
        return
    if event.kind == "message":
        await _message(ctx, config, http, event.user_id, event.message, known)
    elif event.kind in ("follow", "unfollow"):
        # The messages before it are stored before it is applied.
        await known.store(ctx, label="LINE")
        await _follow_state(ctx, config, http, event.user_id, event)


@router.post("/webhooks/line/{channel_id}")
async def webhook(channel_id: int, request: Request, ctx: CtxDep) -> JSONResponse:
    """LINE's webhook: a bad signature is 401 and stores nothing; ``{"events": []}`` is 200; a
    malformed body is 400 and stores nothing. A good body is kept and answered 200 at once; its
    events are stored right after (``webhooks.accepted``)."""
    raw = await request.body()
    channel = await load_channel(ctx, channel_id, ChannelKind.line)
    config = LineConfig.of(channel)
    with refusal_logged("LINE", channel_id):
        _verify(config, raw, request.headers)
        events = _events(parse_json(raw))
    known = await _seen(ctx, channel_id, events)
    # A redelivery of messages all stored already (LINE's retries) is answered keeping nothing.
    fresh = [e for e in events if e.kind != "message" or known.is_new(str(e.message["id"]))]

    async def store(later: Ctx) -> None:
        await _store_events(later, config, fresh, known)

    return await accepted(request, ctx, channel=channel, raw=raw, store=store if fresh else None)


async def store_body(ctx: Ctx, channel: Channel, raw: bytes) -> None:
    """A kept body's events stored (the worker's part: ``webhooks.store_left``)."""
    events = _events(parse_json(raw))
    await _store_events(ctx, LineConfig.of(channel), events, await _seen(ctx, channel.id, events))


async def _seen(ctx: Ctx, channel_id: int, events: list[LineEvent]) -> Seen:
    messages = [
        (str(e.message["id"]), e.user_id) for e in events if e.kind == "message" and e.user_id
    ]
    return await seen(ctx.db, channel_id=channel_id, messages=messages)


async def _store_events(ctx: Ctx, config: LineConfig, events: list[LineEvent], known: Seen) -> None:
    await store_each(
        ctx,
        events,
        lambda http, event: _handle(ctx, config, http, event, known),
        label="LINE",
        channel_id=config.channel_id,
        event_id=lambda event: event.event_id or event.message.get("id"),
    )
    await known.store(ctx, label="LINE")


async def _follow_state(
    ctx: Ctx, config: LineConfig, http: httpx.AsyncClient, user_id: str, event: LineEvent
) -> None:
    """友だち追加 (follow) unblocks the contact and refreshes its name and picture; ブロック
    (unfollow) marks them blocked. Each event is applied once, and only when nothing newer for
    that person has been applied (see _applicable)."""
    blocked = event.kind == "unfollow"
    applicable = await _applicable(ctx, config.channel_id, user_id, event)
    await ctx.db.rollback()  # no transaction open while LINE is asked for the profile
    if not applicable:
        log.info(
            "LINE %s %s %s (redelivery: %s): applied already or superseded",
            event.kind,
            user_id,
            event.event_id,
            event.redelivery,
        )
        return
    profile = None if blocked else await _profile(http, config, user_id)
    # Asked again in the transaction that applies it, one request per person at a time: another
    # may have come meanwhile (on PostgreSQL two could otherwise both find themselves newest).
    await one_at_a_time(ctx.db, f"line:{config.channel_id}:{user_id}")
    if not await _applicable(ctx, config.channel_id, user_id, event) or not await _record(
        ctx, config.channel_id, user_id, event
    ):
        await ctx.db.rollback()
        return
    found = await contacts.find_or_create_contact(
        ctx,
        channel_id=config.channel_id,
        external_id=user_id,
        channel_name=profile.name if profile else None,
        picture_url=profile.picture_url if profile else contacts.UNSAID,
    )
    # Commits with the contact's event, whatever of it changed.
    await contacts.update_contact(
        ctx, contact_id=found.contact.id, changes=contacts.ContactChanges(blocked=blocked)
    )


async def _applicable(ctx: Ctx, channel_id: int, user_id: str, event: LineEvent) -> bool:
    """Whether a follow/unfollow is to be applied: not when its webhookEventId was applied
    before (a redelivery whose first delivery was stored, only our 200 lost), nor when a newer
    follow or unfollow of that person was applied (a stale unfollow must not block again
    someone who followed again)."""
    if event.event_id:
        seen = await ctx.db.scalar(
            select(ChannelEvent.id).where(
                ChannelEvent.channel_id == channel_id, ChannelEvent.event_id == event.event_id
            )
        )
        if seen is not None:
            return False
    happened = event.happened_at
    if happened is None:
        return True
    newest = await ctx.db.scalar(
        select(func.max(ChannelEvent.happened_at)).where(
            ChannelEvent.channel_id == channel_id, ChannelEvent.external_id == user_id
        )
    )
    return newest is None or happened >= newest


async def _record(ctx: Ctx, channel_id: int, user_id: str, event: LineEvent) -> bool:
    """Note the event as applied, in the transaction that applies it; False when another
    request noted it first. Records older than ``EVENTS_KEPT`` go at the same time (follows
    and unfollows are few, and the index makes the look cheap)."""
    if not event.event_id:
        return True  # nothing to know it by (LINE has sent a webhookEventId since 2022)
    now = ctx.now()
    await ctx.db.execute(
        delete(ChannelEvent).where(
            ChannelEvent.channel_id == channel_id, ChannelEvent.received_at < now - EVENTS_KEPT
        )
    )
    try:
        async with ctx.db.begin_nested():
            ctx.db.add(
                ChannelEvent(
                    channel_id=channel_id,
                    event_id=event.event_id,
                    external_id=user_id,
                    happened_at=event.happened_at,
                    received_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


async def _message(
    ctx: Ctx,
    config: LineConfig,
    http: httpx.AsyncClient,
    user_id: str,
    message: dict[str, Any],
    known: Seen,
) -> None:
    message_id = str(message["id"])
    if not known.is_new(message_id):
        return  # a redelivery: stored already
    incoming = Inbound(
        channel_id=config.channel_id,
        kind=ChannelKind.line,
        sender=user_id,
        profile=None if known.knows(user_id) else await _profile(http, config, user_id),
        message_id=message_id,
    )
    match message.get("type"):
        case "text":
            incoming.text = message.get("text") or ""
        case "image":
            try:
                incoming.images.append(
                    Attachment("", await _image(http, config, message_id, message))
                )
            except (DeliveryError, httpx.HTTPError) as error:
                log.warning("LINE image %s could not be fetched: %s", message_id, error)
                incoming.errors.append(str(error))
        case "sticker":
            incoming.meta = {
                "sticker": {
                    "package_id": message.get("packageId") or "",
                    "sticker_id": message.get("stickerId") or "",
                }
            }
            # A sticker's image is kept once: one waiting with it is stored first.
            await known.store(ctx, label="LINE")
            await _sticker(ctx, config, http, str(message.get("stickerId") or ""), incoming)
        case "video" | "audio" | "file" as kind:
            name = message.get("fileName") or ""
            incoming.meta = {"media": [{"kind": kind, "name": name}]}
            try:
                data, given = await _content(http, config, message_id, message)
                name = name or f"{message_id}{_SUFFIXES.get(kind, '')}"
                incoming.media.append(MediaFile(name, files.content_type_of(given, name), data))
            except (TooBig, DeliveryError, httpx.HTTPError) as error:
                log.warning("LINE %s %s could not be fetched: %s", kind, message_id, error)
                incoming.media_error = media_problem(error)
        case "location":
            incoming.meta = {
                "location": {
                    "title": message.get("title") or "",
                    "address": message.get("address") or "",
                    "latitude": message.get("latitude"),
                    "longitude": message.get("longitude"),
                }
            }
        case other:
            incoming.meta = {"unsupported": str(other)}
    known.wait(incoming)


async def _profile(http: httpx.AsyncClient, config: LineConfig, user_id: str) -> Profile | None:
    """The LINE registration name (LINE登録名) and picture, or None when LINE does not answer
    with a profile (logged; the contact keeps its user id as name)."""
    try:
        response = await http.get(f"{config.api}/v2/bot/profile/{user_id}", headers=config.auth)
    except httpx.HTTPError as error:
        log.warning("LINE profile of %s: %s", user_id, error)
        return None
    profile = None
    if response.status_code == 200:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        profile = profile_of(answer, name_keys=("displayName",), picture_key="pictureUrl")
    if profile is None:
        log.warning("LINE profile of %s: HTTP %s, not a profile", user_id, response.status_code)
    return profile


async def _image(
    http: httpx.AsyncClient, config: LineConfig, message_id: str, message: dict[str, Any]
) -> bytes:
    provider = message.get("contentProvider") or {}
    if provider.get("type") == "external" and provider.get("originalContentUrl"):
        response = await http.get(str(provider["originalContentUrl"]))
    else:
        response = await http.get(
            f"{config.data_api}/v2/bot/message/{message_id}/content", headers=config.auth
        )
    if response.status_code != 200:
        raise failure(response, "LINE content API")
    return response.content


async def _content(
    http: httpx.AsyncClient, config: LineConfig, message_id: str, message: dict[str, Any]
) -> tuple[bytes, str]:
    """A video's, a sound's or a file's bytes and content type, from the content API (or the
    address an external provider gave), no more than ``files.MAX_MEDIA_BYTES``."""
    provider = message.get("contentProvider") or {}
    if provider.get("type") == "external" and provider.get("originalContentUrl"):
        return await download(http, str(provider["originalContentUrl"]), what="LINE content")
    return await download(
        http,
        f"{config.data_api}/v2/bot/message/{message_id}/content",
        what="LINE content API",
        headers=config.auth,
    )


async def _sticker(
    ctx: Ctx, config: LineConfig, http: httpx.AsyncClient, sticker_id: str, incoming: Inbound
) -> None:
    """The sticker's image, fetched once from LINE's sticker address and kept: every later
    message with that sticker shows the same stored file (served from our origin)."""
    if not sticker_id.isdigit() or len(sticker_id) > 20:
        return  # the thread says 「スタンプ」
    folder = files.sticker_folder("line", sticker_id)
    kept = await files.sticker(ctx.db, folder=folder)
    await ctx.db.rollback()  # no transaction open while LINE is asked
    if kept is not None:
        incoming.stored_file_ids.append(kept)
        return
    address = f"{config.sticker_api}/stickershop/v1/sticker/{sticker_id}/android/sticker.png"
    try:
        data, _ = await download(http, address, what="LINE sticker image")
    except (TooBig, DeliveryError, httpx.HTTPError) as error:
        log.warning("LINE sticker %s could not be fetched: %s", sticker_id, error)
        incoming.media_error = media_problem(error)
        return
    incoming.images.append(Attachment(f"line-sticker-{sticker_id}.png", data, folder))


class LineAdapter:
    """Replies go out by the push API, text first, then the images."""

    async def send(self, outgoing: Outgoing) -> str | None:
        config = LineConfig.of(outgoing.channel)
        if not config.token:
            raise DeliveryError(
                N_("The LINE channel has no access token: set it in its settings."),
                retryable=False,
            )
        messages: list[dict[str, str]] = []
        if outgoing.message.text:
            messages.append({"type": "text", "text": outgoing.message.text})
        for image in outgoing.images:
            usable = image.file.content_type in ("image/jpeg", "image/png")
            messages.append(
                {
                    "type": "image",
                    # LINE shows JPEG and PNG only: other images go as their JPEG thumbnail.
                    "originalContentUrl": image.url if usable else image.thumbnail_url,
                    "previewImageUrl": image.thumbnail_url,
                }
            )
        async with http_client() as http:
            response = await http.post(
                f"{config.api}/v2/bot/message/push",
                headers={**config.auth, "X-Line-Retry-Key": outgoing.retry_key},
                json={"to": outgoing.contact.external_id, "messages": messages},
            )
        # 409: this retry key was accepted before — the message went out then.
        if response.status_code in (200, 409):
            return str(response.headers.get("x-line-request-id") or "") or None
        raise failure(response, "LINE push API")
