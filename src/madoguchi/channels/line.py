"""LINE (Messaging API, F34): the webhook in, push messages out.

The webhook checks ``X-Line-Signature`` with the official SDK, answers LINE's "verify" (an
empty ``events``) with 200, and stores each message once however often LINE redelivers it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
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
from madoguchi.channels.webhooks import Incoming, first_sight, load_channel, store
from madoguchi.contacts import service as contacts
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, Unauthorized
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


@router.post("/webhooks/line/{channel_id}")
async def webhook(channel_id: int, request: Request, ctx: CtxDep) -> JSONResponse:
    """LINE's webhook: a bad signature is 401 and stores nothing; ``{"events": []}`` is 200."""
    raw = await request.body()
    channel = await load_channel(ctx, channel_id, ChannelKind.line)
    config = LineConfig.of(channel)
    # No transaction stays open while LINE's servers are asked for profiles and images.
    await ctx.db.rollback()
    signature = request.headers.get("x-line-signature", "")
    try:
        body = raw.decode()
    except UnicodeDecodeError:
        raise Invalid("The body is not UTF-8.") from None
    if (
        not config.secret
        or not signature
        or not SignatureValidator(config.secret).validate(body, signature)
    ):
        log.warning("LINE webhook for channel %s: bad signature, refused", channel_id)
        raise Unauthorized("The X-Line-Signature does not match the body.")
    try:
        payload = json.loads(body)
    except ValueError:
        raise Invalid("The body is not JSON.") from None
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list):
        raise Invalid("The body has no events list.")
    async with http_client() as http:
        for event in events:
            if isinstance(event, dict):
                await _handle(ctx, config, http, event)
    return JSONResponse({})


async def _handle(
    ctx: Ctx, config: LineConfig, http: httpx.AsyncClient, event: dict[str, Any]
) -> None:
    source = event.get("source") or {}
    user_id = source.get("userId")
    if source.get("type") != "user" or not isinstance(user_id, str):
        return  # groups and rooms are not 1:1 conversations
    kind = event.get("type")
    if kind == "message":
        await _message(ctx, config, http, user_id, event.get("message") or {})
    elif kind in ("follow", "unfollow"):
        name = await _profile_name(http, config, user_id) if kind == "follow" else None
        contact = await contacts.find_or_create_contact(
            ctx, channel_id=config.channel_id, external_id=user_id, channel_name=name
        )
        await contacts.update_contact(
            ctx,
            contact_id=contact.id,
            # 友だち追加 unblocks; ブロック (unfollow) marks them blocked.
            changes=contacts.ContactChanges(blocked=kind == "unfollow"),
        )


async def _message(
    ctx: Ctx,
    config: LineConfig,
    http: httpx.AsyncClient,
    user_id: str,
    message: dict[str, Any],
) -> None:
    message_id = str(message.get("id") or "")
    if not message_id:
        return
    new, known = await first_sight(
        ctx, channel_id=config.channel_id, message_id=message_id, sender=user_id
    )
    if not new:
        return  # a redelivery: stored already
    incoming = Incoming(
        channel_id=config.channel_id,
        kind=ChannelKind.line,
        sender=user_id,
        sender_name=None if known else await _profile_name(http, config, user_id),
        message_id=message_id,
    )
    match message.get("type"):
        case "text":
            incoming.text = str(message.get("text") or "")
        case "image":
            try:
                incoming.images.append(await _image(http, config, message_id, message))
            except (DeliveryError, httpx.HTTPError) as error:
                log.warning("LINE image %s could not be fetched: %s", message_id, error)
                incoming.errors.append(str(error))
        case "sticker":
            incoming.meta = {
                "sticker": {
                    "package_id": str(message.get("packageId") or ""),
                    "sticker_id": str(message.get("stickerId") or ""),
                }
            }
        case other:
            incoming.meta = {"unsupported": str(other)}
    await store(ctx, incoming)


async def _profile_name(http: httpx.AsyncClient, config: LineConfig, user_id: str) -> str | None:
    """The LINE registration name (LINE登録名), or None when LINE does not say."""
    try:
        response = await http.get(f"{config.api}/v2/bot/profile/{user_id}", headers=config.auth)
    except httpx.HTTPError as error:
        log.warning("LINE profile of %s: %s", user_id, error)
        return None
    if response.status_code != 200:
        log.warning("LINE profile of %s: HTTP %s", user_id, response.status_code)
        return None
    name = response.json().get("displayName")
    return str(name) if name else None


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
