"""The audit tests' world: an owner (店長) with a token, and a conversation with 山田 花子."""

from __future__ import annotations

import httpx
import pytest

from madoguchi.kit.context import Ctx
from tests.audit.test_entries import World
from tests.fixtures import Factory, auth


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory, ctx: Ctx) -> World:
    owner = await factory.member(role="owner", name="店長")
    headers = auth(await factory.token(owner))
    ingested = await factory.inbound(await factory.channel(), contact="c-1", name="山田 花子")
    contact_id, conversation_id = ingested.conversation.contact_id, ingested.conversation.id
    await ctx.db.rollback()
    return World(client, factory, ctx, owner, headers, contact_id, conversation_id)
