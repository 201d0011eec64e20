"""Headers every answer carries unless it set its own.

``X-Content-Type-Options: nosniff`` everywhere: a browser takes each answer for what it says it
is. ``Cache-Control: no-store`` on everything but the static assets: the API and the staff pages
carry customers' names and messages, which no browser cache or shared proxy should keep. A route
that may be kept (an image behind its address, the web chat's script) says so itself.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NOSNIFF = {"X-Content-Type-Options": "nosniff"}
NO_STORE = {"Cache-Control": "no-store"}
_CACHEABLE = ("/static/",)


def defaults_for(path: str) -> dict[str, str]:
    """The headers an answer to ``path`` carries unless it set its own."""
    return NOSNIFF if path.startswith(_CACHEABLE) else {**NOSNIFF, **NO_STORE}


def add_defaults(response: Response, path: str) -> Response:
    """``response`` with the default headers it lacks: for the answers made outside the
    middleware (the catch-all 500 handler runs outermost, in Starlette's ServerErrorMiddleware)."""
    for name, value in defaults_for(path).items():
        response.headers.setdefault(name, value)
    return response


class DefaultHeaders:
    """ASGI middleware: see the module's text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in defaults_for(scope["path"]).items()
        ]

        async def with_defaults(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers += [(name, value) for name, value in defaults if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_defaults)
