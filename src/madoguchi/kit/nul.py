"""Text no database can keep is refused at the door.

PostgreSQL cannot keep the NUL character (U+0000) in text, and neither driver can encode half of
a UTF-16 surrogate pair (a broken ``"\\ud83d"`` JSON escape): the request would end in a 500.
No person types either. So a request that carries one in its query, its JSON or its form is
answered 422 before any route sees it, whatever the database. Left alone: webhooks (their
bodies are signed as they are), the web chat (a customer's message is kept, without such
characters: connectors.inbound.receive drops them) and uploads (binary).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from madoguchi.kit import jsonsafe
from madoguchi.kit.errors import Invalid
from madoguchi.kit.text import has_unstorable
from madoguchi.kit.web import refused

REFUSAL = Invalid("Text cannot contain the NUL character (U+0000).")
HALF_REFUSAL = Invalid("Text cannot contain half of a character (a lone UTF-16 surrogate).")
# Where the channels and the web chat clean what they store themselves.
_LEFT_ALONE = ("/webhooks/", "/widget/", "/chat/")
# A JSON escape of a NUL or of a surrogate half (the only way either gets into JSON text).
_SUSPECT_ESCAPE = re.compile(rb"\\u(0000|d[89a-f])", re.IGNORECASE)
_CHECKED_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _judge(texts: Iterable[str]) -> Invalid | None:
    """The refusal for the first text that holds a NUL or a surrogate half, if one does."""
    for text in texts:
        if "\x00" in text:
            return REFUSAL
        if has_unstorable(text):
            return HALF_REFUSAL
    return None


def _form_texts(encoded: bytes) -> Iterator[str]:
    if b"%00" in encoded.lower():
        for pair in parse_qsl(encoded.decode("latin-1"), keep_blank_values=True):
            yield from pair


def refusal_for(query: bytes, body: bytes, content_type: str) -> Invalid | None:
    """Why the query string or a JSON / form body cannot be kept, or None: it holds a NUL or a
    surrogate half (a literal ``\\u0000`` written as text, with its backslash escaped, is
    neither)."""
    found = _judge(_form_texts(query))
    if found is not None or not body:
        return found
    if b"\x00" in body:
        return REFUSAL
    if content_type.startswith("application/json"):
        if not _SUSPECT_ESCAPE.search(body):
            return None
        try:
            return _judge(_strings(jsonsafe.loads(body)))
        except ValueError:
            return None  # the route answers what is wrong with it
    if content_type.startswith("application/x-www-form-urlencoded"):
        return _judge(_form_texts(body))
    return None


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
        refusal = refusal_for(query, body, content_type)
        if refusal is not None:
            answer = refused(scope["path"], b"hx-request" in headers, refusal, self.language)
            await answer(scope, receive, send)
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
