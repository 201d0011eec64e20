"""The shape every channel adapter has: verify → normalise → ingest for what comes in (each
channel's webhook or listener, ending in ``connectors.inbound.receive``), and
``send`` for what goes out (called by the outbox, with retries)."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from madoguchi.channels.models import Channel
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, Message
from madoguchi.files.models import StoredFile
from madoguchi.kit.text import UNSTORABLE

# The channels' own services, unless a channel's settings say otherwise (tests point them at a
# local recorder).
DEFAULT_API_BASE = {
    "line": "https://api.line.me",
    "line_data": "https://api-data.line.me",
    # Sticker images (the address LINE's own apps use), fetched once per sticker.
    "line_sticker": "https://stickershop.line-scdn.net",
    "instagram": "https://graph.instagram.com/v21.0",
}
TIMEOUT = httpx.Timeout(10.0, connect=5.0)

# What no database keeps (kit.text: NUL, lone surrogate halves: a webhook would answer 500, a
# mail 451, and the channel try again forever), and the other C0 control characters but tab,
# line feed and carriage return, which only hide text.
_CONTROL_CHARACTERS = {
    **UNSTORABLE,
    **dict.fromkeys(c for c in range(0x20) if chr(c) not in "\t\n\r"),
}


def printable(text: str) -> str:
    """The text without control characters (tab and line breaks kept) and without lone
    surrogates: what a channel gives us (texts, names, ids, its errors) is kept so."""
    return text.translate(_CONTROL_CHARACTERS)


class DeliveryError(Exception):
    """The channel did not take the message. ``retryable``: try again later (a timeout, a 5xx,
    a rate limit); otherwise it will never work (a bad token, a blocked user). ``parts_sent``:
    for a reply sent in parts, how many (from the first) the customer has now (None: the
    adapter does not send in parts)."""

    def __init__(
        self, message: str, *, retryable: bool = True, parts_sent: int | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.parts_sent = parts_sent


@dataclass(frozen=True)
class PublicImage:
    """An image with addresses the channel's servers can fetch without signing in."""

    file: StoredFile
    url: str
    thumbnail_url: str


@dataclass(frozen=True)
class Outgoing:
    channel: Channel
    contact: Contact
    conversation: Conversation
    message: Message
    images: list[PublicImage]
    retry_key: str
    # Where the file store keeps the images' bytes (e-mail attaches them).
    files_root: Path
    # What a channel needs to thread the reply (e-mail: the subject and Message-IDs).
    thread: dict[str, Any] = field(default_factory=dict)
    # Parts of the reply the channel took in earlier attempts (Instagram sends the text and each
    # image on its own): the customer has them, so they are not sent again.
    parts_sent: int = 0


class Adapter(Protocol):
    async def send(self, outgoing: Outgoing) -> str | None:
        """Deliver; answers the channel's id for the message when it gives one. Raises
        ``DeliveryError``."""
        ...


def api_base(channel: Channel, kind: str) -> str:
    return str(channel.settings.get("api_base") or DEFAULT_API_BASE[kind]).rstrip("/")


def http_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False, verify=_ssl_context())


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS settings, made once: loading the certificate store takes about
    50 ms, which each new client would spend again (a broadcast makes one per LINE call)."""
    return httpx.create_ssl_context()


def failure(response: httpx.Response, what: str) -> DeliveryError:
    """A refusal from a channel's API, retryable when it is the service's trouble, not ours."""
    detail = response.text[:300]
    retryable = response.status_code >= 500 or response.status_code == 429
    return DeliveryError(f"{what}: HTTP {response.status_code} {detail}", retryable=retryable)
