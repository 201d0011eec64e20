"""Text no database can keep is refused at the door.

PostgreSQL cannot keep the NUL character (U+0000) in text, and neither driver can encode half of
a UTF-16 surrogate pair (a broken ``"\\ud83d"`` JSON escape): the request would end in a 500.
No person types either. So a request that carries one in its query, its JSON or its form is
answered 422 before any route sees it, whatever the database. Left alone: webhooks (their
bodies are signed as they are), the web chat (a customer's message is kept, without such
characters: conversations.service.ingest_inbound drops them) and uploads (binary).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from madoguchi.kit.errors import Invalid
from madoguchi.kit.i18n import translate_error
from madoguchi.kit.text import has_unstorable

REFUSAL = Invalid("Text cannot contain the NUL character (U+0000).")
HALF_REFUSAL = Invalid("Text cannot contain half of a character (a lone UTF-16 surrogate).")
# Where the channels and the web chat clean what they store themselves.
_LEFT_ALONE = ("/webhooks/", "/widget/", "/chat/")
# A JSON escape of a NUL or of a surrogate half (the only way either gets into JSON text).
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|d[89a-f])", re.IGNORECASE)
_CHECKED_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _in_json(value: Any) -> bool:
    if isinstance(value, str):
        return has_unstorable(value)
    if isinstance(value, dict):
        return any(_in_json(key) or _in_json(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_in_json(item) for item in value)
    return False


def _in_form(encoded: bytes) -> bool:
    if b"%00" not in encoded.lower():
        return False
    pairs = parse_qsl(encoded.decode("latin-1"), keep_blank_values=True)
    return any("\x00" in key or "\x00" in value for key, value in pairs)


def carries_nul(query: bytes, body: bytes, content_type: str) -> bool:
    """Whether the query string or a JSON / form body holds a NUL or a surrogate half (a literal
    ``\\u0000`` written as text, with its backslash escaped, is neither)."""
    if _in_form(query):
        return True
    if not body:
        return False
    if b"\x00" in body:
        return True
    if content_type.startswith("application/json"):
        if not _SUSPECT_ESCAPE.search(body):
            return False
        try:
            return _in_json(json.loads(body))
        except ValueError:
            return False  # the route answers what is wrong with it
    if content_type.startswith("application/x-www-form-urlencoded"):
        return _in_form(body)
    return False


class RefuseNul:
    """ASGI middleware: see the module's text."""

    def __init__(self, app: ASGIApp, *, language: str) -> None:
        self.app = app
        self.language = language

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_LEFT_ALONE):
            await self.app(scope, receive, send)
            return
        headers = {key.lower(): value for key, value in scope.get("headers", [])}
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        query: bytes = scope.get("query_string", b"")
        body = b""
        reads_body = scope["method"] in _CHECKED_METHODS and (
            content_type.startswith("application/json")
            or content_type.startswith("application/x-www-form-urlencoded")
        )
        if reads_body:
            body, receive = await _buffered(receive)
        if carries_nul(query, body, content_type):
            refusal = REFUSAL if b"%00" in query.lower() or _has_nul(body) else HALF_REFUSAL
            await _refusal(scope, headers, self.language, refusal)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a ``receive`` that hands it on to the app as if unread."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", _repeat(message)  # the client went away: the app sees that instead
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _repeat(message: Message) -> Receive:
    async def again() -> Message:
        return message

    return again


def _has_nul(body: bytes) -> bool:
    return b"\x00" in body or b"\\u0000" in body or b"%00" in body.lower()


def _refusal(
    scope: Scope, headers: dict[bytes, bytes], language: str, refusal: Invalid
) -> Response:
    if scope["path"].startswith("/api/") or b"hx-request" not in headers:
        return JSONResponse({"detail": str(refusal)}, status_code=refusal.status_code)
    return PlainTextResponse(translate_error(refusal, language), status_code=refusal.status_code)
