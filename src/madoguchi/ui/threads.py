"""What an open conversation shows besides the customer: its thread (with images), the team
working on it (assignee, followers, conversation tags and memo) and whether a reply may go out.

Shared by the inbox's pages (``ui.inbox``) and the fragments of the team workflow, the composer
and the scheduled messages; layout decisions only, every rule is a service's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import Response

from madoguchi.channels import service as channels
from madoguchi.conversations import repository, workflow
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import (
    Conversation,
    ConversationState,
    ConversationTag,
    Message,
)
from madoguchi.conversations.repository import InboxItem, InboxQuery
from madoguchi.crm import marks
from madoguchi.crm.models import Mark
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError
from madoguchi.members import service as members
from madoguchi.members.models import Member
from madoguchi.ui.panel import can_manage
from madoguchi.ui.present import SnoozePreset, ThreadEntry, snooze_choices, thread_entries
from madoguchi.ui.render import render_for

# What the browser checks before an upload (the server checks again, by the content).


CHANGED = "madoguchi:conversation-changed"


def conversation_changed(
    conversation_id: int, contact_id: int, source: str, *, contact_part: str | None = None
) -> dict[str, str]:
    """After the swap, the page refreshes what else shows the conversation (the list's row,
    the header or the panel, the thread's new lines) at once, without waiting for the live
    socket; ``contact_part`` also refreshes that part of the customer ("all": every part)."""
    events: dict[str, Any] = {
        CHANGED: {"conversationId": conversation_id, "contactId": contact_id, "from": source}
    }
    if contact_part:
        events["madoguchi:contact-updated"] = {"contactId": contact_id, "part": contact_part}
    return {"HX-Trigger-After-Settle": json.dumps(events)}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def after_error(ctx: Ctx, member: Member) -> None:
    """A refused change leaves nothing half-made in the session before the answer is rendered
    (the member is read again: a rollback forgets what was loaded)."""
    await ctx.db.rollback()
    await ctx.db.refresh(member)


async def inbox_item(ctx: Ctx, member: Member, conversation_id: int) -> InboxItem:
    conversation = await conversations.get_conversation(ctx.db, conversation_id=conversation_id)
    [item] = await repository.inbox_items(ctx.db, member_id=member.id, conversations=[conversation])
    return item


async def row_item(
    ctx: Ctx, member: Member, query: InboxQuery, conversation_id: int
) -> InboxItem | None:
    """The conversation's list row, fresh; None when it no longer belongs in the list's tab and
    filter (read, on 未確認; hidden; a status no longer the filtered one…) or is gone."""
    try:
        belongs = await repository.in_view(
            ctx.db,
            member_id=member.id,
            query=query,
            conversation_id=conversation_id,
            timezone=ctx.settings.timezone,
            now=ctx.now(),
        )
        return await inbox_item(ctx, member, conversation_id) if belongs else None
    except DomainError:
        return None


async def member_names(ctx: Ctx) -> dict[int, str]:
    """Every member's name, former members too (their messages stay)."""
    return {m.id: m.name for m in await members.list_members(ctx.db)}


async def mark_map(ctx: Ctx) -> dict[int, Mark]:
    return {mark.id: mark for mark in await marks.list_marks(ctx.db)}


async def entries(ctx: Ctx, messages: list[Message]) -> list[ThreadEntry]:
    """The thread's entries for these messages, each with its images."""
    images = await files.message_images(ctx.db, [m.id for m in messages])
    return thread_entries(messages, ZoneInfo(ctx.settings.timezone), images)


@dataclass(frozen=True)
class Thread:
    """What a chunk of the thread needs to render (``inbox/_messages.html``)."""

    conversation_id: int
    entries: list[ThreadEntry]
    has_older: bool
    sender_names: dict[int, str]
    marks: dict[int, Mark]


async def thread(
    ctx: Ctx, conversation_id: int, messages: list[Message], *, has_older: bool = False
) -> Thread:
    return Thread(
        conversation_id=conversation_id,
        entries=await entries(ctx, messages),
        has_older=has_older,
        sender_names=await member_names(ctx),
        marks=await mark_map(ctx),
    )


@dataclass(frozen=True)
class Team:
    """Who works on the conversation and how it stands, as the header, the composer and the
    panel's 「この問い合わせ」 show it to one member (``me``)."""

    conversation: Conversation
    me: Member
    assignee: Member | None
    followers: list[Member]
    tags: list[ConversationTag]
    all_tags: list[ConversationTag]
    # Active members, for the assignee and follower choices and the @ suggestions.
    members: list[Member]
    # Until when a reply may go out (Instagram's 24 hours); None: no limit.
    reply_until: datetime | None
    now: datetime
    can_manage: bool
    # The snooze menu's presets still ahead, with their times.
    snooze_choices: list[tuple[SnoozePreset, datetime]]

    @property
    def state(self) -> str:
        return self.conversation.state

    @property
    def closed(self) -> bool:
        return self.conversation.state == ConversationState.closed

    @property
    def snoozed(self) -> bool:
        return self.conversation.state == ConversationState.snoozed

    @property
    def mine(self) -> bool:
        return self.assignee is not None and self.assignee.id == self.me.id

    @property
    def following(self) -> bool:
        return any(follower.id == self.me.id for follower in self.followers)

    @property
    def addable(self) -> list[Member]:
        """Members who could be added as followers (not already in it)."""
        taken = {f.id for f in self.followers} | ({self.assignee.id} if self.assignee else set())
        return [m for m in self.members if m.id not in taken]

    @property
    def tag_ids(self) -> set[int]:
        return {tag.id for tag in self.tags}

    @property
    def reply_closed(self) -> bool:
        return self.reply_until is not None and self.now > self.reply_until

    @property
    def reply_known(self) -> bool:
        """A reply window with a real end (not "the customer never wrote")."""
        return self.reply_until is not None and self.reply_until.year > 1


async def open_fragment(
    request: Request, ctx: Ctx, member: Member, conversation_id: int, name: str, **context: Any
) -> Response:
    """A fragment of the open conversation (its header, 「この問い合わせ」, a dialog), fresh;
    one that is gone answers why."""
    item = await inbox_item(ctx, member, conversation_id)
    team = await load_team(ctx, member, item)
    return render_for(request, ctx, member, name, item=item, team=team, **context)


async def load_team(ctx: Ctx, member: Member, item: InboxItem) -> Team:
    conversation = item.conversation
    everyone = await members.list_members(ctx.db)
    assignee = next((m for m in everyone if m.id == conversation.assignee_id), None)
    return Team(
        conversation=conversation,
        me=member,
        assignee=assignee,
        followers=await workflow.followers(ctx.db, conversation_id=conversation.id),
        tags=await workflow.conversation_tags(ctx.db, conversation_id=conversation.id),
        all_tags=await workflow.list_conversation_tags(ctx.db),
        members=[m for m in everyone if m.active],
        reply_until=channels.reply_window_ends(item.channel, conversation.last_inbound_at),
        now=ctx.now(),
        can_manage=can_manage(member),
        snooze_choices=snooze_choices(ctx.now(), ZoneInfo(ctx.settings.timezone)),
    )
