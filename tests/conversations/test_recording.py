"""The one writer of messages (conversations.recording): a thread recorded in bulk (as the demo
loader does) leaves exactly what the services leave recording it message by message: the
conversation's place in the list, the activity copies the filtered lists walk, every member's
unread count, the message index and the conversation's search entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from madoguchi import search
from madoguchi.automation import filters
from madoguchi.channels.models import Channel
from madoguchi.connectors import inbound
from madoguchi.contacts.models import Contact
from madoguchi.contacts.reading import suggest
from madoguchi.conversations import recording, repository, workflow
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Conversation, ConversationUnread, Message
from madoguchi.conversations.repository import InboxQuery
from madoguchi.crm import fields, tags
from madoguchi.crm.models import ContactTag, FieldValue
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import reserve_ids
from madoguchi.kit.text import grams_of as search_grams_of
from madoguchi.kit.text import search_key
from madoguchi.members import service as members
from madoguchi.members.models import Member
from madoguchi.search.conversations import names_of
from madoguchi.search.indexes import candidates
from tests.fixtures import Factory, statements_run

START = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
# (kind, text, minutes after START): a thread as the services see it.
THREAD = [
    ("inbound", "カットの予約をしたいです", 0),
    ("reply", "ありがとうございます。ご希望の日時は？", 5),
    ("note", "常連の方です", 6),
    ("inbound", "土曜の午後はどうですか", 30),
    ("inbound", "📷", 31),
]


async def _through_services(
    ctx: Ctx, channel: Channel, member: Member, colleague: Member, tag_id: int
) -> Conversation:
    await _at(ctx, 0)
    ingested = await inbound.receive(
        ctx,
        inbound.Inbound(
            channel_id=channel.id,
            kind=channel.kind,
            sender="one-by-one",
            name="比べる 花子",
            text=THREAD[0][1],
            message_id=None,
        ),
    )
    conversation = ingested.conversation
    await tags.add_tag(ctx, contact_id=conversation.contact_id, tag_id=tag_id)
    await fields.set_value(ctx, contact_id=conversation.contact_id, key="gender", value="女性")
    for kind, body, minutes in THREAD[1:]:
        await _at(ctx, minutes)
        if kind == "inbound":
            await inbound.receive(
                ctx,
                inbound.Inbound(
                    channel_id=channel.id,
                    kind=channel.kind,
                    sender="one-by-one",
                    name="比べる 花子",
                    text=body,
                    message_id=None,
                ),
            )
        else:
            await conversations.send_message(
                ctx, conversation_id=conversation.id, member=member, text=body, kind=kind
            )
        if kind == "reply":  # the colleague has read the thread by then, as the loader assumes
            await conversations.mark_read(ctx, conversation_id=conversation.id, member=colleague)
    # A system line is kept, but it does not move the conversation.
    await _at(ctx, 40)
    await workflow.become_assignee(ctx, conversation_id=conversation.id, actor=member)
    return conversation


async def _at(ctx: Ctx, minutes: int) -> None:
    moment = START + timedelta(minutes=minutes)
    ctx.clock = lambda: moment


async def _in_bulk(ctx: Ctx, channel: Channel, member: Member, tag_id: int) -> Conversation:
    """The same thread, written as the demo loader writes histories."""
    contact = Contact(
        channel_id=channel.id,
        external_id="in-bulk",
        channel_name="比べる 花子",
        display_name="比べる 花子",
        # As the demo loader and the contacts service give them.
        reading=suggest("比べる 花子"),
        search_text=search_key(names_of("比べる 花子", "比べる 花子", suggest("比べる 花子"))),
        created_at=START,
        updated_at=START,
    )
    ctx.db.add(contact)
    await ctx.db.flush()
    ctx.db.add(ContactTag(contact_id=contact.id, tag_id=tag_id, created_at=START))
    gender = await fields.field_by_key(ctx.db, "gender")
    ctx.db.add(
        FieldValue(contact_id=contact.id, field_id=gender.id, value_text="女性", updated_at=START)
    )
    conversation = Conversation(
        contact_id=contact.id,
        channel_id=channel.id,
        last_activity_at=START,
        created_at=START,
    )
    ctx.db.add(conversation)
    await ctx.db.flush()
    top = int(await ctx.db.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0)
    messages = [
        recording.NewMessage(
            id=top + 1 + n,
            conversation_id=conversation.id,
            contact_id=contact.id,
            channel_id=channel.id,
            kind=kind,
            text=body,
            created_at=START + timedelta(minutes=minutes),
            sender_member_id=None if kind == "inbound" else member.id,
            # Replied to at 5: only what came after is unread.
            unread=kind == "inbound" and minutes > 5,
        )
        for n, (kind, body, minutes) in enumerate(THREAD)
    ]
    line = recording.NewMessage(
        id=top + 1 + len(THREAD),
        conversation_id=conversation.id,
        contact_id=contact.id,
        channel_id=channel.id,
        kind="system",
        text="担当者になりました",
        created_at=START + timedelta(minutes=40),
        sender_member_id=member.id,
        meta={"event": "self_assigned", "actor": member.name},
        moves=False,
    )
    await recording.record_many(ctx, [*messages, line])
    await ctx.db.commit()
    return conversation


async def _derived(ctx: Ctx, conversation_id: int) -> dict[str, Any]:
    conversation = await ctx.db.get(Conversation, conversation_id, populate_existing=True)
    assert conversation is not None
    contact = await ctx.db.get(Contact, conversation.contact_id, populate_existing=True)
    assert contact is not None
    entry = await search.conversation_entry(ctx.db, conversation_id)
    assert entry is not None
    unread = sorted(
        (
            await ctx.db.execute(
                select(
                    ConversationUnread.member_id,
                    ConversationUnread.count,
                    ConversationUnread.activity_at,
                ).where(ConversationUnread.conversation_id == conversation_id)
            )
        ).all()
    )
    tag_activity = list(
        await ctx.db.scalars(
            select(ContactTag.activity_at).where(ContactTag.contact_id == contact.id)
        )
    )
    value_activity = list(
        await ctx.db.scalars(
            select(FieldValue.activity_at).where(FieldValue.contact_id == contact.id)
        )
    )
    assert all(at == contact.activity_at for at in value_activity)
    return {
        "last": (
            conversation.last_activity_at,
            conversation.last_inbound_at,
            conversation.last_message_kind,
            conversation.last_message_preview,
        ),
        "contact_activity": contact.activity_at,
        "tag_activity": tag_activity,
        "value_activity": value_activity,
        "unread": unread,
        "seq": entry.seq >> search.ID_BITS,
        "grams": entry.grams,
    }


async def test_a_thread_recorded_in_bulk_leaves_what_the_services_leave(
    ctx: Ctx, factory: Factory
) -> None:
    channel = await factory.channel()
    member = await factory.member(role="owner")
    colleague = await factory.member()
    tag = await tags.create_tag(ctx, actor=None, name="比較")
    await fields.create_field(
        ctx, key="gender", label="性別", type="select", options=["女性", "男性"]
    )
    one_by_one = await _through_services(ctx, channel, member, colleague, tag.id)
    # What a member who replied has read is theirs: the colleague's count is the team's.
    await conversations.mark_read(ctx, conversation_id=one_by_one.id, member=member)
    in_bulk = await _in_bulk(ctx, channel, member, tag.id)
    await conversations.mark_read(ctx, conversation_id=in_bulk.id, member=member)

    services, bulk = await _derived(ctx, one_by_one.id), await _derived(ctx, in_bulk.id)
    assert bulk == services
    assert services["last"][2:] == ("inbound", "📷")
    # The profile value keeps its contact's activity, as the tag row does.
    assert services["value_activity"] == [services["contact_activity"]]
    assert [(m, n) for m, n, _ in services["unread"]] == [(colleague.id, 2)]

    # Both are found by their words; the system line is not indexed.
    page = await repository.list_conversations(
        ctx.db, member_id=member.id, query=InboxQuery(q="土曜の午後")
    )
    assert {c.id for c in page.conversations} == {one_by_one.id, in_bulk.id}


BROADCAST = "年末年始の営業時間のお知らせ"


async def _customers(ctx: Ctx, factory: Factory, channel: Channel, tag_id: int) -> list[int]:
    """Six customers with the same name and the same first message at the same time, tagged
    alike: what follows from their conversations differs only by what is recorded next."""
    found = []
    await _at(ctx, 0)
    for n in range(6):
        ingested = await factory.inbound(
            channel, contact=f"same-{n}", name="比べる 花子", text="カットの予約をしたいです"
        )
        await tags.add_tag(ctx, contact_id=ingested.conversation.contact_id, tag_id=tag_id)
        found.append(ingested.conversation.id)
    return found


async def test_one_text_recorded_in_bulk_for_many_conversations_leaves_what_one_by_one_leaves(
    ctx: Ctx, factory: Factory
) -> None:
    """A broadcast records one text in many conversations at once (recording.record_many): its
    index rows share one statement, the conversations move in one statement, the entries take
    the text's grams merged into what they hold. Each conversation ends up as if the member had
    sent the text to it (the services, one by one), twice (the second time adds no grams)."""
    channel = await factory.channel()
    member = await factory.member(role="owner")
    tag = await tags.create_tag(ctx, actor=None, name="一斉")
    ids = await _customers(ctx, factory, channel, tag.id)
    one_by_one, in_bulk = ids[:3], ids[3:]
    sent: list[int] = []
    for minutes in (60, 90):
        await _at(ctx, minutes)
        for conversation_id in one_by_one:
            message = await conversations.send_message(
                ctx, conversation_id=conversation_id, member=member, text=BROADCAST, kind="reply"
            )
            sent.append(message.id)
        rows = (
            await ctx.db.execute(
                select(Conversation.id, Conversation.contact_id).where(Conversation.id.in_(in_bulk))
            )
        ).all()
        copies = [
            recording.NewMessage(
                id=message_id,
                conversation_id=conversation_id,
                contact_id=contact_id,
                channel_id=channel.id,
                kind="reply",
                text=BROADCAST,
                created_at=START + timedelta(minutes=minutes),
                sender_member_id=member.id,
            )
            for (conversation_id, contact_id), message_id in zip(
                rows, await reserve_ids(ctx.db, Message.__table__, len(rows)), strict=True
            )
        ]
        await recording.record_many(ctx, copies)
        await ctx.db.commit()
        sent += [copy.id for copy in copies]
    for conversation_id in ids:
        await conversations.mark_read(ctx, conversation_id=conversation_id, member=member)

    derived = [await _derived(ctx, conversation_id) for conversation_id in ids]
    assert derived[1:] == derived[:1] * 5
    assert derived[0]["last"][2:] == ("reply", BROADCAST)
    assert derived[0]["grams"] >= search_grams_of([BROADCAST])
    # The message index finds every copy, by the whole text, a word, and one character.
    for query in (BROADCAST, "営業時間", "お知ら", "年"):
        matching = candidates(ctx.db, search.MESSAGES, query)
        assert matching is not None
        found = set(await ctx.db.scalars(matching))
        assert set(sent) <= found, query
    page = await repository.list_conversations(
        ctx.db, member_id=member.id, query=InboxQuery(q="営業時間のお知らせ")
    )
    assert sorted(c.id for c in page.conversations) == sorted(ids)


async def test_a_customer_message_raises_each_active_members_row_once_and_moves_the_others(
    ctx: Ctx, factory: Factory
) -> None:
    """A customer's message raises every active member's 未確認 row (made, or its count up, at
    the message's time); a deactivated member's row keeps its count and only follows the time;
    a message a filter matches moves every row and raises none. Written once a row: the raise
    moves what it raises (bench/live.py's 500 members)."""
    owner = await factory.member(role="owner")
    colleague = await factory.member()
    leaver = await factory.member()
    channel = await factory.channel()
    await filters.create_filter(ctx, match="exact", text="メニューを見る")

    async def rows(conversation_id: int) -> dict[int, tuple[int, datetime]]:
        found = await ctx.db.execute(
            select(
                ConversationUnread.member_id,
                ConversationUnread.count,
                ConversationUnread.activity_at,
            ).where(ConversationUnread.conversation_id == conversation_id)
        )
        return {member_id: (count, at) for member_id, count, at in found}

    await _at(ctx, 0)
    first = await factory.inbound(channel, contact="raised", text="予約できますか")
    conversation_id = first.conversation.id
    at = [START + timedelta(minutes=m) for m in (0, 10, 20, 30)]
    assert await rows(conversation_id) == {m.id: (1, at[0]) for m in (owner, colleague, leaver)}

    await members.update_member(ctx, member_id=leaver.id, actor=owner, active=False)
    await conversations.mark_read(ctx, conversation_id=conversation_id, member=colleague)
    await _at(ctx, 10)
    with statements_run() as run:
        await factory.inbound(channel, contact="raised", text="土曜はどうですか")
    # The raise writes the active members' rows; the one UPDATE is the leaver's row's time.
    writes = [sql for sql in run if "conversation_unreads" in sql and not sql.startswith("SELECT")]
    [update] = [sql for sql in writes if sql.startswith("UPDATE")]
    assert "members.active IS" in update, writes
    assert await rows(conversation_id) == {
        owner.id: (2, at[1]),
        colleague.id: (1, at[1]),  # read, then raised again: made anew
        leaver.id: (1, at[1]),  # no longer counted, still in the conversation's place
    }

    await _at(ctx, 20)
    await factory.inbound(channel, contact="raised", text="メニューを見る")
    assert await rows(conversation_id) == {
        owner.id: (2, at[2]),
        colleague.id: (1, at[2]),
        leaver.id: (1, at[2]),
    }

    # Several conversations in one batch, one raised and one filtered, each as alone.
    await _at(ctx, 30)
    other = await factory.inbound(channel, contact="other", text="はじめまして")
    other_id = other.conversation.id
    await inbound.receive_many(
        ctx,
        [
            inbound.Inbound(
                channel_id=channel.id, kind="api", sender=sender, text=text, message_id=None
            )
            for sender, text in (("raised", "メニューを見る"), ("other", "質問があります"))
        ],
    )
    assert await rows(conversation_id) == {
        owner.id: (2, at[3]),
        colleague.id: (1, at[3]),
        leaver.id: (1, at[3]),
    }
    assert await rows(other_id) == {owner.id: (2, at[3]), colleague.id: (2, at[3])}
