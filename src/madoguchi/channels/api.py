"""``/api/v1/channels``, and the API channel's inbound endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Response

from madoguchi.channels import service
from madoguchi.channels.models import ChannelKind
from madoguchi.channels.schemas import ChannelCreate, ChannelList, ChannelOut, InboundMessage
from madoguchi.conversations import service as conversations
from madoguchi.conversations.schemas import MessageOut
from madoguchi.kit.errors import Forbidden, Invalid
from madoguchi.kit.web import CtxDep, MemberDep
from madoguchi.members.models import Role

router = APIRouter(prefix="/api/v1/channels", tags=["channels"])


@router.get("", response_model=ChannelList)
async def list_channels(_member: MemberDep, ctx: CtxDep) -> ChannelList:
    """Channels with their secrets masked."""
    return ChannelList(items=[ChannelOut.of(c) for c in await service.list_channels(ctx.db)])


@router.post("", response_model=ChannelOut, status_code=201)
async def create_channel(body: ChannelCreate, member: MemberDep, ctx: CtxDep) -> ChannelOut:
    if member.role == Role.agent:
        raise Forbidden("Only owners and admins add channels.")
    channel = await service.create_channel(
        ctx, kind=body.kind, name=body.name, settings=body.settings
    )
    return ChannelOut.of(channel)


@router.post(
    "/{channel_id}/inbound",
    response_model=MessageOut,
    status_code=201,
    responses={200: {"description": "Already stored (same external_id): the stored message."}},
)
async def inbound(
    channel_id: int, body: InboundMessage, response: Response, _member: MemberDep, ctx: CtxDep
) -> MessageOut:
    """The generic API channel: a customer's message from an integration.

    201 when stored; 200 with the stored message when this ``external_id`` came before.
    The answer comes only after the message is committed.
    """
    channel = await service.get_channel(ctx.db, channel_id=channel_id)
    if channel.kind != ChannelKind.api:
        raise Invalid("Channel %(id)s is not an API channel.", id=channel_id)
    if not channel.enabled:
        raise Invalid("Channel %(id)s is disabled.", id=channel_id)
    ingested = await conversations.ingest_inbound(
        ctx,
        channel=channel,
        contact_external_id=body.contact.external_id,
        contact_name=body.contact.name,
        text=body.text,
        external_id=body.external_id,
    )
    if not ingested.created:
        response.status_code = 200
    return MessageOut.model_validate(ingested.message)
