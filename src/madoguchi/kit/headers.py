"""Headers every answer carries unless it set its own.

``X-Content-Type-Options: nosniff`` everywhere: a browser takes each answer for what it says it
is. ``Cache-Control: no-store`` on everything but the static assets: the API and the staff pages
carry customers' names and messages, which no browser cache or shared proxy should keep. A route
that may be kept (an image behind its address, the web chat's script) says so itself.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CACHEABLE = ("/static/",)


class DefaultHeaders:
    """ASGI middleware: see the module's text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = [(b"x-content-type-options", b"nosniff")]
        if not scope["path"].startswith(_CACHEABLE):
            defaults.append((b"cache-control", b"no-store"))

        async def with_defaults(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _value in headers}
                headers += [(name, value) for name, value in defaults if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_defaults)
