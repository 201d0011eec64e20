"""The web chat (F33) and the customer link (F15).

A site owner pastes ``<script src="…/widget/{id}.js" async></script>``; visitors chat in real
time. A visitor is known by a signed token kept in their browser (returning visitors keep their
history). A site can vouch for a logged-in customer by giving ``user_id`` with
``HMAC-SHA256(identity_secret, user_id)``: a wrong hash is refused, and an unverified visitor can
never reach a verified customer's history (their ids live in different namespaces, and only the
hash opens the verified one). The customer link is a page for one customer, behind an
unguessable token a member can revoke: revoking (or renewing) it also ends a chat open on it.

Both pages talk over one WebSocket each way: the server pushes new messages, the page sends
``{"type": "message", "text", "client_id"}`` and gets ``{"type": "ack", "message"}`` or
``{"type": "error", "detail"}`` back; the HTTP POST stays as the fallback. Both go through
:func:`receive_message`, so the rules and the idempotency key are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketState

from madoguchi.channels import service as channels
from madoguchi.channels.models import Channel, ChannelKind, VisitorSession
from madoguchi.connectors.inbound import Inbound, load_channel
from madoguchi.connectors.intake import Intake, intake_of
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import MAX_TEXT_LENGTH, Conversation, Message, MessageKind
from madoguchi.events.types import ContactUpdated
from madoguchi.files import service as files
from madoguchi.kit import jsonsafe
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
)
from madoguchi.kit.security import new_secret, secret_hash
from madoguchi.kit.web import CtxDep, Runtime, describe_invalid, reads_only, runtime_of
from madoguchi.members.dependencies import MemberDep
from madoguchi.workspace import service as workspace

WIDGET_JS = Path(__file__).resolve().parent.parent / "static" / "widget" / "widget.js"
VISITOR = "visitor:"
VERIFIED = "user:"
HISTORY_LIMIT = 200


# --- who is chatting --------------------------------------------------------------------------


def identity_hash(secret: str, user_id: str) -> str:
    """What the site computes on its server: hex HMAC-SHA256 of the user id."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _token_for(key: bytes, channel_id: int, external_id: str) -> str:
    return channels.visitor_token(key, channel_id, external_id)


def _external_id_of(key: bytes, channel_id: int, token: str) -> str | None:
    found = channels.visitor_of(key, token)
    return found[1] if found is not None and found[0] == channel_id else None


def allowed_origins(channel: Channel) -> set[str]:
    raw = channel.settings.get("allowed_origins") or ""
    items = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
    return {str(item).rstrip("/") for item in items if item}


def _origin_allowed(channel: Channel, origin: str | None, own: str) -> bool:
    if origin is None or origin.rstrip("/") == own.rstrip("/"):
        return True
    return origin.rstrip("/") in allowed_origins(channel)


def _check_origin(channel: Channel, origin: str | None, own: str) -> None:
    if not _origin_allowed(channel, origin, own):
        raise Forbidden("This site is not allowed to use this chat.")


def _cors(response: Response, origin: str | None) -> Response:
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Headers"] = "content-type, x-visitor-token"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


async def _may_read_errors(request: Request) -> bool:
    """Whether the page's origin may read this widget endpoint's answer: an allowed origin of
    the enabled web channel in the path (the endpoint may have failed before loading it)."""
    origin = request.headers.get("origin")
    try:
        channel_id = int(request.path_params.get("channel_id", ""))
    except ValueError:
        return False
    runtime = runtime_of(request)
    async with runtime.database.read_sessions() as session:
        channel = await session.get(Channel, channel_id)
        return (
            channel is not None
            and channel.kind == ChannelKind.web
            and channel.enabled
            and _origin_allowed(channel, origin, runtime.settings.base_url)
        )


class WidgetRoute(APIRoute):
    """A widget endpoint, called by a page on the site's origin: every answer to an allowed
    origin carries the CORS headers, errors included, so the page can read why it failed."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_with_cors(request: Request) -> Response:
            origin = request.headers.get("origin")
            try:
                # Succeeding means the endpoint checked the origin.
                return _cors(await handle(request), origin)
            except (DomainError, RequestValidationError, StarletteHTTPException) as error:
                handler = _exception_handler(request, error)
                if handler is None:
                    raise
                response = await handler(request, error)
            return _cors(response, origin if await _may_read_errors(request) else None)

        return handle_with_cors


def _exception_handler(
    request: Request, error: Exception
) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The app's own handler for the error, so the answer reads like every other one."""
    handlers = request.app.exception_handlers
    for kind in type(error).__mro__:
        if kind in handlers:
            handler: Callable[[Request, Exception], Awaitable[Response]] = handlers[kind]
            return handler
    return None


router = APIRouter(tags=["web chat"])
widget_router = APIRouter(tags=["web chat"], route_class=WidgetRoute)


@dataclass(frozen=True)
class Visitor:
    """Who writes in a chat: a widget visitor, or the customer behind a customer link."""

    channel: Channel
    external_id: str
    # Known from the start on a customer link; a new widget visitor has none before writing.
    contact_id: int | None = None

    @property
    def verified(self) -> bool:
        return self.external_id.startswith(VERIFIED)

    def message_key(self, client_id: str | None) -> str | None:
        """The channel message id for a page's client_id: a resent message is stored once."""
        if client_id is None:
            return None
        if self.contact_id is not None:
            return f"link:{self.contact_id}:{client_id}"
        return f"web:{self.external_id}:{client_id}"


async def _web_channel(ctx: Ctx, channel_id: int, origin: str | None) -> Channel:
    channel = await load_channel(ctx, channel_id, ChannelKind.web)
    _check_origin(channel, origin, ctx.settings.base_url)
    return channel


async def _visitor(ctx: Ctx, channel_id: int, token: str | None, origin: str | None) -> Visitor:
    channel = await _web_channel(ctx, channel_id, origin)
    key = await workspace.signing_key(ctx.db)
    external_id = _external_id_of(key, channel.id, token or "")
    if external_id is None:
        raise Unauthorized("The visitor token is not valid: start a new chat session.")
    return Visitor(channel=channel, external_id=external_id)


def _json_for_script(value: dict[str, Any]) -> str:
    """JSON that cannot end the <script> it sits in."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    visitor_token: str | None = Field(default=None, max_length=600)
    user_id: str | None = Field(default=None, min_length=1, max_length=200)
    user_hash: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=100)


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)
    # A random id the page makes per message, so a retried send is stored once.
    client_id: str | None = Field(default=None, min_length=8, max_length=64)


@router.get("/widget/{channel_id}.js", include_in_schema=False)
async def widget_script(channel_id: int, request: Request, ctx: CtxDep) -> Response:
    """The snippet's script: no framework, its own small UI inside a shadow root."""
    channel = await load_channel(ctx, channel_id, ChannelKind.web)
    config = {
        "channelId": channel.id,
        "base": ctx.settings.base_url.rstrip("/"),
        "title": channel.name,
        "maxLength": MAX_TEXT_LENGTH,
    }
    script = WIDGET_JS.read_text(encoding="utf-8").replace(
        "/*MADOGUCHI_CONFIG*/ null", _json_for_script(config)
    )
    return Response(
        script,
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@widget_router.options("/widget/{channel_id}/{path:path}", include_in_schema=False)
async def preflight(channel_id: int, path: str, request: Request, ctx: CtxDep) -> Response:
    await _web_channel(ctx, channel_id, request.headers.get("origin"))
    return Response(status_code=204)


@widget_router.post("/widget/{channel_id}/session")
async def start_session(
    channel_id: int, body: SessionIn, request: Request, ctx: CtxDep
) -> JSONResponse:
    """A visitor's token: the one they bring back if still valid, a verified customer's when
    ``user_id`` comes with the right ``user_hash``, else a new anonymous one."""
    origin = request.headers.get("origin")
    channel = await _web_channel(ctx, channel_id, origin)
    key = await workspace.signing_key(ctx.db)
    if body.user_id is not None:
        secret = str(channel.settings.get("identity_secret") or "")
        expected = identity_hash(secret, body.user_id) if secret else ""
        if not secret or not hmac.compare_digest(expected, (body.user_hash or "").lower()):
            raise Unauthorized("The user_hash does not match the user_id.")
        external_id = VERIFIED + body.user_id
    else:
        known = _external_id_of(key, channel.id, body.visitor_token or "")
        # A token of a verified customer opens nothing without the hash above.
        if known is not None and known.startswith(VISITOR):
            external_id = known
        else:
            external_id = VISITOR + secrets.token_urlsafe(18)
    await ctx.db.commit()
    payload = {
        "visitor_token": _token_for(key, channel.id, external_id),
        "verified": external_id.startswith(VERIFIED),
    }
    return JSONResponse(payload)


async def _contact(db: AsyncSession, visitor: Visitor) -> Contact | None:
    return await contacts.find_contact_by_channel(
        db, channel_id=visitor.channel.id, external_id=visitor.external_id
    )


async def history(
    ctx: Ctx, contact: Contact | None, *, channel_id: int, after: int | None = None
) -> list[dict[str, Any]]:
    """What the customer sees: their messages and the replies (never notes or system lines)."""
    if contact is None:
        return []
    query = (
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            # A merged contact (F43): only what was said on this identity's channel.
            Conversation.contact_id == (contact.merged_into_id or contact.id),
            Conversation.channel_id == channel_id,
            Message.kind.in_([MessageKind.inbound, MessageKind.reply]),
        )
    )
    if after is not None:
        query = query.where(Message.id > after)
    rows = list(await ctx.db.scalars(query.order_by(Message.id.desc()).limit(HISTORY_LIMIT)))
    rows.reverse()
    images = await files.message_images(ctx.db, [m.id for m in rows])
    result = []
    for message in rows:
        urls = [
            await files.public_urls(ctx.db, ctx.settings.base_url, i) for i in images[message.id]
        ]
        result.append(
            {
                "id": message.id,
                "from": "customer" if message.kind == MessageKind.inbound else "staff",
                "text": message.text,
                "images": [{"url": url, "thumbnail_url": thumb} for url, thumb in urls],
                "at": message.created_at.isoformat(),
            }
        )
    return result


@widget_router.get("/widget/{channel_id}/messages")
async def widget_messages(
    channel_id: int,
    request: Request,
    ctx: CtxDep,
    after: int | None = None,
    x_visitor_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    visitor = await _visitor(ctx, channel_id, x_visitor_token, request.headers.get("origin"))
    items = await history(
        ctx, await _contact(ctx.db, visitor), channel_id=visitor.channel.id, after=after
    )
    return JSONResponse({"items": items})


async def receive_message(
    intake: Intake, visitor: Visitor, body: MessageIn
) -> tuple[dict[str, Any], bool]:
    """The visitor writes (by POST or over the WebSocket): stored like any customer message,
    once for a resent client_id, with the other messages arriving meanwhile (the process's
    intake). Returns what the page shows and whether it is new."""
    ingested = await intake.receive(
        Inbound(
            channel_id=visitor.channel.id,
            # A customer link writes through the contact's own channel, of whatever kind.
            kind=visitor.channel.kind,
            sender=visitor.external_id,
            message_id=visitor.message_key(body.client_id),
            text=body.text,
            exact=True,
        ),
    )
    stored = {"id": ingested.message.id, "text": ingested.message.text, "from": "customer"}
    return stored, ingested.created


@widget_router.post(
    "/widget/{channel_id}/messages",
    status_code=201,
    responses={200: {"description": "Already stored (same client_id): the stored message."}},
)
@reads_only
async def widget_send(
    channel_id: int,
    body: MessageIn,
    request: Request,
    ctx: CtxDep,
    x_visitor_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """The visitor writes: stored like any customer message (once, for a retried client_id)."""
    visitor = await _visitor(ctx, channel_id, x_visitor_token, request.headers.get("origin"))
    stored, created = await receive_message(intake_of(request), visitor, body)
    return JSONResponse(stored, status_code=201 if created else 200)


Resolve = Callable[[Ctx], Awaitable[Visitor]]
# What ends a chat: a bad token, a refused origin, a revoked link, a disabled channel.
GONE = (Unauthorized, Forbidden, NotFound)


@router.websocket("/widget/{channel_id}/ws")
async def widget_live(websocket: WebSocket, channel_id: int, token: str = "") -> None:
    """The visitor's chat, live both ways."""
    origin = websocket.headers.get("origin")

    async def resolve(ctx: Ctx) -> Visitor:
        return await _visitor(ctx, channel_id, token, origin)

    await _stream(websocket, resolve)


class _Closed(Exception):
    """The chat may not go on (its link was revoked, say): close the socket."""


async def _take_frame(
    runtime: Runtime, intake: Intake, resolve: Resolve, raw: str | None
) -> dict[str, Any]:
    """The answer to one frame from the page: an ack with the stored message, or an error."""
    if raw is None:
        return {"type": "error", "client_id": None, "detail": "Send text frames of JSON."}
    try:
        frame = jsonsafe.loads(raw)
    except ValueError:
        return {"type": "error", "client_id": None, "detail": "The frame is not valid JSON."}
    if not isinstance(frame, dict) or frame.get("type") != "message":
        detail = 'Send {"type": "message", "text": "…", "client_id": "…"}.'
        return {"type": "error", "client_id": None, "detail": detail}
    client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
    try:
        body = MessageIn.model_validate({k: v for k, v in frame.items() if k != "type"})
    except ValidationError as error:
        return {"type": "error", "client_id": client_id, "detail": describe_invalid(error.errors())}
    # Only read here: the intake's writer stores the message (on SQLite this session holding the
    # write lock while it waited would wait for itself).
    async with runtime.database.read_sessions() as session:
        ctx = Ctx(db=session, bus=runtime.bus, settings=runtime.settings)
        try:
            visitor = await resolve(ctx)
        except GONE as error:
            raise _Closed(str(error)) from error
    try:
        stored, created = await receive_message(intake, visitor, body)
    except DomainError as error:
        return {"type": "error", "client_id": client_id, "detail": str(error)}
    return {"type": "ack", "client_id": client_id, "created": created, "message": stored}


async def _stream(websocket: WebSocket, resolve: Resolve) -> None:
    """Push the chat's new messages to the page and take the page's own; re-check who may
    chat on every event of theirs, so a revoked link or a disabled channel ends the chat."""
    runtime = runtime_of(websocket)

    def ctx_for(session: AsyncSession) -> Ctx:
        return Ctx(db=session, bus=runtime.bus, settings=runtime.settings)

    async with runtime.database.read_sessions() as session:
        try:
            visitor = await resolve(ctx_for(session))
        except GONE:
            await websocket.close(code=1008)
            return
    await websocket.accept()
    sending = asyncio.Lock()

    async def send(frame: dict[str, Any]) -> None:
        async with sending:
            if websocket.application_state == WebSocketState.CONNECTED:
                await websocket.send_json(frame)

    async def close(code: int, reason: str = "") -> None:
        async with sending:
            if websocket.application_state == WebSocketState.CONNECTED:
                await websocket.close(code=code, reason=reason)

    async with runtime.bus.subscribe() as subscription:
        await send({"type": "ready"})
        wanted = visitor.contact_id

        async def ended(session: AsyncSession) -> bool:
            """Whether the chat may not go on (a revoked link, a channel turned off, a site no
            longer allowed): then the socket is closed."""
            try:
                await resolve(ctx_for(session))
            except GONE as error:
                await close(1008, str(error))
                return True
            return False

        async def forward() -> None:
            nonlocal wanted
            async for event in subscription:
                if event.member_id is not None or event.type not in (
                    "message.created",
                    "contact.updated",
                    "channel.updated",
                ):
                    continue
                if event.type == "channel.updated":
                    # Turned off, or this site no longer allowed: the chat ends now.
                    if event.data.get("channel_id") != visitor.channel.id:
                        continue
                    async with runtime.database.read_sessions() as session:
                        if await ended(session):
                            return
                    continue
                async with runtime.database.read_sessions() as session:
                    if wanted is None:
                        # A new visitor's contact exists from their first message on.
                        found = await contacts.find_contact_by_channel(
                            session, channel_id=visitor.channel.id, external_id=visitor.external_id
                        )
                        wanted = found.id if found else None
                    if wanted is None or event.data.get("contact_id") != wanted:
                        continue
                    if await ended(session):
                        return
                    if event.type != "message.created":
                        continue
                    contact = await session.get(Contact, wanted)
                    message_id = int(event.data.get("message_id", 0))
                    items = await history(
                        ctx_for(session),
                        contact,
                        channel_id=visitor.channel.id,
                        after=message_id - 1,
                    )
                for item in items:
                    if item["id"] == message_id:
                        await send({"type": "message", "message": item})
            # The bus dropped us (too slow, or shutting down): the page reconnects.
            await close(1013)

        sender = asyncio.create_task(forward())
        try:
            while True:
                received = await websocket.receive()
                if received["type"] == "websocket.disconnect":
                    break
                try:
                    answer = await _take_frame(
                        runtime, intake_of(websocket), resolve, received.get("text")
                    )
                    await send(answer)
                except _Closed as closed:
                    await send({"type": "error", "client_id": None, "detail": str(closed)})
                    await close(1008, str(closed))
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender


# --- the customer link (顧客用リンク) ----------------------------------------------------------


async def create_customer_link(ctx: Ctx, *, contact_id: int) -> str:
    """A new customer link for the contact (their earlier links stop working); the token is
    shown once and only its hash kept."""
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    if contact.channel_id is None:
        raise Invalid("This contact has no channel to chat on yet.")
    channel = await ctx.db.get(Channel, contact.channel_id)
    if channel is None or not channel.enabled:
        raise Conflict("This contact's channel is turned off or deleted: no chat link can be made.")
    await _revoke(ctx, contact_id)
    token = new_secret()
    ctx.db.add(
        VisitorSession(
            channel_id=contact.channel_id,
            contact_id=contact.id,
            kind="link",
            token_hash=secret_hash(token),
            created_at=ctx.now(),
        )
    )
    await ctx.commit(ContactUpdated(contact_id=contact.id, part="link"))
    return f"{ctx.settings.base_url.rstrip('/')}/chat/{token}"


async def _revoke(ctx: Ctx, contact_id: int) -> None:
    await ctx.db.execute(
        update(VisitorSession)
        .where(
            VisitorSession.contact_id == contact_id,
            VisitorSession.kind == "link",
            VisitorSession.revoked_at.is_(None),
        )
        .values(revoked_at=ctx.now())
    )


async def customer_link_issued_at(db: AsyncSession, *, contact_id: int) -> datetime | None:
    """When the contact's working customer link was made (None: there is none). Only its hash
    is kept, so the link itself cannot be shown again."""
    issued: datetime | None = await db.scalar(
        select(func.max(VisitorSession.created_at)).where(
            VisitorSession.contact_id == contact_id,
            VisitorSession.kind == "link",
            VisitorSession.revoked_at.is_(None),
        )
    )
    return issued


async def revoke_customer_link(ctx: Ctx, *, contact_id: int) -> None:
    await contacts.get_contact(ctx.db, contact_id=contact_id)
    await _revoke(ctx, contact_id)
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="link"))


async def _linked_contact(db: AsyncSession, token: str) -> Contact:
    contact = await channels.linked_contact(db, token)
    if contact is None:
        raise NotFound("This chat link is not valid any more.")
    return contact


async def _open_link(db: AsyncSession, token: str) -> tuple[Contact, Visitor]:
    """The contact behind a customer link, as the visitor who writes through it: nobody once
    its channel is turned off or deleted (nothing comes in or goes out through such a channel)."""
    contact = await _linked_contact(db, token)
    channel = await db.get(Channel, contact.channel_id) if contact.channel_id else None
    if channel is None or not channel.enabled or contact.external_id is None:
        raise NotFound("This chat link is not valid any more.")
    # A contact merged into another (F43) chats as that one: its messages and events are there.
    kept_id = contact.merged_into_id or contact.id
    return contact, Visitor(channel=channel, external_id=contact.external_id, contact_id=kept_id)


async def _link_visitor(db: AsyncSession, token: str) -> Visitor:
    return (await _open_link(db, token))[1]


class LinkOut(BaseModel):
    url: str


@router.post("/api/v1/contacts/{contact_id}/customer-link", response_model=LinkOut, status_code=201)
async def new_link(contact_id: int, _member: MemberDep, ctx: CtxDep) -> LinkOut:
    """顧客用リンク: the customer's own chat page. Earlier links for them stop working."""
    return LinkOut(url=await create_customer_link(ctx, contact_id=contact_id))


@router.delete("/api/v1/contacts/{contact_id}/customer-link", status_code=204)
async def revoke_link(contact_id: int, _member: MemberDep, ctx: CtxDep) -> Response:
    await revoke_customer_link(ctx, contact_id=contact_id)
    return Response(status_code=204)


@router.get("/chat/{token}", include_in_schema=False)
async def chat_page(token: str, ctx: CtxDep) -> HTMLResponse:
    """The customer's own chat, as a full page."""
    channel = (await _link_visitor(ctx.db, token)).channel
    config = {
        "link": token,
        "base": "",
        "title": channel.name,
        "fullPage": True,
        "maxLength": MAX_TEXT_LENGTH,
    }
    page = CHAT_PAGE.replace("__CONFIG__", _json_for_script(config))
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
            "connect-src 'self' ws: wss:; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


CHAT_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>チャット</title>
<script id="madoguchi-config" type="application/json">__CONFIG__</script>
<script src="/static/widget/widget.js" defer></script>
</head><body style="margin:0;background:#f5f6f8"></body></html>
"""


@router.get("/chat/{token}/messages", include_in_schema=False)
async def link_messages(token: str, ctx: CtxDep, after: int | None = None) -> JSONResponse:
    contact, visitor = await _open_link(ctx.db, token)
    items = await history(ctx, contact, channel_id=visitor.channel.id, after=after)
    return JSONResponse({"items": items})


@router.post("/chat/{token}/messages", status_code=201, include_in_schema=False)
@reads_only
async def link_send(token: str, body: MessageIn, request: Request, ctx: CtxDep) -> JSONResponse:
    visitor = await _link_visitor(ctx.db, token)
    stored, created = await receive_message(intake_of(request), visitor, body)
    return JSONResponse(stored, status_code=201 if created else 200)


@router.websocket("/chat/{token}/ws")
async def link_live(websocket: WebSocket, token: str) -> None:
    """The customer's own chat, live both ways, for as long as the link works."""

    async def resolve(ctx: Ctx) -> Visitor:
        return await _link_visitor(ctx.db, token)

    await _stream(websocket, resolve)


router.include_router(widget_router)
