"""The web chat (F33) and the customer link (F15).

A site owner pastes ``<script src="…/widget/{id}.js" async></script>``; visitors chat in real
time. A visitor is known by a signed token kept in their browser (returning visitors keep their
history). A site can vouch for a logged-in customer by giving ``user_id`` with
``HMAC-SHA256(identity_secret, user_id)``: a wrong hash is refused, and an unverified visitor can
never reach a verified customer's history (their ids live in different namespaces, and only the
hash opens the verified one). The customer link is a page for one customer, behind an
unguessable token a member can revoke.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.channels.models import Channel, ChannelKind, VisitorSession
from madoguchi.channels.webhooks import load_channel
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import MAX_TEXT_LENGTH, Conversation, Message, MessageKind
from madoguchi.events import Event
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Forbidden, Invalid, NotFound, Unauthorized
from madoguchi.kit.security import new_secret, secret_hash
from madoguchi.kit.web import CtxDep, MemberDep, runtime_of
from madoguchi.workspace import service as workspace

router = APIRouter(tags=["web chat"])
WIDGET_JS = Path(__file__).resolve().parent.parent / "static" / "widget" / "widget.js"
VISITOR = "visitor:"
VERIFIED = "user:"
HISTORY_LIMIT = 200


# --- who is chatting --------------------------------------------------------------------------


def identity_hash(secret: str, user_id: str) -> str:
    """What the site computes on its server: hex HMAC-SHA256 of the user id."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _token_for(key: bytes, channel_id: int, external_id: str) -> str:
    payload = f"{channel_id}|{external_id}"
    return payload.replace("|", ".", 1) + "." + workspace.sign(key, "visitor:" + payload)


def _external_id_of(key: bytes, channel_id: int, token: str) -> str | None:
    prefix, _, rest = token.partition(".")
    external_id, _, signature = rest.rpartition(".")
    if prefix != str(channel_id) or not external_id:
        return None
    payload = f"{channel_id}|{external_id}"
    return external_id if workspace.verify(key, "visitor:" + payload, signature) else None


def allowed_origins(channel: Channel) -> set[str]:
    raw = channel.settings.get("allowed_origins") or ""
    items = raw if isinstance(raw, list) else str(raw).replace(",", " ").split()
    return {str(item).rstrip("/") for item in items if item}


def _check_origin(channel: Channel, origin: str | None, own: str) -> None:
    if origin is None or origin.rstrip("/") == own.rstrip("/"):
        return
    if origin.rstrip("/") not in allowed_origins(channel):
        raise Forbidden("This site is not allowed to use this chat.")


def _cors(response: Response, origin: str | None) -> Response:
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Headers"] = "content-type, x-visitor-token"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@dataclass(frozen=True)
class Visitor:
    channel: Channel
    external_id: str

    @property
    def verified(self) -> bool:
        return self.external_id.startswith(VERIFIED)


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
    }
    script = WIDGET_JS.read_text(encoding="utf-8").replace(
        "/*MADOGUCHI_CONFIG*/ null", _json_for_script(config)
    )
    return Response(
        script,
        media_type="application/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.options("/widget/{channel_id}/{path:path}", include_in_schema=False)
async def preflight(channel_id: int, path: str, request: Request, ctx: CtxDep) -> Response:
    origin = request.headers.get("origin")
    await _web_channel(ctx, channel_id, origin)
    return _cors(Response(status_code=204), origin)


@router.post("/widget/{channel_id}/session")
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
    return _cors(JSONResponse(payload), origin)  # type: ignore[return-value]


async def _contact(db: AsyncSession, visitor: Visitor) -> Contact | None:
    return await contacts.find_contact_by_channel(
        db, channel_id=visitor.channel.id, external_id=visitor.external_id
    )


async def history(
    ctx: Ctx, contact: Contact | None, *, after: int | None = None
) -> list[dict[str, Any]]:
    """What the customer sees: their messages and the replies (never notes or system lines)."""
    if contact is None:
        return []
    query = (
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Conversation.contact_id == contact.id,
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


@router.get("/widget/{channel_id}/messages")
async def widget_messages(
    channel_id: int,
    request: Request,
    ctx: CtxDep,
    after: int | None = None,
    x_visitor_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    origin = request.headers.get("origin")
    visitor = await _visitor(ctx, channel_id, x_visitor_token, origin)
    items = await history(ctx, await _contact(ctx.db, visitor), after=after)
    return _cors(JSONResponse({"items": items}), origin)  # type: ignore[return-value]


@router.post("/widget/{channel_id}/messages", status_code=201)
async def widget_send(
    channel_id: int,
    body: MessageIn,
    request: Request,
    ctx: CtxDep,
    x_visitor_token: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    """The visitor writes: stored like any customer message (once, for a retried client_id)."""
    origin = request.headers.get("origin")
    visitor = await _visitor(ctx, channel_id, x_visitor_token, origin)
    ingested = await conversations.ingest_inbound(
        ctx,
        channel=visitor.channel,
        contact_external_id=visitor.external_id,
        contact_name=None,
        text=body.text,
        external_id=f"web:{visitor.external_id}:{body.client_id}" if body.client_id else None,
    )
    response = JSONResponse(
        {"id": ingested.message.id, "text": ingested.message.text, "from": "customer"},
        status_code=201 if ingested.created else 200,
    )
    return _cors(response, origin)  # type: ignore[return-value]


@router.websocket("/widget/{channel_id}/ws")
async def widget_live(websocket: WebSocket, channel_id: int, token: str = "") -> None:
    """New messages for this visitor, pushed as they come."""
    runtime = runtime_of(websocket)
    async with runtime.database.read_sessions() as session:
        ctx = Ctx(db=session, bus=runtime.bus, settings=runtime.settings)
        try:
            visitor = await _visitor(ctx, channel_id, token, websocket.headers.get("origin"))
        except (Unauthorized, Forbidden, NotFound):
            await websocket.close(code=1008)
            return
    await _stream(websocket, visitor.channel.id, visitor.external_id, None)


async def _stream(
    websocket: WebSocket, channel_id: int | None, external_id: str | None, contact_id: int | None
) -> None:
    runtime = runtime_of(websocket)
    await websocket.accept()
    async with runtime.bus.subscribe() as subscription:
        await websocket.send_json({"type": "ready"})

        wanted = contact_id

        async def forward() -> None:
            nonlocal wanted
            async for event in subscription:
                if event.type != "message.created" or event.member_id is not None:
                    continue
                async with runtime.database.read_sessions() as session:
                    if wanted is None and channel_id is not None and external_id is not None:
                        # A new visitor's contact exists from their first message on.
                        found = await contacts.find_contact_by_channel(
                            session, channel_id=channel_id, external_id=external_id
                        )
                        wanted = found.id if found else None
                    if wanted is None or event.data.get("contact_id") != wanted:
                        continue
                    ctx = Ctx(db=session, bus=runtime.bus, settings=runtime.settings)
                    contact = await session.get(Contact, wanted)
                    items = await history(
                        ctx, contact, after=int(event.data.get("message_id", 0)) - 1
                    )
                for item in items:
                    if item["id"] == event.data.get("message_id"):
                        await websocket.send_json({"type": "message", "message": item})

        sender = asyncio.create_task(forward())
        try:
            while True:
                await websocket.receive_text()
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
    await ctx.commit(Event("contact.updated", {"contact_id": contact.id, "part": "link"}))
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
    await ctx.commit(Event("contact.updated", {"contact_id": contact_id, "part": "link"}))


async def _linked_contact(db: AsyncSession, token: str) -> Contact:
    session = await db.scalar(
        select(VisitorSession).where(
            VisitorSession.token_hash == secret_hash(token),
            VisitorSession.kind == "link",
            VisitorSession.revoked_at.is_(None),
        )
    )
    contact = await db.get(Contact, session.contact_id) if session else None
    if contact is None:
        raise NotFound("This chat link is not valid any more.")
    return contact


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
    contact = await _linked_contact(ctx.db, token)
    channel = await ctx.db.get(Channel, contact.channel_id) if contact.channel_id else None
    config = {"link": token, "base": "", "title": channel.name if channel else "", "fullPage": True}
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
    contact = await _linked_contact(ctx.db, token)
    return JSONResponse({"items": await history(ctx, contact, after=after)})


@router.post("/chat/{token}/messages", status_code=201, include_in_schema=False)
async def link_send(token: str, body: MessageIn, ctx: CtxDep) -> JSONResponse:
    contact = await _linked_contact(ctx.db, token)
    channel = await ctx.db.get(Channel, contact.channel_id)
    assert channel is not None and contact.external_id is not None
    ingested = await conversations.ingest_inbound(
        ctx,
        channel=channel,
        contact_external_id=contact.external_id,
        contact_name=None,
        text=body.text,
        external_id=f"link:{contact.id}:{body.client_id}" if body.client_id else None,
    )
    return JSONResponse(
        {"id": ingested.message.id, "text": ingested.message.text, "from": "customer"},
        status_code=201 if ingested.created else 200,
    )


@router.websocket("/chat/{token}/ws")
async def link_live(websocket: WebSocket, token: str) -> None:
    runtime = runtime_of(websocket)
    async with runtime.database.read_sessions() as session:
        try:
            contact = await _linked_contact(session, token)
        except NotFound:
            await websocket.close(code=1008)
            return
    await _stream(websocket, None, None, contact.id)
