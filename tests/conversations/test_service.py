"""Conversation rules, through the service functions every face calls."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from madoguchi.conversations import repository, service
from madoguchi.conversations.models import ConversationState, ConversationUnread
from madoguchi.conversations.repository import InboxQuery, View
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, NotFound
from tests.conftest import RecordingBus
from tests.fixtures import Factory


async def test_inbound_publishes_after_commit_and_counts_unread_per_member(
    ctx: Ctx, factory: Factory
) -> None:
    alice, bob = await factory.member(), await factory.member()
    channel = await factory.channel()
    assert isinstance(ctx.bus, RecordingBus)
    ctx.bus.published.clear()

    first = await factory.inbound(channel, text="はじめまして", external_id="1")
    await factory.inbound(channel, text="予約できますか", external_id="2")
    assert ctx.bus.types() == ["message.created", "conversation.updated"] * 2
    assert ctx.bus.published[0].data == {
        "conversation_id": first.conversation.id,
        "contact_id": first.conversation.contact_id,
        "message_id": first.message.id,
        "kind": "inbound",
        "assignee_id": None,
    }
    rows = list(
        await ctx.db.scalars(select(ConversationUnread).order_by(ConversationUnread.member_id))
    )
    assert [(r.member_id, r.count) for r in rows] == [(alice.id, 2), (bob.id, 2)]
    assert first.conversation.last_message_preview == "予約できますか"


async def test_customer_message_reopens_a_closed_or_snoozed_conversation(
    ctx: Ctx, factory: Factory
) -> None:
    channel = await factory.channel()
    first = await factory.inbound(channel)
    for state in (ConversationState.closed, ConversationState.snoozed):
        first.conversation.state = state
        await ctx.db.commit()
        again = await factory.inbound(channel, text="もう一度")
        assert again.conversation.id == first.conversation.id
        assert again.conversation.state == ConversationState.open
        assert again.conversation.snooze_until is None


async def test_channel_name_change_is_followed_unless_renamed(ctx: Ctx, factory: Factory) -> None:
    from madoguchi.contacts import service as contacts

    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="u1", name="misaki")
    contact_id = ingested.conversation.contact_id
    await factory.inbound(channel, contact="u1", name="misaki_new")
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    assert (contact.channel_name, contact.display_name) == ("misaki_new", "misaki_new")

    await contacts.rename_contact(ctx, contact_id=contact_id, display_name="【彩】美咲")
    await factory.inbound(channel, contact="u1", name="misaki_2026")
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    assert (contact.channel_name, contact.display_name) == ("misaki_2026", "【彩】美咲")


async def test_contact_without_a_name_is_named_by_its_id(ctx: Ctx, factory: Factory) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(channel, contact="U4af4980629", name=None)
    page = await repository.list_conversations(
        ctx.db, member_id=0, query=InboxQuery(q="U4af4980629")
    )
    assert [c.id for c in page.conversations] == [ingested.conversation.id]


async def test_reply_clears_only_the_senders_unread(ctx: Ctx, factory: Factory) -> None:
    await factory.unread_per_member()
    alice, bob = await factory.member(), await factory.member()
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    await service.send_message(
        ctx,
        conversation_id=ingested.conversation.id,
        member=alice,
        text="承知しました",
        kind="reply",
    )
    unread = await repository.list_conversations(
        ctx.db, member_id=bob.id, query=InboxQuery(view=View.unread)
    )
    assert len(unread.conversations) == 1
    alice_unread = await repository.list_conversations(
        ctx.db, member_id=alice.id, query=InboxQuery(view=View.unread)
    )
    assert alice_unread.conversations == []


async def test_note_does_not_clear_unread(ctx: Ctx, factory: Factory) -> None:
    alice = await factory.member()
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    await service.send_message(
        ctx, conversation_id=ingested.conversation.id, member=alice, text="確認中", kind="note"
    )
    assert await repository.unread_total(ctx.db, member_id=alice.id) == 1


async def test_mark_unread_twice_keeps_one_row_and_read_is_idempotent(
    ctx: Ctx, factory: Factory
) -> None:
    alice = await factory.member()
    channel = await factory.channel()
    ingested = await factory.inbound(channel)
    conversation_id = ingested.conversation.id
    await service.mark_read(ctx, conversation_id=conversation_id, member=alice)
    await service.mark_read(ctx, conversation_id=conversation_id, member=alice)
    assert await repository.unread_total(ctx.db, member_id=alice.id) == 0
    await service.mark_unread(ctx, conversation_id=conversation_id, member=alice)
    await service.mark_unread(ctx, conversation_id=conversation_id, member=alice)
    assert await repository.unread_total(ctx.db, member_id=alice.id) == 1


async def test_bad_messages_are_refused_and_store_nothing(ctx: Ctx, factory: Factory) -> None:
    alice = await factory.member()
    channel = await factory.channel()
    with pytest.raises(Invalid):
        await factory.inbound(channel, text=" \n ")
    with pytest.raises(Invalid):
        await factory.inbound(channel, text="あ" * 5001)
    with pytest.raises(Invalid):
        await factory.inbound(channel, external_id="x" * 256)
    with pytest.raises(NotFound):
        await service.send_message(ctx, conversation_id=99, member=alice, text="x", kind="reply")
    ingested = await factory.inbound(channel)
    with pytest.raises(Invalid):
        await service.send_message(
            ctx, conversation_id=ingested.conversation.id, member=alice, text="x", kind="inbound"
        )
    messages = await service.list_messages(ctx.db, conversation_id=ingested.conversation.id)
    assert len(messages) == 1


async def test_reply_on_a_channel_without_its_adapter_waits_as_pending(
    ctx: Ctx, factory: Factory
) -> None:
    alice = await factory.member()
    line = await factory.channel(kind="line", name="LINE")
    ingested = await factory.inbound(line)
    reply = await service.send_message(
        ctx, conversation_id=ingested.conversation.id, member=alice, text="はい", kind="reply"
    )
    assert reply.delivery == "pending"


async def test_in_view_follows_the_view_and_the_filters(ctx: Ctx, factory: Factory) -> None:
    alice = await factory.member()
    channel = await factory.channel()
    ingested = await factory.inbound(channel, text="パーマの相談")
    conversation_id = ingested.conversation.id

    async def check(query: InboxQuery) -> bool:
        return await repository.in_view(
            ctx.db, member_id=alice.id, query=query, conversation_id=conversation_id
        )

    assert await check(InboxQuery(view=View.unread))
    assert await check(InboxQuery(q="パーマ"))
    assert not await check(InboxQuery(q="カラー"))
    await service.mark_read(ctx, conversation_id=conversation_id, member=alice)
    assert not await check(InboxQuery(view=View.unread))
    assert await check(InboxQuery(view=View.all))
    assert not await check(InboxQuery(view=View.hidden))


async def test_a_mention_inside_a_web_address_names_nobody(factory: Factory) -> None:
    from madoguchi.conversations.service import mentioned_members

    aya = await factory.member(name="aya")
    mika = await factory.member(name="美香")
    assert mentioned_members("見て https://x.example/@aya?ref=@美香 です", [aya, mika]) == []
    found = mentioned_members("@美香 さん https://x.example/@aya を確認して", [aya, mika])
    assert found == [mika]
