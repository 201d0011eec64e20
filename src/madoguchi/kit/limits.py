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
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from madoguchi.config import Settings
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import N_
from madoguchi.kit.web import refused

MIB = 1024 * 1024
# Room for a multipart form's boundaries and its other fields, around the files it carries.
FORM_OVERHEAD = 64 * 1024
_UPLOADS = re.compile(r"/(?:api/v1|ui)/files")
_TEMPLATE_FORMS = re.compile(r"/settings/templates(?:/\d+/update)?")
TOO_LARGE = N_("The request is too large: this address accepts at most %(n)s MB.")


class TooLarge(DomainError):
    status_code = 413


@dataclass(frozen=True)
class Caps:
    """The most bytes a body may hold, by where it goes. The JSON API's and the webhooks' are
    settings; an image's, how many a template carries and the import's are the rules of the
    parts that read them (files.service, ui.settings_transfer), handed in by create_app."""

    body: int
    webhook: int
    image: int
    images_per_template: int
    import_form: int

    @classmethod
    def of(
        cls, settings: Settings, *, image: int, images_per_template: int, import_form: int
    ) -> Caps:
        return cls(
            body=settings.max_body_bytes,
            webhook=settings.max_webhook_bytes,
            image=image,
            images_per_template=images_per_template,
            import_form=import_form,
        )


def cap_for(path: str, content_type: str, caps: Caps) -> int:
    """The most bytes a request body to ``path`` may hold."""
    if path.startswith("/webhooks/"):
        return caps.webhook
    if not content_type.lower().startswith("multipart/form-data"):
        return caps.body
    if _UPLOADS.fullmatch(path):
        return caps.image + FORM_OVERHEAD
    if _TEMPLATE_FORMS.fullmatch(path):
        return caps.images_per_template * caps.image + FORM_OVERHEAD
    if path.startswith("/settings/import-export/"):
        return caps.import_form
    return caps.body


def refusal(cap: int) -> TooLarge:
    """Said in whole megabytes, the form's own overhead left out (10 MB, not 10.1)."""
    shown = str(cap // MIB) if cap >= MIB else f"{cap / MIB:.1f}"
    return TooLarge(TOO_LARGE, n=shown)


class _Overflow(Exception):
    """Raised into the app when the body passes its cap (its own handling is overruled)."""


class LimitBodies:
    """ASGI middleware: see the module's text."""

    def __init__(self, app: ASGIApp, *, caps: Caps, language: str) -> None:
        self.app = app
        self.caps = caps
        self.language = language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = dict(scope.get("headers", []))
        cap = cap_for(path, headers.get(b"content-type", b"").decode("latin-1"), self.caps)
        htmx = b"hx-request" in headers
        language = self.language
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
