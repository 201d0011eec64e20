"""Workspace settings: チャネル (LINE, Instagram, e-mail, the web chat and the API).

A secret is never sent to the page: a set one shows as ``********`` in its password input, and
sending the mask back keeps it (channels.service.update_channel); emptying the input removes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.channels import service as channels
from madoguchi.channels.kinds import KINDS as CHANNEL_KINDS
from madoguchi.channels.kinds import Setting
from madoguchi.channels.models import Channel
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.settings_pages import (
    N_,
    PAGE,
    FormText,
    SettingsPage,
    act,
    add_page,
    translated,
)

router = APIRouter()


# (kind, what it is for) in the order the page offers them, and each kind's form.
KINDS: tuple[tuple[str, str], ...] = tuple(
    (k, spec.description) for k, spec in CHANNEL_KINDS.items()
)
SETTINGS: dict[str, tuple[Setting, ...]] = {k: spec.settings for k, spec in CHANNEL_KINDS.items()}
_LIST_SEPARATORS = re.compile(r"[\s,]+")


def origin_lines(value: Any) -> str:
    """The allowed sites, one a line (stored as the command line takes them: spaces between)."""
    items = value if isinstance(value, list) else _LIST_SEPARATORS.split(str(value or ""))
    return "\n".join(str(item) for item in items if item)


def reaches_the_internet(base_url: str) -> bool:
    """Whether LINE's and Meta's servers can call this address (HTTPS, not this computer)."""
    parts = urlsplit(base_url)
    local = (parts.hostname or "") in ("localhost", "127.0.0.1", "::1", "0.0.0.0")
    return parts.scheme == "https" and not local


@dataclass(frozen=True)
class ShownSetting:
    setting: Setting
    # Safe to put in the page: the value for the others, the mask or "" for a secret.
    value: str
    is_set: bool


@dataclass(frozen=True)
class ChannelView:
    channel: Channel
    settings: list[ShownSetting]
    missing: list[str]
    webhook_url: str | None
    # Where the owner pastes the webhook URL (a msgid).
    webhook_help: str
    snippet: str | None
    demo: bool

    @property
    def identity_example(self) -> str:
        """The snippet with what a site sets before it for a signed-in customer."""
        return (
            "<script>\n"
            '  window.madoguchiSettings = {userId: "customer-123", '
            'userHash: "HMAC-SHA256(identity_secret, userId)"};\n'
            "</script>\n"
            f"{self.snippet}"
        )


def _shown(channel: Channel, base_url: str) -> ChannelView:
    public = channels.public_settings(channel)  # secrets masked, unset ones left out
    shown = []
    for setting in SETTINGS.get(channel.kind, ()):
        value = public.get(setting.key)
        text = origin_lines(value) if setting.input == "lines" else str(value or "")
        shown.append(ShownSetting(setting, text, value is not None))
    return ChannelView(
        channel=channel,
        settings=shown,
        missing=[
            s.setting.label for s in shown if s.setting.key in channels.missing_settings(channel)
        ],
        webhook_url=channels.webhook_url(channel, base_url),
        webhook_help=CHANNEL_KINDS[channel.kind].webhook_help,
        snippet=channels.snippet(channel, base_url),
        demo=bool(channel.settings.get("demo")),
    )


async def _channels(ctx: Ctx) -> dict[str, Any]:
    base = ctx.settings.base_url
    return {
        "channel_views": [_shown(c, base) for c in await channels.list_channels(ctx.db)],
        "removed_channels": await channels.list_channels(ctx.db, removed=True),
        "kinds": KINDS,
        "kind_settings": SETTINGS,
        "kind_specs": CHANNEL_KINDS,
        "base_url": ctx.settings.base_url,
        "base_url_public": reaches_the_internet(ctx.settings.base_url),
        "mask": channels.MASK,
    }


CHANNELS = SettingsPage("channels", _channels)


def _form_settings(kind: str, form: Mapping[str, Any], *, keep_empty: bool) -> dict[str, Any]:
    """The kind's settings as typed. A new channel leaves out what is empty; an edit sends it,
    which removes the setting (and a secret's mask keeps the secret)."""
    found: dict[str, Any] = {}
    for setting in SETTINGS.get(kind, ()):
        raw = str(form.get(setting.key) or "")
        value = " ".join(origin_lines(raw).splitlines()) if setting.input == "lines" else raw
        value = value.strip()
        if value or keep_empty:
            found[setting.key] = value
    return found


def _draft(kind: str, name: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """What was typed, given back when refused, without the secrets (never sent to the page)."""
    typed = {s.key: str(form.get(s.key) or "") for s in SETTINGS.get(kind, ()) if not s.secret}
    return {"name": name, **typed}


def _added_notice(member: Member, channel: Channel) -> str:
    return translated(member, CHANNEL_KINDS[channel.kind].added_notice, name=channel.name)


add_page(router, CHANNELS)


@router.post("/settings/channels")
async def add_channel(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    form = await request.form()
    kind = str(form.get("kind") or "")
    name = str(form.get("name") or "")
    settings = _form_settings(kind, form, keep_empty=False)
    return await act(
        request,
        ctx,
        member,
        CHANNELS,
        lambda: channels.create_channel(ctx, kind=kind, name=name, settings=settings, actor=member),
        # An unknown kind has no form of its own: it is said at the top.
        at=f"new-channel-{kind}" if kind in SETTINGS else PAGE,
        notice=lambda channel: _added_notice(member, channel),
        draft=_draft(kind, name, form),
        done_at=lambda channel: f"channel-{channel.id}",
    )


@router.post("/settings/channels/{channel_id}/update")
async def update_channel(
    channel_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Rename and change the settings; a secret left as ``********`` stays as it was."""
    form = await request.form()
    name = str(form.get("name") or "")
    kind = str(form.get("kind") or "")

    async def change() -> Channel:
        channel = await channels.get_channel(ctx.db, channel_id=channel_id)
        return await channels.update_channel(
            ctx,
            channel_id=channel_id,
            name=name,
            settings=_form_settings(channel.kind, form, keep_empty=True),
            actor=member,
        )

    return await act(
        request,
        ctx,
        member,
        CHANNELS,
        change,
        at=f"channel-{channel_id}",
        draft=_draft(kind, name, form),
    )


@router.post("/settings/channels/{channel_id}/enabled")
async def enable_channel(
    channel_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    enabled: FormText = "",
    name: FormText = "",
) -> Response:
    """Turn a channel on or off (off: its webhooks are refused, its replies not delivered)."""
    on = enabled == "1"
    if on:
        notice = N_("%(name)s is on again: messages come in and replies go out.")
    else:
        notice = N_("%(name)s is off: nothing comes in through it and replies are not delivered.")
    return await act(
        request,
        ctx,
        member,
        CHANNELS,
        lambda: channels.update_channel(ctx, channel_id=channel_id, enabled=on, actor=member),
        at=f"channel-{channel_id}",
        notice=translated(member, notice, name=name),
    )


@router.post("/settings/channels/{channel_id}/delete")
async def delete_channel(
    channel_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    """Delete a channel; its conversations stay, to be read but not answered."""
    return await act(
        request,
        ctx,
        member,
        CHANNELS,
        lambda: channels.remove_channel(ctx, channel_id=channel_id, actor=member),
        at=f"channel-{channel_id}",
        notice=translated(
            member,
            N_("Deleted the channel %(name)s. Its conversations stay in the inbox, to be read."),
            name=name,
        ),
        notice_at=PAGE,
    )
