"""Each channel kind's code that talks to its servers: the outbound adapter the worker sends
through, and the webhook (or widget) routes the app mounts. They record inbound messages through
the conversation services, so they sit above them; what the services need to know of a kind is
its description (channels/kinds.py)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from madoguchi.channels.base import Adapter
from madoguchi.channels.models import ChannelKind
from madoguchi.connectors import email, instagram, line, web
from madoguchi.connectors.webhooks import BodyStorer

# The kinds without one send nothing further: a reply is sent once stored (kinds.reply_delivery).
ADAPTERS: dict[str, Callable[[], Adapter]] = {
    ChannelKind.line: line.LineAdapter,
    ChannelKind.instagram: instagram.InstagramAdapter,
    ChannelKind.email: email.EmailAdapter,
}

# The kinds whose webhook bodies are kept and stored after the answer (connectors.webhooks): how
# the worker stores one left behind.
BODY_STORERS: dict[str, BodyStorer] = {
    ChannelKind.line: line.store_body,
    ChannelKind.instagram: instagram.store_body,
}

ROUTERS: dict[str, APIRouter] = {
    ChannelKind.line: line.router,
    ChannelKind.instagram: instagram.router,
    ChannelKind.web: web.router,
}
