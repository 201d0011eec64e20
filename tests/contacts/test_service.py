"""Deleting a customer (conversations.workflow.delete_contact): owners and admins only, with an
audit entry naming who did it."""

from __future__ import annotations

import pytest

from madoguchi.audit import service as audit
from madoguchi.contacts import service as contacts
from madoguchi.conversations import workflow
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Forbidden, NotFound
from tests.conftest import RecordingBus
from tests.fixtures import Factory


async def test_an_agent_cannot_delete_a_customer(ctx: Ctx, factory: Factory) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="c-1")
    contact_id = ingested.conversation.contact_id
    agent = await factory.member(role="agent")

    with pytest.raises(Forbidden):
        await workflow.delete_contact(ctx, contact_id=contact_id, actor=agent)
    await ctx.db.rollback()
    assert (await contacts.get_contact(ctx.db, contact_id=contact_id)).id == contact_id
    assert await contacts.conversation_ids(ctx.db, contact_id=contact_id) == [
        ingested.conversation.id
    ]
    assert "contact.deleted" not in [e.action for e in await audit.list_entries(ctx.db)]


@pytest.mark.parametrize("role", ["owner", "admin"])
async def test_owners_and_admins_delete_a_customer_with_their_name_in_the_audit(
    ctx: Ctx, factory: Factory, role: str
) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="c-1", name="山田 花子")
    contact_id = ingested.conversation.contact_id
    manager = await factory.member(role=role, name="店長")
    assert isinstance(ctx.bus, RecordingBus)
    ctx.bus.published.clear()

    await workflow.delete_contact(ctx, contact_id=contact_id, actor=manager)
    assert ctx.bus.types() == ["contact.deleted", "conversation.deleted"]
    with pytest.raises(NotFound):
        await contacts.get_contact(ctx.db, contact_id=contact_id)
    [entry] = [e for e in await audit.list_entries(ctx.db) if e.action == "contact.deleted"]
    assert (entry.action, entry.member_id, entry.member_name) == (
        "contact.deleted",
        manager.id,
        "店長",
    )
    assert entry.detail["display_name"] == "山田 花子"


async def test_an_id_past_the_databases_range_is_no_customer(ctx: Ctx) -> None:
    with pytest.raises(NotFound):
        await contacts.get_contact(ctx.db, contact_id=99999999999999999999)
