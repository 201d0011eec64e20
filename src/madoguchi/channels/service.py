"""Channels: creating them, reading them, and which of their settings are secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.channels.kinds import KINDS
from madoguchi.channels.models import Channel, ChannelKind, VisitorSession
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Delivery
from madoguchi.events.types import ChannelCreated, ChannelUpdated
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.security import secret_hash
from madoguchi.members.models import Member
from madoguchi.workspace import service as workspace

# The settings every kind keeps secret (shown masked, kept when the mask comes back).
SECRET_KEYS = frozenset[str]().union(*(spec.secrets for spec in KINDS.values()))


def missing_settings(channel: Channel) -> list[str]:
    """The settings a channel still needs before it can work (demo channels need none)."""
    if channel.settings.get("demo"):
        return []
    return [key for key in KINDS[channel.kind].required if channel.settings.get(key) in (None, "")]


def public_settings(channel: Channel) -> dict[str, Any]:
    """Settings safe to show: secrets become ``********`` (set) or are left out (unset)."""
    return {
        key: (MASK if key in SECRET_KEYS else value)
        for key, value in channel.settings.items()
        if value not in (None, "")
    }


def _clean_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    allowed = KINDS[kind].setting_keys
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
    ctx: Ctx,
    *,
    kind: str,
    name: str,
    settings: dict[str, Any] | None = None,
    actor: Member | None = None,
) -> Channel:
    if kind not in KINDS:
        raise Invalid(
            "Unknown channel kind %(kind)s (one of: %(kinds)s).",
            kind=kind,
            kinds=", ".join(ChannelKind),  # the contract's order
        )
    name = name.strip()
    if not name or len(name) > 100:
        raise Invalid("A channel's name must be 1 to 100 characters.")
    channel = Channel(
        kind=kind, name=name, settings=_clean_settings(kind, settings or {}), created_at=ctx.now()
    )
    ctx.db.add(channel)
    await ctx.db.flush()
    audit.record(
        ctx,
        actor=actor,
        action="channel.created",
        subject=f"channel {channel.id}",
        name=name,
        after={"kind": kind, **_audited(channel)},
        detail={"kind": kind, "name": name, "settings": sorted(channel.settings)},
    )
    await ctx.commit(ChannelCreated(channel_id=channel.id))
    return channel


MASK = "********"


async def update_channel(
    ctx: Ctx,
    *,
    channel_id: int,
    name: str | None = None,
    settings: dict[str, Any] | None = None,
    enabled: bool | None = None,
    actor: Member | None = None,
) -> Channel:
    """Rename, change settings (a secret left as ``********`` stays as it was; ``""`` or null
    removes a setting), enable or disable a channel (a removed one is not there any more)."""
    channel = await get_channel(ctx.db, channel_id=channel_id, removed=False)
    before = _audited(channel)
    if name is not None:
        name = name.strip()
        if not name or len(name) > 100:
            raise Invalid("A channel's name must be 1 to 100 characters.")
        channel.name = name
    if settings is not None:
        merged = dict(channel.settings)
        for key, value in settings.items():
            if key in SECRET_KEYS and value == MASK:
                continue
            if value in (None, ""):
                merged.pop(key, None)
            else:
                merged[key] = value
        channel.settings = _clean_settings(channel.kind, merged)
    if enabled is not None:
        channel.enabled = enabled
    # Which settings changed; secrets' values stay out of the log.
    audit.record_changes(
        ctx,
        actor=actor,
        action="channel.updated",
        subject=f"channel {channel.id}",
        name=channel.name,
        before=before,
        after=_audited(channel),
        detail={
            "name": channel.name,
            "enabled": channel.enabled,
            "settings": sorted((settings or {}).keys()),
        },
    )
    await ctx.commit(ChannelUpdated(channel_id=channel.id))
    return channel


def _audited(channel: Channel) -> dict[str, Any]:
    """A channel as the audit log keeps it: a secret setting only as "set" (MASK) or not."""
    return {
        "name": channel.name,
        "enabled": channel.enabled,
        **{
            f"settings.{key}": MASK if key in SECRET_KEYS else value
            for key, value in sorted(channel.settings.items())
        },
    }


def webhook_url(channel: Channel, base_url: str) -> str | None:
    """What the owner pastes into LINE's or Meta's console."""
    path = KINDS[channel.kind].webhook_path
    return base_url.rstrip("/") + path.format(id=channel.id) if path else None


def snippet(channel: Channel, base_url: str) -> str | None:
    """The web chat's tag for the site owner's pages."""
    path = KINDS[channel.kind].widget_path
    if path is None:
        return None
    return f'<script src="{base_url.rstrip("/")}{path.format(id=channel.id)}" async></script>'


async def remove_channel(ctx: Ctx, *, channel_id: int, actor: Member | None = None) -> Channel:
    """Delete a channel for its owners: nothing comes in or goes out through it any more and
    its credentials are forgotten, but its conversations stay, to be read (not answered)."""
    channel = await get_channel(ctx.db, channel_id=channel_id, removed=False)
    channel.enabled = False
    channel.removed_at = ctx.now()
    # Secrets are no use to a channel that is gone.
    channel.settings = {"demo": True} if channel.settings.get("demo") else {}
    audit.record(
        ctx,
        actor=actor,
        action="channel.removed",
        subject=f"channel {channel.id}",
        name=channel.name,
        before={"kind": channel.kind, "name": channel.name},
        detail={"kind": channel.kind, "name": channel.name},
    )
    # channel.updated: open web chats on it end at once (connectors.web).
    await ctx.commit(ChannelUpdated(channel_id=channel.id, removed=True))
    return channel


async def get_channel(db: AsyncSession, *, channel_id: int, removed: bool | None = None) -> Channel:
    """A channel, removed or not (a conversation's); ``removed=False``: one still there."""
    channel = await db.get(Channel, channel_id)
    if channel is None or (removed is False and channel.removed):
        raise NotFound("No channel with id %(id)s.", id=channel_id)
    return channel


def api_channel(channel: Channel | None, channel_id: int) -> Channel:
    """The channel an integration posts a customer's message to (``channel_id``'s row, if any):
    an API channel, enabled."""
    if channel is None:
        raise NotFound("No channel with id %(id)s.", id=channel_id)
    if channel.kind != ChannelKind.api:
        raise Invalid("Channel %(id)s is not an API channel.", id=channel_id)
    if not channel.enabled:
        raise Invalid("Channel %(id)s is disabled.", id=channel_id)
    return channel


async def list_channels(db: AsyncSession, *, removed: bool = False) -> list[Channel]:
    """The channels in use, or (``removed``) the ones deleted, whose conversations are kept."""
    query = select(Channel).where(
        Channel.removed_at.is_not(None) if removed else Channel.removed_at.is_(None)
    )
    return list(await db.scalars(query.order_by(Channel.id)))


def initial_delivery(channel: Channel) -> Delivery:
    """Where a reply stands once stored (the kind's, but demo channels go nowhere: sent)."""
    if channel.settings.get("demo"):
        return Delivery.sent
    return KINDS[channel.kind].reply_delivery


def reply_window_ends(channel: Channel, last_inbound_at: datetime | None) -> datetime | None:
    """Until when a reply may be sent (None: no limit; long past: never, as for a deleted
    channel's conversations)."""
    return reply_until(
        channel.kind,
        last_inbound_at,
        removed=channel.removed,
        demo=bool(channel.settings.get("demo")),
    )


def reply_until(
    kind: str, last_inbound_at: datetime | None, *, removed: bool, demo: bool
) -> datetime | None:
    """``reply_window_ends`` from a channel's values (a list read as plain rows)."""
    if removed:
        return datetime.min.replace(tzinfo=UTC)
    window = KINDS[kind].reply_window
    if window is None or demo:
        return None
    if last_inbound_at is None:
        return datetime.min.replace(tzinfo=UTC)
    return last_inbound_at + window


def check_reply_allowed(channel: Channel, last_inbound_at: datetime | None, now: datetime) -> None:
    if channel.removed:
        raise Conflict(
            "This conversation's channel was deleted: it can be read, but no longer answered."
        )
    ends = reply_window_ends(channel, last_inbound_at)
    if ends is not None and now > ends:
        raise Invalid(KINDS[channel.kind].reply_window_closed)


def outbound_external_id(channel: Channel) -> str | None:
    """The id a reply carries on its channel, chosen before it is sent (an e-mail's
    Message-ID, so that every retry sends the same one)."""
    outbound_id = KINDS[channel.kind].outbound_id
    return outbound_id(channel) if outbound_id else None


# --- who a customer is, from what a link of ours carries ---------------------------------------


def visitor_token(key: bytes, channel_id: int, external_id: str) -> str:
    """The web chat visitor's token: their channel and id, signed with the workspace key."""
    payload = f"{channel_id}|{external_id}"
    return payload.replace("|", ".", 1) + "." + workspace.sign(key, "visitor:" + payload)


def visitor_of(key: bytes, token: str) -> tuple[int, str] | None:
    """The web channel and the visitor's id a token names, if its signature holds."""
    prefix, _, rest = token.partition(".")
    external_id, _, signature = rest.rpartition(".")
    if not prefix.isascii() or not prefix.isdigit() or len(prefix) > 18 or not external_id:
        return None
    payload = f"{prefix}|{external_id}"
    if not workspace.verify(key, "visitor:" + payload, signature):
        return None
    return int(prefix), external_id


async def linked_contact(db: AsyncSession, token: str) -> Contact | None:
    """The contact behind a working customer link (顧客用リンク) token, if any."""
    session = await db.scalar(
        select(VisitorSession).where(
            VisitorSession.token_hash == secret_hash(token),
            VisitorSession.kind == "link",
            VisitorSession.revoked_at.is_(None),
        )
    )
    return await db.get(Contact, session.contact_id) if session else None
