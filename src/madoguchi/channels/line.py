"""LINE (Messaging API, F34): the webhook in, push messages out.

The webhook checks ``X-Line-Signature`` with the official SDK, answers LINE's "verify" (an
empty ``events``) with 200, and stores each message once however often LINE redelivers it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from linebot.v3.webhook import SignatureValidator

from madoguchi.channels.base import (
    DeliveryError,
    Outgoing,
    api_base,
    failure,
    http_client,
)
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.channels.webhooks import (
    Incoming,
    Profile,
    body_flag,
    body_id,
    body_list,
    body_number,
    body_object,
    body_string,
    contact_with_profile,
    first_sight,
    load_channel,
    optional_object,
    parse_json,
    profile_of,
    store,
)
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import BadRequest, DomainError, Invalid, Unauthorized
from madoguchi.kit.web import CtxDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


@dataclass(frozen=True)
class LineConfig:
    channel_id: int
    secret: str
    token: str
    api: str
    data_api: str

    @classmethod
    def of(cls, channel: Channel) -> LineConfig:
        base = channel.settings.get("api_base")
        return cls(
            channel_id=channel.id,
            secret=str(channel.settings.get("channel_secret") or ""),
            token=str(channel.settings.get("access_token") or ""),
            api=api_base(channel, "line"),
            data_api=str(base).rstrip("/") if base else api_base(channel, "line_data"),
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
    # A message event's message (its id checked present), else empty.
    message: dict[str, Any]


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
        message = body_object(event.get("message"), f"{path}.message")
        body_id(message.get("id"), f"{path}.message.id")
        for key in ("type", "text", "packageId", "stickerId"):
            body_string(message.get(key), f"{path}.message.{key}")
        provider = optional_object(
            message.get("contentProvider"), f"{path}.message.contentProvider"
        )
        for key in ("type", "originalContentUrl"):
            body_string(provider.get(key), f"{path}.message.contentProvider.{key}")
    return LineEvent(
        kind=kind,
        user_id=user_id,
        event_id=body_string(event.get("webhookEventId"), f"{path}.webhookEventId") or "",
        timestamp=body_number(event.get("timestamp"), f"{path}.timestamp"),
        redelivery=body_flag(delivery.get("isRedelivery"), f"{path}.deliveryContext.isRedelivery"),
        message=message,
    )


@router.post("/webhooks/line/{channel_id}")
async def webhook(channel_id: int, request: Request, ctx: CtxDep) -> JSONResponse:
    """LINE's webhook: a bad signature is 401 and stores nothing; ``{"events": []}`` is 200; a
    malformed body is 400 and stores nothing."""
    raw = await request.body()
    channel = await load_channel(ctx, channel_id, ChannelKind.line)
    config = LineConfig.of(channel)
    # No transaction stays open while LINE's servers are asked for profiles and images.
    await ctx.db.rollback()
    signature = request.headers.get("x-line-signature", "")
    try:
        body = raw.decode()
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8.") from None
    if (
        not config.secret
        or not signature
        or not SignatureValidator(config.secret).validate(body, signature)
    ):
        log.warning("LINE webhook for channel %s: bad signature, refused", channel_id)
        raise Unauthorized("The X-Line-Signature does not match the body.")
    try:
        events = _events(parse_json(raw))
    except DomainError as error:
        log.warning("LINE webhook for channel %s: %s, refused", channel_id, error)
        raise
    # Each event stands on its own: LINE redelivers the whole body when we answer non-2xx, so
    # holding every event back for one that can never be stored would lose them all on every
    # redelivery. Storing is idempotent (messages by id, follow/unfollow see _superseded), so
    # after a passing failure (the database away: 500) the redelivery stores only what is
    # missing; an event refused for its own content is logged and skipped, and the body is 200.
    async with http_client() as http:
        for event in events:
            try:
                await _handle(ctx, config, http, event)
            except Invalid as error:
                await ctx.db.rollback()
                log.warning(
                    "LINE event %s on channel %s not stored: %s",
                    event.event_id or event.message.get("id"),
                    channel_id,
                    error,
                )
    return JSONResponse({})


async def _handle(ctx: Ctx, config: LineConfig, http: httpx.AsyncClient, event: LineEvent) -> None:
    if event.user_id is None:
        return
    if event.kind == "message":
        await _message(ctx, config, http, event.user_id, event.message)
    elif event.kind in ("follow", "unfollow"):
        await _follow_state(ctx, config, http, event.user_id, event)


async def _follow_state(
    ctx: Ctx, config: LineConfig, http: httpx.AsyncClient, user_id: str, event: LineEvent
) -> None:
    """友だち追加 (follow) unblocks the contact and refreshes its name and picture; ブロック
    (unfollow) marks them blocked."""
    blocked = event.kind == "unfollow"
    if event.redelivery:
        known = await contacts.find_contact_by_channel(
            ctx.db, channel_id=config.channel_id, external_id=user_id
        )
        superseded = known is not None and _superseded(known, event, blocked=blocked)
        await ctx.db.rollback()
        if superseded:
            log.info("LINE %s %s redelivered: already applied or superseded", event.kind, user_id)
            return
    profile = None if blocked else await _profile(http, config, user_id)
    contact = await contact_with_profile(
        ctx, channel_id=config.channel_id, external_id=user_id, profile=profile
    )
    await contacts.update_contact(
        ctx, contact_id=contact.id, changes=contacts.ContactChanges(blocked=blocked)
    )


def _superseded(contact: Contact, event: LineEvent, *, blocked: bool) -> bool:
    """Whether a redelivered follow/unfollow is in effect already or older than the contact's
    last change.

    A redelivery's first delivery may have been stored (only our 2xx was lost), and a newer
    follow or unfollow may have come since: a stale unfollow must not block again someone who
    followed again. With no record of the webhookEventIds applied, the contact's ``updated_at``
    stands in: changed after the event happened means applied or superseded (a member's edit
    counts too, and then the contact is left as it is rather than flipped).
    """
    if contact.blocked == blocked:
        return True
    if event.timestamp is None:
        return False
    try:
        happened = datetime.fromtimestamp(event.timestamp / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return False
    return contact.updated_at >= happened


async def _message(
    ctx: Ctx,
    config: LineConfig,
    http: httpx.AsyncClient,
    user_id: str,
    message: dict[str, Any],
) -> None:
    message_id = str(message["id"])
    new, known = await first_sight(
        ctx, channel_id=config.channel_id, message_id=message_id, sender=user_id
    )
    if not new:
        return  # a redelivery: stored already
    incoming = Incoming(
        channel_id=config.channel_id,
        kind=ChannelKind.line,
        sender=user_id,
        sender_profile=None if known else await _profile(http, config, user_id),
        message_id=message_id,
    )
    match message.get("type"):
        case "text":
            incoming.text = message.get("text") or ""
        case "image":
            try:
                incoming.images.append(await _image(http, config, message_id, message))
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
        case other:
            incoming.meta = {"unsupported": str(other)}
    await store(ctx, incoming)


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


class LineAdapter:
    """Replies go out by the push API, text first, then the images."""

    async def send(self, outgoing: Outgoing) -> str | None:
        config = LineConfig.of(outgoing.channel)
        if not config.token:
            raise DeliveryError("the LINE channel has no access_token", retryable=False)
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
