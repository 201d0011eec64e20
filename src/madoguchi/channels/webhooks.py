"""What every channel's public endpoint shares."""

from __future__ import annotations

from madoguchi.channels.models import Channel
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import NotFound


async def load_channel(ctx: Ctx, channel_id: int, kind: str) -> Channel:
    """The enabled channel of that kind behind a webhook (404 for anything else, so nothing
    is told about channels of other kinds)."""
    channel = await ctx.db.get(Channel, channel_id)
    if channel is None or channel.kind != kind or not channel.enabled:
        raise NotFound("No %(kind)s channel with id %(id)s.", kind=kind, id=channel_id)
    return channel
