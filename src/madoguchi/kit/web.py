"""What every route shares: the runtime, a context per request, and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, Response

from madoguchi.config import Settings
from madoguchi.events import EventBus
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database, utcnow
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import translate_error
from madoguchi.members import service as members
from madoguchi.members.models import Member

SESSION_COOKIE = "madoguchi_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Runtime:
    """Everything the process holds for its lifetime."""

    settings: Settings
    database: Database
    bus: EventBus


def runtime_of(connection: HTTPConnection) -> Runtime:
    runtime: Runtime = connection.app.state.runtime
    return runtime


async def request_ctx(request: Request) -> AsyncIterator[Ctx]:
    """A session per request: reads for GET, a writer transaction (on SQLite) otherwise."""
    runtime = runtime_of(request)
    database = runtime.database
    factory = database.read_sessions if request.method in SAFE_METHODS else database.write_sessions
    async with factory() as session:
        yield Ctx(db=session, bus=runtime.bus, settings=runtime.settings)


CtxDep = Annotated[Ctx, Depends(request_ctx)]


def bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def same_origin(connection: HTTPConnection) -> bool:
    """A cookie-authenticated change must come from our own pages (no cross-site forgery)."""
    origin = connection.headers.get("origin")
    if not origin or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == connection.headers.get("host", "")


async def authenticate(connection: HTTPConnection, ctx: Ctx, *, unsafe: bool) -> Member | None:
    token = bearer_token(connection)
    if token is not None:
        return await members.member_for_token(ctx.db, secret=token)
    cookie = connection.cookies.get(SESSION_COOKIE)
    if cookie:
        if unsafe and not same_origin(connection):
            raise HTTPException(403, "Cross-site request refused.")
        return await members.member_for_session(ctx.db, secret=cookie, now=utcnow())
    return None


async def current_member(request: Request, ctx: CtxDep) -> Member:
    member = await authenticate(request, ctx, unsafe=request.method not in SAFE_METHODS)
    if member is None:
        raise HTTPException(
            401,
            "Authentication required: a Bearer token or a signed-in session.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if members.must_change_password(member, method=request.method, path=request.url.path):
        if request.url.path.startswith("/api/"):
            raise members.password_change_first()
        # A page goes to the form that changes it (an htmx fragment: the whole page does).
        page = members.PASSWORD_PAGE
        if "hx-request" in request.headers:
            raise HTTPException(403, "Choose a new password first.", headers={"HX-Redirect": page})
        raise HTTPException(303, "Choose a new password first.", headers={"Location": page})
    # The language of the answer to a refusal (app.py), kept as a plain value: a rolled-back
    # session expires the member object before the handler runs.
    request.state.language = member.language
    return member


MemberDep = Annotated[Member, Depends(current_member)]


async def websocket_member(websocket: WebSocket) -> Member | None:
    runtime = runtime_of(websocket)
    async with runtime.database.read_sessions() as session:
        ctx = Ctx(db=session, bus=runtime.bus, settings=runtime.settings)
        try:
            member = await authenticate(websocket, ctx, unsafe=True)
        except HTTPException:
            return None
    if member is not None and member.password_must_change:
        return None  # nothing but choosing a new password until they have (current_member)
    return member


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# The 422 for a body that is not JSON: malformed, or not even text (app.py).
NOT_JSON = "The request body is not valid JSON."


def describe_invalid(errors: Any) -> str:
    """One readable sentence for a 422 ``detail`` (or a WebSocket error frame)."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            parts.append(NOT_JSON)
            continue
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = error.get("msg", "invalid")
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts) or "The request is not valid."


def refused(path: str, htmx: bool, error: DomainError, language: str) -> Response:
    """A refusal answered before (or instead of) a route: ``{"detail"}`` JSON to the API and to
    plain requests, the translated sentence to an htmx fragment (which shows it where it asked)."""
    if path.startswith("/api/") or not htmx:
        return JSONResponse({"detail": str(error)}, status_code=error.status_code)
    return PlainTextResponse(translate_error(error, language), status_code=error.status_code)
