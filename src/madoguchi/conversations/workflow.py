"""Team workflow on a conversation (F10–F12, F16): assignee and followers, close and reopen,
snooze and wake, the conversation memo and tags, and permanent delete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi import search
from madoguchi.audit import service as audit
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import recording
from madoguchi.conversations.models import (
    Conversation,
    ConversationFollower,
    ConversationState,
    ConversationTag,
    ConversationTagging,
    Message,
    MessageKind,
)
from madoguchi.conversations.service import follow_quietly, get_conversation
from madoguchi.events.types import (
    ContactDeleted,
    ConversationDeleted,
    ConversationTagsChanged,
    ConversationUpdated,
    Event,
    MessageCreated,
)
from madoguchi.files import service as files
from madoguchi.kit.clean import clean_color, clean_name
from madoguchi.kit.context import Actor, Ctx
from madoguchi.kit.errors import Conflict, Forbidden, Invalid, NotFound
from madoguchi.kit.i18n import N_
from madoguchi.kit.ordering import next_position
from madoguchi.members.models import Member, Role
from madoguchi.notifications import service as notifications
from madoguchi.search import conversations as searching
from madoguchi.stats import rollup

MEMO_LIMIT = 500

# English fallbacks of system messages; the UI shows them translated from ``meta``.
SYSTEM_TEXT = {
    "assigned": N_("%(actor)s assigned %(member)s"),
    "self_assigned": N_("%(actor)s became the assignee"),
    "unassigned": N_("%(actor)s removed the assignee"),
    "followed": N_("%(member)s is following"),
    "unfollowed": N_("%(member)s stopped following"),
    "closed": N_("%(actor)s closed this conversation"),
    "reopened": N_("%(actor)s reopened this conversation"),
    "snoozed": N_("%(actor)s snoozed this conversation until %(until)s"),
    "woke": N_("The snooze ended"),
    "auto_closed": N_("Closed automatically after %(hours)s hours without a message"),
    "rule_assigned": N_("The rule %(rule)s assigned %(member)s"),
    "rule_closed": N_("The rule %(rule)s closed this conversation"),
}


def _updated(conversation: Conversation) -> Event:
    return ConversationUpdated(conversation_id=conversation.id, contact_id=conversation.contact_id)


async def _system(
    ctx: Ctx, conversation: Conversation, event: str, actor: Member | None, **args: Any
) -> Event:
    """A system line in the thread ("aya closed this conversation"); it does not move the
    conversation in the list."""
    meta = {"event": event, "actor": actor.name if actor else "", **args}
    message = Message(
        conversation_id=conversation.id,
        channel_id=conversation.channel_id,
        kind=MessageKind.system,
        text=SYSTEM_TEXT[event] % {"actor": meta["actor"], **args},
        sender_member_id=actor.id if actor else None,
        meta=meta,
        created_at=ctx.now(),
    )
    await recording.record(ctx, conversation=conversation, message=message)
    return MessageCreated(
        conversation_id=conversation.id,
        contact_id=conversation.contact_id,
        message_id=message.id,
        kind=str(message.kind),
        assignee_id=conversation.assignee_id,
    )


def _subject(conversation: Conversation) -> str:
    return f"conversation {conversation.id}"


async def _audit_state(
    ctx: Ctx,
    conversation: Conversation,
    before: str,
    actor: Member | Actor | None = None,
    **more: Any,
) -> None:
    audit.record_changes(
        ctx,
        action="conversation.state_changed",
        subject=_subject(conversation),
        name=await _contact_name(ctx, conversation.contact_id),
        before={"state": before},
        after={"state": str(conversation.state), **more},
        actor=actor,
    )


async def _member(db: AsyncSession, member_id: int) -> Member:
    member = await db.get(Member, member_id)
    if member is None or not member.active:
        raise NotFound("No member with id %(id)s.", id=member_id)
    return member


# --- assignee and followers -------------------------------------------------------------------


async def assign(
    ctx: Ctx,
    *,
    conversation_id: int,
    member_id: int | None,
    actor: Member | None,
    rule: str | None = None,
) -> Conversation:
    """Make a member the assignee (None: nobody); they are notified. With no ``actor``, a
    ``rule`` (its name) assigns."""
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    assignee = None if member_id is None else await _member(ctx.db, member_id)
    if conversation.assignee_id == member_id:
        return conversation
    if assignee is None and actor is None:
        raise Invalid("A rule assigns a member; it does not take the assignee away.")
    events = [_updated(conversation)]
    previous = (
        None
        if conversation.assignee_id is None
        else await ctx.db.get(Member, conversation.assignee_id)
    )
    audit.record(
        ctx,
        action="conversation.assigned",
        subject=_subject(conversation),
        name=await _contact_name(ctx, conversation.contact_id),
        before={"assignee": previous.name if previous else None},
        after={"assignee": assignee.name if assignee else None},
        actor=actor or (Actor(kind="rule", name=rule) if rule else None),
    )
    conversation.assignee_id = member_id
    await rollup.reassign(ctx, conversation_id=conversation.id, member_id=member_id)
    if assignee is None:
        events.append(await _system(ctx, conversation, "unassigned", actor))
    else:
        if actor is None:
            line = await _system(
                ctx, conversation, "rule_assigned", None, rule=rule, member=assignee.name
            )
        elif assignee.id == actor.id:
            line = await _system(ctx, conversation, "self_assigned", actor)
        else:
            line = await _system(ctx, conversation, "assigned", actor, member=assignee.name)
        events.append(line)
        # The assignee no longer needs to follow as well.
        await ctx.db.execute(
            delete(ConversationFollower).where(
                ConversationFollower.conversation_id == conversation.id,
                ConversationFollower.member_id == assignee.id,
            )
        )
        notice = await notifications.notify(
            ctx,
            member_id=assignee.id,
            kind="assigned",
            conversation_id=conversation.id,
            actor=actor,
        )
        if notice is not None:
            events.append(notice)
    await ctx.commit(*events)
    return conversation


async def become_assignee(ctx: Ctx, *, conversation_id: int, actor: Member) -> Conversation:
    """担当者になる: take an unassigned conversation; when a colleague has it, follow instead."""
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    if conversation.assignee_id not in (None, actor.id):
        holder = await ctx.db.get(Member, conversation.assignee_id)
        raise Conflict(
            "%(name)s is already the assignee: follow the conversation instead.",
            name=holder.name if holder else "",
        )
    return await assign(ctx, conversation_id=conversation_id, member_id=actor.id, actor=actor)


# Audited: a member (or a rule, through ``follow``) deliberately adding or removing a follower.
# Not audited: the follows that come with something else (``follow_quietly`` when a note
# @mentions a colleague; the assignee leaving the followers on ``assign``): the note and the
# assignment are what someone did, and each is already in the thread or the log.
async def _audit_followers(
    ctx: Ctx,
    conversation: Conversation,
    before: list[str],
    after: list[str],
    actor: Member | None,
) -> None:
    audit.record(
        ctx,
        action="conversation.followers_changed",
        subject=_subject(conversation),
        name=await _contact_name(ctx, conversation.contact_id),
        before={"followers": before},
        after={"followers": after},
        actor=actor,
    )


async def _follower_names(db: AsyncSession, conversation_id: int) -> list[str]:
    return [member.name for member in await followers(db, conversation_id=conversation_id)]


async def follow(
    ctx: Ctx, *, conversation_id: int, member_id: int, actor: Member | None
) -> Conversation:
    """Add a follower (oneself or a colleague; with no ``actor``, a rule while it runs)."""
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    follower = await _member(ctx.db, member_id)
    if conversation.assignee_id == follower.id:
        return conversation
    before = await _follower_names(ctx.db, conversation.id)
    if await follow_quietly(ctx, conversation_id=conversation.id, member_id=follower.id):
        await _audit_followers(ctx, conversation, before, [*before, follower.name], actor)
        event = await _system(ctx, conversation, "followed", actor, member=follower.name)
        await ctx.commit(event, _updated(conversation))
    return conversation


async def unfollow(
    ctx: Ctx, *, conversation_id: int, member_id: int, actor: Member
) -> Conversation:
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    follower = await _member(ctx.db, member_id)
    current = await followers(ctx.db, conversation_id=conversation.id)
    removed = await ctx.db.execute(
        delete(ConversationFollower).where(
            ConversationFollower.conversation_id == conversation.id,
            ConversationFollower.member_id == follower.id,
        )
    )
    if getattr(removed, "rowcount", 0):
        after = [member.name for member in current if member.id != follower.id]
        await _audit_followers(ctx, conversation, [member.name for member in current], after, actor)
        event = await _system(ctx, conversation, "unfollowed", actor, member=follower.name)
        await ctx.commit(event, _updated(conversation))
    return conversation


async def followers(db: AsyncSession, *, conversation_id: int) -> list[Member]:
    await get_conversation(db, conversation_id=conversation_id)
    return list(
        await db.scalars(
            select(Member)
            .join(ConversationFollower, ConversationFollower.member_id == Member.id)
            .where(ConversationFollower.conversation_id == conversation_id)
            .order_by(ConversationFollower.created_at, Member.id)
        )
    )


# --- close, reopen, snooze --------------------------------------------------------------------


def _clean_memo(memo: str) -> str:
    memo = memo.strip()
    if len(memo) > MEMO_LIMIT:
        raise Invalid("The conversation memo can be at most %(n)d characters.", n=MEMO_LIMIT)
    return memo


async def close(
    ctx: Ctx,
    *,
    conversation_id: int,
    actor: Member | None,
    tag_ids: Sequence[int] | None = None,
    memo: str | None = None,
    idle_hours: int | None = None,
    rule: str | None = None,
) -> Conversation:
    """Close (終了), optionally choosing its conversation tags and writing its memo; with no
    ``actor``, closed by a ``rule`` (its name) or by auto-close after ``idle_hours`` without
    a message."""
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    cleaned_memo = None if memo is None else _clean_memo(memo)
    # Who closes it: the member, the rule, or auto-close.
    closer: Member | Actor | None = actor
    if actor is None:
        closer = Actor(kind="rule", name=rule) if rule else Actor(kind="system", name="auto_close")
    if tag_ids is not None:
        await _set_tags(ctx, conversation, list(tag_ids), actor=closer)
    if cleaned_memo is not None:
        await _audit_memo(ctx, conversation, cleaned_memo, actor=closer)
        conversation.memo = cleaned_memo
    events = [_updated(conversation)]
    if conversation.state != ConversationState.closed:
        before = str(conversation.state)
        conversation.state = ConversationState.closed
        conversation.snooze_until = None
        conversation.closed_at = ctx.now()
        await _audit_state(ctx, conversation, before, closer)
        if rule is not None:
            line = await _system(ctx, conversation, "rule_closed", None, rule=rule)
        elif actor is None:
            line = await _system(ctx, conversation, "auto_closed", None, hours=idle_hours)
        else:
            line = await _system(ctx, conversation, "closed", actor)
        events.append(line)
    await ctx.commit(*events)
    return conversation


async def reopen(ctx: Ctx, *, conversation_id: int, actor: Member) -> Conversation:
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    if conversation.state == ConversationState.open:
        return conversation
    before = str(conversation.state)
    conversation.state = ConversationState.open
    conversation.snooze_until = None
    conversation.closed_at = None
    await _audit_state(ctx, conversation, before, actor)
    event = await _system(ctx, conversation, "reopened", actor)
    await ctx.commit(event, _updated(conversation))
    return conversation


async def snooze(ctx: Ctx, *, conversation_id: int, until: datetime, actor: Member) -> Conversation:
    """Snooze until a time: it wakes then, or when the customer writes, whichever first."""
    if until.tzinfo is None:
        raise Invalid("The snooze time needs a time zone.")
    if until <= ctx.now():
        raise Invalid("The snooze time must be in the future.")
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    before = str(conversation.state)
    conversation.state = ConversationState.snoozed
    conversation.snooze_until = until
    conversation.closed_at = None
    await _audit_state(ctx, conversation, before, actor, snooze_until=until)
    event = await _system(ctx, conversation, "snoozed", actor, until=until.isoformat())
    await ctx.commit(event, _updated(conversation))
    return conversation


async def wake_due(ctx: Ctx, *, now: datetime, limit: int = 100) -> int:
    """Wake the snoozed conversations whose time has come (the worker loop calls this)."""
    query = (
        select(Conversation)
        .where(Conversation.state == ConversationState.snoozed, Conversation.snooze_until <= now)
        .order_by(Conversation.snooze_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    due = list(await ctx.db.scalars(query))
    events: list[Event] = []
    for conversation in due:
        conversation.state = ConversationState.open
        conversation.snooze_until = None
        await _audit_state(ctx, conversation, "snoozed", Actor(kind="system", name="scheduler"))
        events += [await _system(ctx, conversation, "woke", None), _updated(conversation)]
    await ctx.commit(*events)
    return len(due)


async def set_memo(ctx: Ctx, *, conversation_id: int, memo: str) -> Conversation:
    """The conversation memo (問い合わせメモ), at most 500 characters."""
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    cleaned = _clean_memo(memo)
    await _audit_memo(ctx, conversation, cleaned)
    conversation.memo = cleaned
    await ctx.commit(_updated(conversation))
    return conversation


async def _audit_memo(
    ctx: Ctx, conversation: Conversation, memo: str, actor: Member | Actor | None = None
) -> None:
    audit.record_changes(
        ctx,
        action="conversation.memo_changed",
        subject=_subject(conversation),
        name=await _contact_name(ctx, conversation.contact_id),
        before={"memo": conversation.memo},
        after={"memo": memo},
        actor=actor,
    )


# --- conversation tags (問い合わせタグ) ---------------------------------------------------------


async def list_conversation_tags(db: AsyncSession) -> list[ConversationTag]:
    return list(
        await db.scalars(
            select(ConversationTag).order_by(ConversationTag.position, ConversationTag.id)
        )
    )


async def create_conversation_tag(
    ctx: Ctx, *, name: str, color: str = "#64748b"
) -> ConversationTag:
    name = clean_name(name)
    if await ctx.db.scalar(select(ConversationTag.id).where(ConversationTag.name == name)):
        raise Conflict("A conversation tag named %(name)s already exists.", name=name)
    tag = ConversationTag(
        name=name,
        color=clean_color(color),
        position=await next_position(ctx.db, ConversationTag.position),
    )
    ctx.db.add(tag)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="conversation_tag.created",
        subject=f"conversation_tag {tag.id}",
        name=tag.name,
        after={"name": tag.name, "color": tag.color},
    )
    await ctx.commit(ConversationTagsChanged(tag_id=tag.id))
    return tag


async def delete_conversation_tag(ctx: Ctx, *, tag_id: int) -> None:
    tag = await ctx.db.get(ConversationTag, tag_id)
    if tag is None:
        raise NotFound("No conversation tag with id %(id)s.", id=tag_id)
    audit.record(
        ctx,
        action="conversation_tag.deleted",
        subject=f"conversation_tag {tag.id}",
        name=tag.name,
        before={"name": tag.name, "color": tag.color},
    )
    await ctx.db.delete(tag)
    await ctx.commit(ConversationTagsChanged(tag_id=tag_id))


async def _set_tags(
    ctx: Ctx, conversation: Conversation, tag_ids: list[int], actor: Member | Actor | None = None
) -> None:
    wanted = set(tag_ids)
    known = set(
        await ctx.db.scalars(select(ConversationTag.id).where(ConversationTag.id.in_(wanted)))
    )
    if wanted - known:
        raise NotFound("No conversation tag with id %(id)s.", id=min(wanted - known))
    before = [t.name for t in await conversation_tags(ctx.db, conversation_id=conversation.id)]
    names = [
        name
        for (name,) in await ctx.db.execute(
            select(ConversationTag.name).where(ConversationTag.id.in_(wanted))
        )
    ]
    audit.record_changes(
        ctx,
        action="conversation.tags_changed",
        subject=_subject(conversation),
        name=await _contact_name(ctx, conversation.contact_id),
        before={"tags": sorted(before)},
        after={"tags": sorted(names)},
        actor=actor,
    )
    await ctx.db.execute(
        delete(ConversationTagging).where(ConversationTagging.conversation_id == conversation.id)
    )
    for tag_id in sorted(wanted):
        ctx.db.add(ConversationTagging(conversation_id=conversation.id, tag_id=tag_id))


async def set_conversation_tags(
    ctx: Ctx, *, conversation_id: int, tag_ids: Sequence[int]
) -> list[ConversationTag]:
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    await _set_tags(ctx, conversation, list(tag_ids))
    await ctx.commit(_updated(conversation))
    return await conversation_tags(ctx.db, conversation_id=conversation_id)


async def conversation_tags(db: AsyncSession, *, conversation_id: int) -> list[ConversationTag]:
    return list(
        await db.scalars(
            select(ConversationTag)
            .join(ConversationTagging, ConversationTagging.tag_id == ConversationTag.id)
            .where(ConversationTagging.conversation_id == conversation_id)
            .order_by(ConversationTag.position, ConversationTag.id)
        )
    )


# --- permanent delete (永久削除) ---------------------------------------------------------------


async def delete_conversation(ctx: Ctx, *, conversation_id: int, actor: Member) -> None:
    """Delete a conversation for good: its messages, images, scheduled sends and everything
    counted from it. An audit entry remains saying who deleted what and when. Owners and
    admins only."""
    if actor.role not in (Role.owner, Role.admin):
        raise Forbidden("Only owners and admins can delete a conversation for good.")
    conversation = await get_conversation(ctx.db, conversation_id=conversation_id)
    contact_id = conversation.contact_id
    contact_name = await _contact_name(ctx, contact_id)
    forgotten = await recording.forget(ctx, [conversation.id])
    audit.record(
        ctx,
        actor=actor,
        action="conversation.deleted",
        subject=f"conversation {conversation_id}",
        name=contact_name,
        detail={
            "conversation_id": conversation_id,
            "contact_id": contact_id,
            "contact_name": contact_name,
            "messages": forgotten.messages,
        },
    )
    await ctx.commit(ConversationDeleted(conversation_id=conversation_id, contact_id=contact_id))
    files.remove_files(files.root(ctx), forgotten.files)


async def _contact_name(ctx: Ctx, contact_id: int) -> str:
    contact = await ctx.db.get(Contact, contact_id)
    return contact.display_name if contact else ""


async def delete_contact(ctx: Ctx, *, contact_id: int, actor: Member) -> None:
    """Delete a contact with their conversations, messages, images, memos, records, tags and
    values. Owners and admins only; an audit entry says who deleted whom."""
    contacts.ensure_can_delete(actor)
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    if contact.merged_into_id is not None:
        # Its history is the kept contact's now; deleting that one takes this one with it.
        raise Conflict(
            "Contact %(id)s was merged into contact %(into)s: delete that one instead.",
            id=contact.id,
            into=contact.merged_into_id,
        )
    conversations = await contacts.conversation_ids(ctx.db, contact_id=contact_id)
    forgotten = await recording.forget(ctx, conversations)
    await search.remove(ctx.db, search.CONTACTS, [(contact.id, searching.names_text(contact))])
    audit.record(
        ctx,
        actor=actor,
        action="contact.deleted",
        subject=f"contact {contact.id}",
        name=contact.display_name,
        before={
            "display_name": contact.display_name,
            "email": contact.email,
            "phone": contact.phone,
        },
        detail={
            "display_name": contact.display_name,
            "conversations": len(conversations),
            "messages": forgotten.messages,
        },
    )
    await ctx.db.delete(contact)
    await ctx.commit(
        ContactDeleted(contact_id=contact_id),
        *[ConversationDeleted(conversation_id=cid, contact_id=contact_id) for cid in conversations],
    )
    files.remove_files(files.root(ctx), forgotten.files)
