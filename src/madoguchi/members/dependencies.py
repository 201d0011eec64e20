"""Who is asking: the member behind a request's Bearer token or session cookie, as a FastAPI
dependency for every route that needs one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request, WebSocket
from starlette.requests import HTTPConnection

from madoguchi.kit.context import Actor, Ctx
from madoguchi.kit.db import AsyncSession, utcnow
from madoguchi.kit.web import SAFE_METHODS, CtxDep, runtime_of
from madoguchi.members import service as members
from madoguchi.members.models import Member

SESSION_COOKIE = "madoguchi_session"


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


def _unauthenticated() -> HTTPException:
    return HTTPException(
        401,
        "Authentication required: a Bearer token or a signed-in session.",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def current_member(request: Request, ctx: CtxDep) -> Member:
    member = await authenticate(request, ctx, unsafe=request.method not in SAFE_METHODS)
    if member is None:
        raise _unauthenticated()
    if members.must_change_password(member, method=request.method, path=request.url.path):
        if request.url.path.startswith("/api/"):
            raise members.password_change_first()
        # A page goes to the form that changes it (an htmx fragment: the whole page does).
        page = members.PASSWORD_PAGE
        if "hx-request" in request.headers:
            raise HTTPException(403, "Choose a new password first.", headers={"HX-Redirect": page})
        raise HTTPException(303, "Choose a new password first.", headers={"Location": page})
    # What this request changes, it changes as this member (the audit log).
    ctx.actor = Actor(kind="member", name=member.name, member_id=member.id)
    # The language of the answer to a refusal (app.py), kept as a plain value: a rolled-back
    # session expires the member object before the handler runs.
    request.state.language = member.language
    return member


MemberDep = Annotated[Member, Depends(current_member)]


@dataclass(frozen=True)
class TokenCaller:
    """A request's Bearer token, not yet looked up: a writer storing the messages of many
    requests at once (``connectors.intake``) checks it in its own transaction, once for all the
    requests that carry it, rather than each request opening a session to check it."""

    # Never in a repr (a log line, a traceback's locals).
    secret: str = field(repr=False)
    method: str
    path: str

    async def check(self, db: AsyncSession) -> int:
        """The id of the member behind the token, refused as ``current_member`` refuses: 401
        for an unknown, revoked or deactivated one, 403 while a reset password waits to be
        replaced."""
        holder = await members.token_holder(db, secret=self.secret)
        if holder is None:
            raise _unauthenticated()
        if members.waits_for_password(
            holder.password_must_change, method=self.method, path=self.path
        ):
            raise members.password_change_first()
        return holder.member_id


async def token_or_member(request: Request) -> TokenCaller | Member:
    """Who posts to a route that stores through the intake: a Bearer token is handed on as it
    came (the writer checks it with the batch); a signed-in session is checked here, as
    ``current_member`` checks it (a request without either: 401)."""
    token = bearer_token(request)
    if token is not None:
        return TokenCaller(secret=token, method=request.method, path=request.url.path)
    runtime = runtime_of(request)
    async with runtime.database.read_sessions() as session:
        ctx = Ctx(db=session, bus=runtime.bus, settings=runtime.settings)
        return await current_member(request, ctx)


CallerDep = Annotated[TokenCaller | Member, Depends(token_or_member)]


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


def member_refusals(method: str, path: str) -> set[int]:
    """What ``current_member`` answers (the API document lists it, kit/openapi.py): 401 without a
    member; 403 for a change carrying another site's cookie, or for a member who must first
    replace a reset password."""
    statuses = {401}
    reset = Member(password_must_change=True)
    if method not in SAFE_METHODS or members.must_change_password(reset, method=method, path=path):
        statuses.add(403)
    return statuses
