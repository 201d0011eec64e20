"""Instagram direct messages (the Graph API's Messaging, F35): the webhook in, the Send API out.

``GET`` answers ``hub.challenge`` only for the right ``hub.verify_token``; ``POST`` checks
``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with the app secret); echoes of our own
messages are not stored as the customer's.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from madoguchi.channels.base import DeliveryError, Outgoing, api_base, failure, http_client
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.channels.webhooks import Incoming, first_sight, load_channel, store
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Forbidden, Invalid, Unauthorized
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


@router.post("/webhooks/instagram/{channel_id}")
async def webhook(channel_id: int, request: Request, ctx: CtxDep) -> JSONResponse:
    raw = await request.body()
    config = InstagramConfig.of(await load_channel(ctx, channel_id, ChannelKind.instagram))
    await ctx.db.rollback()
    signature = request.headers.get("x-hub-signature-256", "")
    if not config.app_secret or not constant_time_equals(
        signature, signature_of(config.app_secret, raw)
    ):
        log.warning("Instagram webhook %s: bad signature, refused", channel_id)
        raise Unauthorized("The X-Hub-Signature-256 does not match the body.")
    try:
        payload = json.loads(raw)
    except ValueError:
        raise Invalid("The body is not JSON.") from None
    if not isinstance(payload, dict) or payload.get("object") != "instagram":
        raise Invalid("The body is not an Instagram webhook (object: instagram).")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise Invalid("The body has no entry list.")
    async with http_client() as http:
        for entry in entries:
            for event in (entry or {}).get("messaging") or []:
                if isinstance(event, dict):
                    await _handle(ctx, config, http, event)
    return JSONResponse({})


async def _handle(
    ctx: Ctx, config: InstagramConfig, http: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    message = event.get("message")
    sender = (event.get("sender") or {}).get("id")
    if not isinstance(message, dict) or not isinstance(sender, str):
        return  # reads, reactions, postbacks: nothing to store
    if message.get("is_echo"):
        return  # our own reply coming back
    message_id = str(message.get("mid") or "")
    if not message_id:
        return
    new, known = await first_sight(
        ctx, channel_id=config.channel_id, message_id=message_id, sender=sender
    )
    if not new:
        return
    incoming = Incoming(
        channel_id=config.channel_id,
        kind=ChannelKind.instagram,
        sender=sender,
        sender_name=None if known else await _username(http, config, sender),
        message_id=message_id,
        text=str(message.get("text") or ""),
    )
    for attachment in message.get("attachments") or []:
        url = ((attachment or {}).get("payload") or {}).get("url")
        if (attachment or {}).get("type") == "image" and url:
            try:
                response = await http.get(str(url))
                if response.status_code != 200:
                    raise failure(response, "Instagram attachment")
                incoming.images.append(response.content)
            except (DeliveryError, httpx.HTTPError) as error:
                incoming.errors.append(str(error))
    await store(ctx, incoming)


async def _username(http: httpx.AsyncClient, config: InstagramConfig, igsid: str) -> str | None:
    """The Instagram account name (Instagramアカウント名), or None when Meta does not say."""
    try:
        response = await http.get(
            f"{config.api}/{igsid}",
            params={"fields": "name,username", "access_token": config.token},
        )
    except httpx.HTTPError as error:
        log.warning("Instagram profile of %s: %s", igsid, error)
        return None
    if response.status_code != 200:
        return None
    body = response.json()
    name = body.get("username") or body.get("name")
    return str(name) if name else None


class InstagramAdapter:
    """Replies by the Send API: the text, then each image as its own message."""

    async def send(self, outgoing: Outgoing) -> str | None:
        config = InstagramConfig.of(outgoing.channel)
        if not config.token:
            raise DeliveryError("the Instagram channel has no access_token", retryable=False)
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
        async with http_client() as http:
            for body in bodies:
                response = await http.post(
                    f"{config.api}/me/messages",
                    params={"access_token": config.token},
                    json=body,
                )
                if response.status_code != 200:
                    raise failure(response, "Instagram Send API")
                last_id = response.json().get("message_id")
        return str(last_id) if last_id else None
