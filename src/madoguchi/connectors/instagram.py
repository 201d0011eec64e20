"""Instagram direct messages (the Graph API's Messaging, F35): the webhook in, the Send API out.

``GET`` answers ``hub.challenge`` only for the right ``hub.verify_token``; ``POST`` checks
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret); echoes of our own
messages are not stored as the customer's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from madoguchi.channels.base import DeliveryError, Outgoing, api_base, failure, http_client
from madoguchi.channels.models import Channel, ChannelKind
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
    body_object,
    body_string,
    optional_list,
    optional_object,
    parse_json,
    profile_of,
    refusal_logged,
    store_each,
)
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import BadRequest, Forbidden, Unauthorized
from madoguchi.kit.i18n import N_
from madoguchi.kit.security import constant_time_equals
from madoguchi.kit.web import CtxDep

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


@dataclass(frozen=True)
class InstagramConfig:
    channel_id: int
    app_secret: str
    verify_token: str
    token: str
    api: str

    @classmethod
    def of(cls, channel: Channel) -> InstagramConfig:
        return cls(
            channel_id=channel.id,
            app_secret=str(channel.settings.get("app_secret") or ""),
            verify_token=str(channel.settings.get("verify_token") or ""),
            token=str(channel.settings.get("access_token") or ""),
            api=api_base(channel, "instagram"),
        )


def signature_of(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@router.get("/webhooks/instagram/{channel_id}", response_class=PlainTextResponse)
async def verify(
    channel_id: int,
    ctx: CtxDep,
    mode: str = Query("", alias="hub.mode"),
    token: str = Query("", alias="hub.verify_token"),
    challenge: str = Query("", alias="hub.challenge"),
) -> PlainTextResponse:
    """Meta's subscription check: the challenge back for the right verify token, else 403."""
    config = InstagramConfig.of(await load_channel(ctx, channel_id, ChannelKind.instagram))
    if (
        mode != "subscribe"
        or not config.verify_token
        or not constant_time_equals(token, config.verify_token)
    ):
        log.warning("Instagram webhook %s: wrong verify token, refused", channel_id)
        raise Forbidden("The hub.verify_token does not match this channel's verify_token.")
    return PlainTextResponse(challenge)


@dataclass(frozen=True)
class InstagramMessage:
    """One ``messaging`` event that carries a message, its fields checked."""

    sender: str
    mid: str
    text: str
    # Our own reply coming back.
    echo: bool
    image_urls: list[str]
    # Videos, sounds and files to fetch: (kind, url).
    media: list[tuple[str, str]]
    # Shared posts, reels and story mentions: (kind, url), shown as links.
    links: list[tuple[str, str]]


def _messages(payload: Any) -> list[InstagramMessage]:
    """The body's messages, every field we read checked before anything is stored. Reads,
    reactions and postbacks (events without a message) are left out."""
    body = body_object(payload, "body")
    if body.get("object") != "instagram":
        raise BadRequest("The body is not an Instagram webhook (object: instagram).")
    found = []
    for n, raw_entry in enumerate(body_list(body.get("entry"), "entry")):
        entry = body_object(raw_entry, f"entry[{n}]")
        events = optional_list(entry.get("messaging"), f"entry[{n}].messaging")
        for m, raw_event in enumerate(events):
            path = f"entry[{n}].messaging[{m}]"
            event = body_object(raw_event, path)
            sender = optional_object(event.get("sender"), f"{path}.sender")
            body_string(sender.get("id"), f"{path}.sender.id")
            if event.get("message") is not None:
                found.append(_message(event, sender, path))
    return found


def _message(event: dict[str, Any], sender: dict[str, Any], path: str) -> InstagramMessage:
    message = body_object(event.get("message"), f"{path}.message")
    image_urls = []
    media: list[tuple[str, str]] = []
    links: list[tuple[str, str]] = []
    attachments = optional_list(message.get("attachments"), f"{path}.message.attachments")
    for n, raw in enumerate(attachments):
        where = f"{path}.message.attachments[{n}]"
        attachment = body_object(raw, where)
        kind = body_string(attachment.get("type"), f"{where}.type")
        url = body_string(
            optional_object(attachment.get("payload"), f"{where}.payload").get("url"),
            f"{where}.payload.url",
        )
        if not url or not url.startswith(("https://", "http://")):
            continue
        if kind in ("image", "animated_image"):
            image_urls.append(url)
        elif kind in ("video", "audio", "file"):
            media.append((kind, url))
        elif kind:
            links.append((kind, url))  # share, story_mention, ig_reel, reel, …
    return InstagramMessage(
        sender=body_id(sender.get("id"), f"{path}.sender.id"),
        mid=body_id(message.get("mid"), f"{path}.message.mid"),
        text=body_string(message.get("text"), f"{path}.message.text") or "",
        echo=body_flag(message.get("is_echo"), f"{path}.message.is_echo"),
        image_urls=image_urls,
        media=media,
        links=links,
    )


def _verify(config: InstagramConfig, raw: bytes, headers: Mapping[str, str]) -> None:
    signature = headers.get("x-hub-signature-256", "")
    if not config.app_secret or not constant_time_equals(
        signature, signature_of(config.app_secret, raw)
    ):
        raise Unauthorized("The X-Hub-Signature-256 does not match the body.")


async def _handle(
    ctx: Ctx,
    config: InstagramConfig,
    http: httpx.AsyncClient,
    message: InstagramMessage,
    known: Seen,
) -> None:
    if message.echo:
        return  # our own reply coming back
    if not known.is_new(message.mid):
        return
    incoming = Inbound(
        channel_id=config.channel_id,
        kind=ChannelKind.instagram,
        sender=message.sender,
        profile=None
        if known.knows(message.sender)
        else await _profile(http, config, message.sender),
        message_id=message.mid,
        text=message.text,
    )
    for url in message.image_urls:
        try:
            response = await http.get(url)
            if response.status_code != 200:
                raise failure(response, "Instagram attachment")
            incoming.images.append(Attachment("", response.content))
        except (DeliveryError, httpx.HTTPError) as error:
            incoming.errors.append(str(error))
    await _media(http, message, incoming)
    known.wait(incoming)


async def _media(http: httpx.AsyncClient, message: InstagramMessage, incoming: Inbound) -> None:
    """The message's videos, sounds and files, fetched from their attachment addresses (no more
    than ``files.MAX_MEDIA_BYTES`` each), and its shared posts and stories as links."""
    meta: dict[str, Any] = {}
    if message.media:
        meta["media"] = [{"kind": kind, "name": ""} for kind, _ in message.media]
    if message.links:
        meta["links"] = [{"kind": kind, "url": url} for kind, url in message.links]
    for position, (kind, url) in enumerate(message.media):
        try:
            data, given = await download(http, url, what="Instagram attachment")
        except (TooBig, DeliveryError, httpx.HTTPError) as error:
            log.warning("Instagram %s of %s could not be fetched: %s", kind, message.mid, error)
            incoming.media_error = incoming.media_error or media_problem(error)
            continue
        content_type = files.content_type_of(given)
        suffix = mimetypes.guess_extension(content_type) or ""
        incoming.media.append(MediaFile(f"{kind}-{position + 1}{suffix}", content_type, data))
    if meta:
        incoming.meta = {**(incoming.meta or {}), **meta}


@router.post("/webhooks/instagram/{channel_id}")
async def webhook(channel_id: int, request: Request, ctx: CtxDep) -> JSONResponse:
    """Meta's webhook: a bad signature is 401, a malformed body 400; both store nothing.
    Echoes of our own replies are skipped; messages are stored once by their mid. A good body
    is kept and answered 200 at once; its messages are stored right after
    (``webhooks.accepted``)."""
    raw = await request.body()
    channel = await load_channel(ctx, channel_id, ChannelKind.instagram)
    config = InstagramConfig.of(channel)
    with refusal_logged("Instagram", channel_id):
        _verify(config, raw, request.headers)
        events = _messages(parse_json(raw))
    known = await _seen(ctx, channel_id, events)
    # Echoes of our replies and a redelivery of messages all stored are answered keeping nothing.
    fresh = [m for m in events if not m.echo and known.is_new(m.mid)]

    async def store(later: Ctx) -> None:
        await _store_events(later, config, fresh, known)

    return await accepted(request, ctx, channel=channel, raw=raw, store=store if fresh else None)


async def store_body(ctx: Ctx, channel: Channel, raw: bytes) -> None:
    """A kept body's messages stored (the worker's part: ``webhooks.store_left``)."""
    events = _messages(parse_json(raw))
    config = InstagramConfig.of(channel)
    await _store_events(ctx, config, events, await _seen(ctx, channel.id, events))


async def _seen(ctx: Ctx, channel_id: int, events: list[InstagramMessage]) -> Seen:
    return await seen(
        ctx.db, channel_id=channel_id, messages=[(m.mid, m.sender) for m in events if not m.echo]
    )


async def _store_events(
    ctx: Ctx, config: InstagramConfig, events: list[InstagramMessage], known: Seen
) -> None:
    await store_each(
        ctx,
        events,
        lambda http, event: _handle(ctx, config, http, event, known),
        label="Instagram",
        channel_id=config.channel_id,
        event_id=lambda message: message.mid,
    )
    await known.store(ctx, label="Instagram")


async def _profile(http: httpx.AsyncClient, config: InstagramConfig, igsid: str) -> Profile | None:
    """The Instagram account name (Instagramアカウント名) and picture, or None when Meta does not
    answer with a profile (logged; the contact keeps its IGSID as name)."""
    try:
        response = await http.get(
            f"{config.api}/{igsid}",
            params={"fields": "name,username,profile_pic", "access_token": config.token},
        )
    except httpx.HTTPError as error:
        log.warning("Instagram profile of %s: %s", igsid, error)
        return None
    profile = None
    if response.status_code == 200:
        try:
            answer = response.json()
        except ValueError:
            answer = None
        profile = profile_of(answer, name_keys=("username", "name"), picture_key="profile_pic")
    if profile is None:
        log.warning("Instagram profile of %s: HTTP %s, not a profile", igsid, response.status_code)
    return profile


class InstagramAdapter:
    """Replies by the Send API: the text, then each image as its own message."""

    async def send(self, outgoing: Outgoing) -> str | None:
        config = InstagramConfig.of(outgoing.channel)
        if not config.token:
            raise DeliveryError(
                N_("The Instagram channel has no access token: set it in its settings."),
                retryable=False,
            )
        recipient = {"id": outgoing.contact.external_id}
        bodies: list[dict[str, Any]] = []
        if outgoing.message.text:
            bodies.append({"recipient": recipient, "message": {"text": outgoing.message.text}})
        for image in outgoing.images:
            bodies.append(
                {
                    "recipient": recipient,
                    "message": {"attachment": {"type": "image", "payload": {"url": image.url}}},
                }
            )
        last_id = None
        sent = outgoing.parts_sent
        async with http_client() as http:
            for part, body in enumerate(bodies):
                if part < sent:
                    continue  # the customer has it from an earlier attempt
                try:
                    response = await http.post(
                        f"{config.api}/me/messages",
                        params={"access_token": config.token},
                        json=body,
                    )
                except httpx.HTTPError as error:
                    raise DeliveryError(
                        f"Instagram Send API: {type(error).__name__}: {error}", parts_sent=part
                    ) from None
                if response.status_code != 200:
                    refused = failure(response, "Instagram Send API")
                    refused.parts_sent = part
                    raise refused
                try:
                    answer = response.json()
                except ValueError:
                    answer = None
                if isinstance(answer, dict) and answer.get("message_id"):
                    last_id = str(answer["message_id"])
        return last_id
