"""Request bodies are bounded while they arrive, before anything reads them whole.

A body's cap depends on where it goes: webhooks, the image uploads, the contact import, and
everything else (the JSON API, the staff UI's forms, the web chat), each a setting. The larger
caps of the upload and import forms apply to multipart forms only, whose files are spooled to
disk as they arrive; any other body sent there is held to the ordinary cap. A declared
``Content-Length`` over the cap is answered 413 without reading a byte; a body sent in chunks is
counted as it streams and answered 413 as soon as it passes the cap. The server holds at most one
chunk past the cap, whatever the sender sends.

This middleware sits outside every other one: kit.nul reads JSON and form bodies whole.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from madoguchi.config import Settings
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import N_
from madoguchi.kit.web import refused

MIB = 1024 * 1024
# Room for a multipart form's boundaries and its other fields, around the files it carries.
FORM_OVERHEAD = 64 * 1024
# How many images a template's form may carry (files.service.MAX_IMAGES; a test keeps them equal).
TEMPLATE_IMAGES = 3
_UPLOADS = re.compile(r"/(?:api/v1|ui)/files")
_TEMPLATE_FORMS = re.compile(r"/settings/templates(?:/\d+/update)?")
TOO_LARGE = N_("The request is too large: this address accepts at most %(n)s MB.")


class TooLarge(DomainError):
    status_code = 413


def cap_for(path: str, content_type: str, settings: Settings) -> int:
    """The most bytes a request body to ``path`` may hold."""
    if path.startswith("/webhooks/"):
        return settings.max_webhook_bytes
    if not content_type.lower().startswith("multipart/form-data"):
        return settings.max_body_bytes
    if _UPLOADS.fullmatch(path):
        return settings.max_upload_bytes + FORM_OVERHEAD
    if _TEMPLATE_FORMS.fullmatch(path):
        return TEMPLATE_IMAGES * settings.max_upload_bytes + FORM_OVERHEAD
    if path.startswith("/settings/import-export/"):
        return settings.max_import_bytes
    return settings.max_body_bytes


def refusal(cap: int) -> TooLarge:
    shown = f"{cap / MIB:.1f}".removesuffix(".0")
    return TooLarge(TOO_LARGE, n=shown)


class _Overflow(Exception):
    """Raised into the app when the body passes its cap (its own handling is overruled)."""


class LimitBodies:
    """ASGI middleware: see the module's text."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = dict(scope.get("headers", []))
        cap = cap_for(path, headers.get(b"content-type", b"").decode("latin-1"), self.settings)
        htmx = b"hx-request" in headers
        language = self.settings.default_language
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:
            await refused(path, htmx, refusal(cap), language)(scope, receive, send)
            return

        received = 0
        overflowed = False
        started = False

        async def counted() -> Message:
            nonlocal received, overflowed
            if overflowed:
                raise _Overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    overflowed = True
                    raise _Overflow
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if overflowed:
                return  # the app's own answer to the failed read: ours goes instead
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except _Overflow:
            pass
        except Exception:
            if not overflowed:
                raise
        if overflowed and not started:
            await refused(path, htmx, refusal(cap), language)(scope, receive, send)
