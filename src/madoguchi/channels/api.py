"""``/api/v1/channels``, and the API channel's inbound endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from madoguchi.channels import outbox, service
from madoguchi.channels.models import ChannelKind
from madoguchi.channels.schemas import (
    ChannelCreate,
    ChannelList,
    ChannelOut,
    ChannelUpdate,
    InboundMessage,
)
from madoguchi.connectors import inbound as inbound_messages
from madoguchi.connectors.intake import intake_of
from madoguchi.conversations.schemas import MessageOut
from madoguchi.files import service as files
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import CallerDep, MemberDep, TokenCaller
from madoguchi.members.service import ensure_manager

router = APIRouter(prefix="/api/v1", tags=["channels"])


@router.get("/channels", response_model=ChannelList)
async def list_channels(
    _member: MemberDep,
    ctx: CtxDep,
    removed: bool = Query(
        default=False, description="The deleted channels instead, whose conversations are kept."
    ),
) -> ChannelList:
    """Channels with their secrets masked."""
    base = ctx.settings.base_url
    channels = await service.list_channels(ctx.db, removed=removed)
    return ChannelList(items=[ChannelOut.of(c, base) for c in channels])


@router.post("/channels", response_model=ChannelOut, status_code=201)
async def create_channel(body: ChannelCreate, member: MemberDep, ctx: CtxDep) -> ChannelOut:
    ensure_manager(member)
    channel = await service.create_channel(
        ctx, kind=body.kind, name=body.name, settings=body.settings, actor=member
    )
    return ChannelOut.of(channel, ctx.settings.base_url)


@router.patch("/channels/{channel_id}", response_model=ChannelOut)
async def update_channel(
    channel_id: int, body: ChannelUpdate, member: MemberDep, ctx: CtxDep
) -> ChannelOut:
    """Rename, change settings (a secret sent back as ``********`` is kept), or disable."""
    ensure_manager(member)
    channel = await service.update_channel(
        ctx,
        channel_id=channel_id,
        name=body.name,
        settings=body.settings,
        enabled=body.enabled,
        actor=member,
    )
    return ChannelOut.of(channel, ctx.settings.base_url)


@router.delete("/channels/{channel_id}", status_code=204)
async def remove_channel(channel_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete a channel: nothing comes in or goes out through it any more and its settings are
    forgotten; its conversations are kept, to be read (a reply in them answers 409). To stop
    it for a while instead, ``PATCH`` it with ``{"enabled": false}``."""
    ensure_manager(member)
    await service.remove_channel(ctx, channel_id=channel_id, actor=member)
    return Response(status_code=204)


@router.post(
    "/channels/{channel_id}/inbound",
    response_model=MessageOut,
    status_code=201,
    responses={200: {"description": "Already stored (same external_id): the stored message."}},
)
async def inbound(
    channel_id: int,
    body: InboundMessage,
    request: Request,
    response: Response,
    caller: CallerDep,
) -> MessageOut:
    """The generic API channel: a customer's message from an integration.

    201 when stored; 200 with the stored message when this ``external_id`` came before.
    The answer comes only after the message is committed (with those of other requests
    arriving meanwhile: ``connectors.intake``, which also checks the token and the channel,
    once for all of them: this request opens no session of its own).
    """
    ingested = await intake_of(request).receive(
        inbound_messages.Inbound(
            channel_id=channel_id,
            kind=ChannelKind.api,
            sender=body.contact.external_id,
            name=body.contact.name,
            message_id=body.external_id,
            text=body.text,
            exact=True,
        ),
        caller=caller if isinstance(caller, TokenCaller) else None,
    )
    if not ingested.created:
        response.status_code = 200
    return MessageOut.model_validate(ingested.message)


@router.post("/messages/{message_id}/resend", response_model=MessageOut, tags=["conversations"])
async def resend(message_id: int, _member: MemberDep, ctx: CtxDep) -> MessageOut:
    """再送: send a reply that failed again (it goes back to the outbox)."""
    message = await outbox.resend(ctx, message_id=message_id)
    images = await files.message_images(ctx.db, [message.id])
    return MessageOut.of(message, images[message.id])
