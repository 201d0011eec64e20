"""Conversations: messages in and out, and the read state (the team's and each member's)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.automation import triggers
from madoguchi.channels import outbox
from madoguchi.channels import service as channels
from madoguchi.contacts.models import Contact
from madoguchi.conversations import recording
from madoguchi.conversations.models import (
    MAX_TEXT_LENGTH,
    Conversation,
    ConversationFollower,
    ConversationState,
    ConversationTeamUnread,
    ConversationUnread,
    Delivery,
    Message,
    MessageKind,
)
from madoguchi.events.types import (
    ConversationReadState,
    ConversationTeamReadState,
    ConversationUpdated,
    Event,
    MessageCreated,
)
from madoguchi.files import service as files
from madoguchi.files.models import StoredFile
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import insert_objects, loaded_objects, reserve_ids, table_of
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.text import without_web_addresses
from madoguchi.members.models import Member
from madoguchi.notifications import push
from madoguchi.notifications import service as notifications
from madoguchi.search import conversations as searching
from madoguchi.workspace.unread import UnreadMode, unread_mode


def _clean_text(body: str) -> str:
    body = body.strip()
    if not body:
        raise Invalid("The message is empty.")
    if len(body) > MAX_TEXT_LENGTH:
        raise Invalid("A message can be at most %(n)d characters.", n=MAX_TEXT_LENGTH)
    return body


async def get_conversation(db: AsyncSession, *, conversation_id: int) -> Conversation:
    conversation = await db.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("No conversation with id %(id)s.", id=conversation_id)
    return conversation


async def _conversation_for(ctx: Ctx, *, contact: Contact) -> Conversation:
    """The contact's latest conversation on its channel, or a new one."""
    return await conversation_for(ctx, contact=contact, channel_id=contact.channel_id)


async def conversation_for(
    ctx: Ctx, *, contact: Contact, channel_id: int | None, closed_with: str | None = None
) -> Conversation:
    """The contact's latest conversation on that channel (a broadcast's e-mail channel may not
    be theirs), or a new one, flushed inside the caller's transaction. ``closed_with``: a new
    one holds only this reply (a broadcast's copy, list preview given): it starts closed, out of
    the inbox, until the customer answers."""
    conversation = await ctx.db.scalar(
        select(Conversation)
        .where(
            Conversation.contact_id == contact.id,
            Conversation.channel_id == channel_id,
        )
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        conversation = await new_conversation(
            ctx, contact=contact, channel_id=channel_id, closed_with=closed_with
        )
    return conversation


async def new_conversation(
    ctx: Ctx, *, contact: Contact, channel_id: int | None, closed_with: str | None = None
) -> Conversation:
    """A new conversation of the contact on that channel (``conversation_for``), flushed.

    Its search entry is written with the contact's names as they are now, the row locked until
    this commits: the caller may have read the contact before a member renamed them (a
    broadcast's batch), and a rename committing later rewrites the entries it finds, this one
    among them once it waits for this lock (``contacts.set_names``). Written with the names
    read, it was found by neither name."""
    contact = (
        await ctx.db.scalar(
            select(Contact)
            .where(Contact.id == contact.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
        or contact
    )
    conversation = Conversation(**_opened(ctx, contact, channel_id))
    if closed_with is not None:
        conversation.state = ConversationState.closed
        conversation.closed_at = ctx.now()
        conversation.last_message_kind = MessageKind.reply
        conversation.last_message_preview = closed_with
    ctx.db.add(conversation)
    await ctx.db.flush()
    await searching.add_conversations(ctx.db, [(conversation, contact)])
    return conversation


async def new_conversations(
    ctx: Ctx, wanted: Mapping[tuple[int, int], Contact], *, indexed: bool = True
) -> dict[tuple[int, int], Conversation]:
    """New open conversations, one for each (contact id, channel id), as ``new_conversation``
    makes each, written together (``kit.db.insert_objects``: one INSERT for them all, one for
    their search entries). ``indexed`` False: the caller records a message in each at once,
    which writes its entry with the message's grams (``recording.record_many``): written
    here too, each entry would be written twice."""
    if not wanted:
        return {}
    rows = [_opened(ctx, contact, channel_id) for (_, channel_id), contact in wanted.items()]
    made = dict(zip(wanted, await insert_objects(ctx.db, Conversation, rows), strict=True))
    if indexed:
        await searching.add_conversations(ctx.db, [(made[key], wanted[key]) for key in wanted])
    return made


def _opened(ctx: Ctx, contact: Contact, channel_id: int | None) -> dict[str, Any]:
    """A new open conversation's values."""
    return {
        "contact_id": contact.id,
        "channel_id": channel_id,
        "state": ConversationState.open,
        "last_activity_at": ctx.now(),
        "created_at": ctx.now(),
    }


def _message_events(
    conversation: Conversation, message: Message, *, filtered: bool = False
) -> list[Event]:
    return [
        MessageCreated(
            conversation_id=conversation.id,
            contact_id=conversation.contact_id,
            message_id=message.id,
            kind=str(message.kind),
            assignee_id=conversation.assignee_id,
            filtered=filtered,
        ),
        ConversationUpdated(conversation_id=conversation.id, contact_id=conversation.contact_id),
    ]


@dataclass(frozen=True)
class Ingested:
    message: Message
    conversation: Conversation
    created: bool


@dataclass(frozen=True)
class NewInbound:
    """A customer's message to add, cleaned and checked by ``connectors.inbound.receive_many``
    (the one way in), with its contact found or made."""

    channel_id: int
    contact: Contact
    text: str
    external_id: str | None
    images: Sequence[StoredFile] = ()
    meta: dict[str, Any] | None = None
    # The channel's message ids it answers (a mail's References): that message's conversation.
    answers: Sequence[str] = ()
    # False: it arrives read for every member (a message filter's), and its event says so.
    unread: bool = True
    # The contact was made for it in this transaction: it has no conversation to look for.
    new_contact: bool = False


class StoredMeanwhile(Exception):
    """A message of the batch was stored by another request meanwhile (its channel's id is
    unique): nothing of the batch's messages is written."""


async def add_inbounds(ctx: Ctx, items: Sequence[NewInbound]) -> list[tuple[Ingested, list[Event]]]:
    """Add customers' messages in the caller's transaction, in the order given, each to the
    conversation it answers (a message of its channel named in ``answers``: e-mail threading)
    or its contact's latest on its channel (a new one if none), all recorded at once; and for
    each, what it came to and the events to publish once committed. ``StoredMeanwhile`` when
    one was stored by another request meanwhile: the transaction is then unusable (on
    PostgreSQL) and the caller rolls it back and takes the messages one by one."""
    latest = await _latest_conversations(ctx, items)
    answered = [await _answered(ctx, item) if item.answers else None for item in items]
    # Who has none yet gets one, all made together. The message's channel, not the contact's:
    # a merged contact has several (F43).
    wanted: dict[tuple[int, int], Contact] = {}
    for item, conversation in zip(items, answered, strict=True):
        key = (item.contact.id, item.channel_id)
        if conversation is None and key not in latest:
            wanted.setdefault(key, item.contact)
    # Each gets a message below, whose recording starts its search entry.
    latest.update(await new_conversations(ctx, wanted, indexed=False))
    reserved = await reserve_ids(ctx.db, table_of(Message), len(items))
    # Each message's conversation, in order; and those given a message already in this batch.
    placed: list[Conversation] = []
    written: set[int] = set()
    messages: list[recording.NewMessage] = []
    facts: list[triggers.Fact] = []
    for item, message_id, conversation in zip(items, reserved, answered, strict=True):
        if conversation is None:
            conversation = latest[(item.contact.id, item.channel_id)]
        blocked = item.contact.blocked
        # A conversation's first customer message, and one that wakes it, are facts for
        # automation once: a second message of the batch in it finds it awake.
        first = conversation.last_inbound_at is None and conversation.id not in written
        reopens = first or conversation.state == ConversationState.closed
        messages.append(
            recording.NewMessage(
                id=message_id,
                conversation_id=conversation.id,
                contact_id=conversation.contact_id,
                channel_id=item.channel_id,
                kind=MessageKind.inbound,
                text=item.text,
                created_at=ctx.now(),
                external_id=item.external_id,
                meta=item.meta,
                # A blocked customer's message is kept, but it neither raises the conversation
                # nor tells anyone.
                moves=not blocked,
                unread=not blocked and item.unread,
                file_ids=tuple(image.id for image in item.images),
            )
        )
        placed.append(conversation)
        written.add(conversation.id)
        if blocked:
            continue
        if conversation.state != ConversationState.open:
            # A customer writing wakes a closed or snoozed conversation (F11).
            conversation.state = ConversationState.open
            conversation.snooze_until = None
        facts.extend(
            triggers.Fact(kind, item.contact.id, conversation.id, message_id)
            for kind, happened in (
                (triggers.FIRST_MESSAGE, first),
                (triggers.CONVERSATION_OPENED, reopens),
                (triggers.MESSAGE_RECEIVED, True),
            )
            if happened
        )
    try:
        # No savepoint: the caller rolls the whole transaction back when this fails.
        await recording.record_many(ctx, messages)
    except IntegrityError as error:
        # The same message arrived through another request a moment ago.
        raise StoredMeanwhile from error
    await triggers.note(ctx, *facts)
    added: list[tuple[Ingested, list[Event]]] = []
    for item, message, conversation in zip(
        items, recording.as_stored(ctx, messages), placed, strict=True
    ):
        message_id = message.id
        ingested = Ingested(message=message, conversation=conversation, created=True)
        if item.contact.blocked:
            added.append((ingested, []))
            continue
        if item.unread and conversation.assignee_id is not None:
            # A customer writing in a conversation in someone's hands: pushed to their phone
            # when no tab of theirs is open (a filtered message arrives read: no one is told).
            await push.queue(
                ctx,
                member_id=conversation.assignee_id,
                kind="message",
                conversation_id=conversation.id,
                message_id=message_id,
            )
        added.append((ingested, _message_events(conversation, message, filtered=not item.unread)))
    return added


@cache
def _latest_of() -> Select[Any]:
    """Built once: building a statement for each batch cost more than running it (issue 14);
    plain columns, made into objects by ``loaded_objects``."""
    conversations = table_of(Conversation).c
    newest = (
        select(func.max(conversations.id))
        .where(
            conversations.contact_id.in_(bindparam("contact_ids", expanding=True)),
            conversations.channel_id.in_(bindparam("channel_ids", expanding=True)),
        )
        .group_by(conversations.contact_id, conversations.channel_id)
    )
    return select(*conversations).where(conversations.id.in_(newest))


async def _latest_conversations(
    ctx: Ctx, items: Sequence[NewInbound]
) -> dict[tuple[int, int], Conversation]:
    """Each contact's latest conversation on each channel the items name, in one read."""
    contact_ids = {item.contact.id for item in items if not item.new_contact}
    channel_ids = {item.channel_id for item in items}
    if not contact_ids:
        return {}
    found = await loaded_objects(
        ctx.db,
        Conversation,
        _latest_of(),
        {"contact_ids": list(contact_ids), "channel_ids": list(channel_ids)},
    )
    return {
        (conversation.contact_id, conversation.channel_id): conversation
        for conversation in found
        if conversation.channel_id is not None
    }


async def _answered(ctx: Ctx, item: NewInbound) -> Conversation | None:
    """The contact's conversation holding a message of the channel the item answers."""
    answered = await ctx.db.scalar(
        select(Message.conversation_id)
        .where(Message.channel_id == item.channel_id, Message.external_id.in_(item.answers))
        .order_by(Message.id.desc())
        .limit(1)
    )
    if answered is None:
        return None
    conversation = await ctx.db.get(Conversation, answered)
    if conversation is None or conversation.contact_id != item.contact.id:
        return None
    return conversation


async def stored_external_ids(
    db: AsyncSession, *, channel_id: int, external_ids: Collection[str]
) -> set[str]:
    """Which of these channel message ids are stored."""
    if not external_ids:
        return set()
    found = await db.scalars(
        select(Message.external_id).where(
            Message.channel_id == channel_id, Message.external_id.in_(external_ids)
        )
    )
    return {external_id for external_id in found if external_id is not None}


async def stored_inbound(db: AsyncSession, *, channel_id: int, external_id: str) -> Ingested | None:
    """The message stored before under this channel's message id, if any."""
    stored = await stored_inbounds(db, channel_id=channel_id, external_ids=[external_id])
    return stored.get(external_id)


@cache
def _any_stored_of() -> Select[tuple[int]]:
    messages = table_of(Message).c
    return select(messages.id).where(
        messages.channel_id == bindparam("channel_id"),
        messages.external_id.in_(bindparam("external_ids", expanding=True)),
    )


@cache
def _stored_of() -> Select[Message]:
    return select(Message).where(
        Message.channel_id == bindparam("channel_id"),
        Message.external_id.in_(bindparam("external_ids", expanding=True)),
    )


async def stored_inbounds(
    db: AsyncSession, *, channel_id: int, external_ids: Collection[str]
) -> dict[str, Ingested]:
    """The messages stored before under these channel message ids, by id (one plain read;
    when there are any, two more for them and their conversations as the session's objects)."""
    if not external_ids:
        return {}
    # Nearly always none: asked as plain values first (a writer runs that straight through
    # the driver, kit.direct.run_direct), the objects only for what is there.
    params = {"channel_id": channel_id, "external_ids": list(external_ids)}
    if not (await db.execute(_any_stored_of(), params)).first():
        return {}
    messages = list(await db.scalars(_stored_of(), params))
    if not messages:
        return {}
    found = await db.scalars(
        select(Conversation).where(Conversation.id.in_({m.conversation_id for m in messages}))
    )
    held = {conversation.id: conversation for conversation in found}
    return {
        message.external_id: Ingested(
            message=message, conversation=held[message.conversation_id], created=False
        )
        for message in messages
        if message.external_id is not None
    }


async def send_message(
    ctx: Ctx,
    *,
    conversation_id: int,
    member: Member | None,
    text: str,
    kind: str,
    image_ids: Sequence[int] = (),
) -> Message:
    """A member's reply to the customer (with up to three images), or an internal note only
    members see (``@name`` makes that member a follower and notifies them). ``member`` is None
    for what the system sends on someone's behalf (a scheduled message)."""
    if kind not in (MessageKind.reply, MessageKind.note):
        raise Invalid("kind must be reply or note.")
    images = await files.images(ctx.db, list(image_ids))
    if images and kind == MessageKind.note:
        raise Invalid("Images go with replies, not with internal notes.")
    body = text.strip() if images else _clean_text(text)
    if len(body) > MAX_TEXT_LENGTH:
        raise Invalid("A message can be at most %(n)d characters.", n=MAX_TEXT_LENGTH)
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    channel = await channels.get_channel(ctx.db, channel_id=conversation.channel_id)
    if kind == MessageKind.reply:
        channels.check_reply_allowed(channel, conversation.last_inbound_at, ctx.now())
    message = Message(
        conversation_id=conversation.id,
        channel_id=channel.id,
        kind=kind,
        text=body,
        sender_member_id=member.id if member else None,
        delivery=channels.initial_delivery(channel) if kind == MessageKind.reply else None,
        external_id=channels.outbound_external_id(channel) if kind == MessageKind.reply else None,
        created_at=ctx.now(),
    )
    await recording.record(ctx, conversation=conversation, message=message, images=images)
    if message.delivery == Delivery.pending:
        await outbox.enqueue(ctx, message=message)
    events = _message_events(conversation, message)
    if kind == MessageKind.reply:
        if conversation.state == ConversationState.closed:
            # A message from either side reopens a closed conversation (F11).
            conversation.state = ConversationState.open
            conversation.closed_at = None
        if member is not None:
            # Answering is reading: the team's 未確認 goes, and the sender's own mark.
            events += await _clear_team_unread(ctx, conversation=conversation)
            events += await _clear_unread(ctx, conversation=conversation, member=member)
    else:
        events += await _mention(ctx, conversation=conversation, message=message, author=member)
    await ctx.commit(*events)
    return message


async def _mention(
    ctx: Ctx, *, conversation: Conversation, message: Message, author: Member | None
) -> list[Event]:
    """Members named ``@name`` in a note follow the conversation and are notified."""
    members = list(await ctx.db.scalars(select(Member).where(Member.active.is_(True))))
    events: list[Event] = []
    for mentioned in mentioned_members(message.text, members):
        await follow_quietly(ctx, conversation_id=conversation.id, member_id=mentioned.id)
        event = await notifications.notify(
            ctx,
            member_id=mentioned.id,
            kind="mentioned",
            conversation_id=conversation.id,
            message_id=message.id,
            actor=author,
        )
        if event is not None:
            events.append(event)
    return events


def mentioned_members(text: str, members: Sequence[Member]) -> list[Member]:
    """The members a text names as ``@name`` (the name with or without its spaces, or the part
    of the e-mail before ``@``), outside web addresses; the longest name wins where one name
    starts another."""
    folded = without_web_addresses(text).casefold()
    handles = sorted(
        (
            (handle.casefold(), member)
            for member in members
            for handle in {
                member.name,
                member.name.replace(" ", "").replace("\u3000", ""),
                member.email.split("@")[0],
            }
            if handle
        ),
        key=lambda pair: -len(pair[0]),
    )
    found: dict[int, Member] = {}
    position = folded.find("@")
    while position != -1:
        rest = folded[position + 1 :]
        for handle, member in handles:
            if rest.startswith(handle):
                found.setdefault(member.id, member)
                break
        position = folded.find("@", position + 1)
    return list(found.values())


async def follow_quietly(ctx: Ctx, *, conversation_id: int, member_id: int) -> bool:
    """Add a follower inside the caller's transaction; False if they already follow. No audit
    entry: this is the follow that comes with something else (a note's @mention), which is
    itself in the thread; ``workflow.follow``, a follow someone chose, writes one."""
    existing = await ctx.db.get(ConversationFollower, (conversation_id, member_id))
    if existing is not None:
        return False
    ctx.db.add(
        ConversationFollower(
            conversation_id=conversation_id, member_id=member_id, created_at=ctx.now()
        )
    )
    return True


async def _clear_unread(ctx: Ctx, *, conversation: Conversation, member: Member) -> list[Event]:
    result = await ctx.db.execute(
        delete(ConversationUnread).where(
            ConversationUnread.conversation_id == conversation.id,
            ConversationUnread.member_id == member.id,
        )
    )
    if not getattr(result, "rowcount", 0):
        return []
    return [_read_state_event(conversation, member)]


def _read_state_event(conversation: Conversation, member: Member) -> Event:
    return ConversationReadState(
        conversation_id=conversation.id, contact_id=conversation.contact_id, member_id=member.id
    )


def _team_event(conversation: Conversation, *, unread: bool) -> Event:
    return ConversationTeamReadState(
        conversation_id=conversation.id, contact_id=conversation.contact_id, unread=unread
    )


async def _clear_team_unread(ctx: Ctx, *, conversation: Conversation) -> list[Event]:
    """確認済み for the whole team (kept whichever meaning the lists show, so that switching
    to the team's 未確認 later finds it true)."""
    result = await ctx.db.execute(
        delete(ConversationTeamUnread).where(
            ConversationTeamUnread.conversation_id == conversation.id
        )
    )
    if not getattr(result, "rowcount", 0):
        return []
    return [_team_event(conversation, unread=False)]


async def mark_read(ctx: Ctx, *, conversation_id: int, member: Member) -> Conversation:
    """確認済み: for the whole team (and the member's own highlight goes), or, when the workspace
    keeps 未確認 per member, for this member only."""
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    events: list[Event] = []
    if await unread_mode(ctx.db) == UnreadMode.team:
        events += await _clear_team_unread(ctx, conversation=conversation)
    await _clear_unread(ctx, conversation=conversation, member=member)
    await ctx.commit(*events, _read_state_event(conversation, member))
    return conversation


async def mark_unread(ctx: Ctx, *, conversation_id: int, member: Member) -> Conversation:
    """未確認 again: for the whole team, or, per member, for this member only."""
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    if await unread_mode(ctx.db) == UnreadMode.team:
        if await ctx.db.get(ConversationTeamUnread, conversation.id) is None:
            ctx.db.add(
                ConversationTeamUnread(
                    conversation_id=conversation.id,
                    activity_at=conversation.last_activity_at,
                    count=1,
                )
            )
        await ctx.commit(_team_event(conversation, unread=True))
        return conversation
    existing = await ctx.db.get(ConversationUnread, (member.id, conversation.id))
    if existing is None:
        ctx.db.add(
            ConversationUnread(
                member_id=member.id,
                conversation_id=conversation.id,
                activity_at=conversation.last_activity_at,
                count=1,
            )
        )
    await ctx.commit(_read_state_event(conversation, member))
    return conversation


async def mark_seen(ctx: Ctx, *, conversation_id: int, member: Member) -> None:
    """The member opened the conversation: with the team's 未確認, their lighter "new to me"
    highlight goes (with 未確認 per member, only the button reads it)."""
    if await unread_mode(ctx.db) != UnreadMode.team:
        return
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    events = await _clear_unread(ctx, conversation=conversation, member=member)
    if events:
        await ctx.commit(*events)


async def list_messages(
    db: AsyncSession,
    *,
    conversation_id: int,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Message]:
    """Oldest first: the newest ``limit`` (before ``before_id``), or those after ``after_id``."""
    await get_conversation(db, conversation_id=conversation_id)
    query = select(Message).where(Message.conversation_id == conversation_id)
    if after_id is not None:
        rows = await db.scalars(
            query.where(Message.id > after_id).order_by(Message.id).limit(limit)
        )
        return list(rows)
    if before_id is not None:
        query = query.where(Message.id < before_id)
    rows = await db.scalars(query.order_by(Message.id.desc()).limit(limit))
    return list(reversed(list(rows)))
