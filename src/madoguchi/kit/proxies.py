"""Who is asking, behind a reverse proxy: X-Forwarded-For and X-Forwarded-Proto are believed
only when the connection comes from a proxy the workspace named (``MADOGUCHI_TRUSTED_PROXIES``).

Anyone can write those headers; only a proxy we run writes them truthfully. So the client is the
peer itself unless the peer is trusted; then it is the right-most address in X-Forwarded-For
that is not a trusted proxy (each proxy appends the address it saw, so the ones to the left of
it may be made up). Login throttling and the logs see that address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from madoguchi.config import Network, networks

_SCHEMES = {"http": "http", "https": "https", "ws": "ws", "wss": "wss"}
_SECURE = {"http": "ws", "https": "wss"}


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a name, or "unknown": never one of ours
    return any(ip in network for network in trusted)


def _listed(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    """Every comma-separated entry of a header, in order, across repeated headers."""
    values = [value.decode("latin-1") for key, value in headers if key.lower() == name]
    return [entry.strip() for value in values for entry in value.split(",") if entry.strip()]


def forwarded_client(forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str | None:
    """The right-most address not of a trusted proxy; the left-most when all of them are."""
    for address in reversed(forwarded_for):
        if not _trusted(address, trusted):
            return address
    return forwarded_for[0] if forwarded_for else None


class TrustedProxies:
    """ASGI middleware: see the module's text."""

    def __init__(self, app: ASGIApp, *, trusted: str) -> None:
        self.app = app
        self.trusted = networks(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if (
            scope["type"] in ("http", "websocket")
            and self.trusted
            and peer
            and _trusted(peer[0], self.trusted)
        ):
            # In place, as uvicorn's own does: its access log reads this scope too.
            headers = scope.get("headers", [])
            client = forwarded_client(_listed(headers, b"x-forwarded-for"), self.trusted)
            if client is not None:
                scope["client"] = (client, 0)
            protos = _listed(headers, b"x-forwarded-proto")
            # The last proxy's word: the one that spoke to the browser is ours.
            proto = protos[-1].lower() if protos else ""
            if proto in _SCHEMES:
                scope["scheme"] = (
                    _SECURE[proto] if scope["type"] == "websocket" and proto in _SECURE else proto
                )
        await self.app(scope, receive, send)
