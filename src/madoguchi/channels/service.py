"""Channels: creating them, reading them, and which of their settings are secret."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.conversations.models import Delivery
from madoguchi.events import Event
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, NotFound

# The settings each kind takes (the fixed contract), and which of them are secrets.
SETTING_KEYS: dict[str, tuple[str, ...]] = {
    ChannelKind.api: ("demo",),
    ChannelKind.web: ("allowed_origins", "identity_secret", "demo"),
    ChannelKind.line: ("channel_secret", "access_token", "api_base", "demo"),
    ChannelKind.instagram: ("app_secret", "verify_token", "access_token", "api_base", "demo"),
    ChannelKind.email: (
        "address",
        "smtp_host",
        "smtp_port",
        "smtp_username",
        "smtp_password",
        "demo",
    ),
}
SECRET_KEYS = frozenset(
    {
        "identity_secret",
        "channel_secret",
        "access_token",
        "app_secret",
        "verify_token",
        "smtp_password",
    }
)


def public_settings(channel: Channel) -> dict[str, Any]:
    """Settings safe to show: secrets become ``"********"`` (set) or are left out (unset)."""
    return {
        key: ("********" if key in SECRET_KEYS else value)
        for key, value in channel.settings.items()
        if value not in (None, "")
    }


def _clean_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    allowed = SETTING_KEYS[kind]
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise Invalid(
            "Unknown setting for a %(kind)s channel: %(keys)s (it takes: %(allowed)s).",
            kind=kind,
            keys=", ".join(unknown),
            allowed=", ".join(allowed),
        )
    cleaned = dict(settings)
    if "smtp_port" in cleaned:
        try:
            cleaned["smtp_port"] = int(cleaned["smtp_port"])
        except (TypeError, ValueError):
            raise Invalid("smtp_port must be a number.") from None
    if "demo" in cleaned:
        cleaned["demo"] = str(cleaned["demo"]).lower() in ("1", "true", "yes")
    return cleaned


async def create_channel(
    ctx: Ctx, *, kind: str, name: str, settings: dict[str, Any] | None = None
) -> Channel:
    if kind not in SETTING_KEYS:
        raise Invalid(
            "Unknown channel kind %(kind)s (one of: %(kinds)s).",
            kind=kind,
            kinds=", ".join(SETTING_KEYS),
        )
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("A channel's name must be 1 to 100 characters.")
    channel = Channel(
        kind=kind, name=name, settings=_clean_settings(kind, settings or {}), created_at=ctx.now()
    )
    ctx.db.add(channel)
    await ctx.db.flush()
    await ctx.commit(Event("channel.created", {"channel_id": channel.id}))
    return channel


async def get_channel(db: AsyncSession, *, channel_id: int) -> Channel:
    channel = await db.get(Channel, channel_id)
    if channel is None:
        raise NotFound("No channel with id %(id)s.", id=channel_id)
    return channel


async def list_channels(db: AsyncSession) -> list[Channel]:
    return list(await db.scalars(select(Channel).order_by(Channel.id)))


def initial_delivery(channel: Channel) -> Delivery:
    """Where a reply stands once stored.

    The API channel's integration reads replies through the API and demo channels go nowhere,
    so those are sent once stored; the other kinds wait for their channel adapter.
    """
    if channel.kind == ChannelKind.api or channel.settings.get("demo"):
        return Delivery.sent
    return Delivery.pending
