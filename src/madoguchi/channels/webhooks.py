"""What every channel's public endpoint shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from madoguchi.channels.models import Channel
from madoguchi.contacts import service as contacts
from madoguchi.conversations import service as conversations
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, NotFound


async def load_channel(ctx: Ctx, channel_id: int, kind: str) -> Channel:
    """The enabled channel of that kind behind a webhook (404 for anything else, so nothing
    is told about channels of other kinds)."""
    channel = await ctx.db.get(Channel, channel_id)
    if channel is None or channel.kind != kind or not channel.enabled:
        raise NotFound("No %(kind)s channel with id %(id)s.", kind=kind, id=channel_id)
    return channel


async def first_sight(
    ctx: Ctx, *, channel_id: int, message_id: str, sender: str
) -> tuple[bool, bool]:
    """(is this message new, do we know the sender), leaving no transaction open: the channel's
    servers are asked for profiles and images next, and SQLite must not wait on them."""
    new = not await conversations.message_exists(
        ctx.db, channel_id=channel_id, external_id=message_id
    )
    known = new and (
        await contacts.find_contact_by_channel(ctx.db, channel_id=channel_id, external_id=sender)
        is not None
    )
    await ctx.db.rollback()
    return new, known


@dataclass
class Incoming:
    """A customer's message as a channel gave it, before it is stored."""

    channel_id: int
    kind: str
    sender: str
    sender_name: str | None
    message_id: str
    text: str = ""
    images: list[bytes] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


async def store(ctx: Ctx, incoming: Incoming) -> None:
    """Keep the images (an unreadable one is noted, not lost), then ingest the message."""
    image_ids = []
    errors = list(incoming.errors)
    for position, data in enumerate(incoming.images[: files.MAX_IMAGES]):
        try:
            name = f"{incoming.message_id}-{position}.jpg"
            image_ids.append((await files.store_image(ctx, data=data, name=name)).id)
        except Invalid as error:
            errors.append(str(error))
    meta = dict(incoming.meta or {})
    if errors:
        meta["image_error"] = "; ".join(errors)
    if not incoming.text and not image_ids and not meta:
        meta = {"unsupported": "attachment"}
    channel = await load_channel(ctx, incoming.channel_id, incoming.kind)
    await conversations.ingest_inbound(
        ctx,
        channel=channel,
        contact_external_id=incoming.sender,
        contact_name=incoming.sender_name,
        text=incoming.text,
        external_id=incoming.message_id,
        image_ids=image_ids,
        meta=meta or None,
    )
