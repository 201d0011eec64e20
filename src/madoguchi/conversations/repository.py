"""The inbox list query (F1–F3): newest activity first, keyset-paged, index-friendly."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.channels.models import Channel
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, ConversationState, ConversationUnread, Message
from madoguchi.kit import search
from madoguchi.kit.errors import Invalid
from madoguchi.kit.text import like_pattern, search_key

# Up to this many index hits, a search sorts its matches; past it the term is common, and walking
# the list newest-first finds a page of matches sooner.
SEARCH_SET_LIMIT = 1000
MAX_PAGE = 200


class View(StrEnum):
    all = "all"
    unread = "unread"
    mine = "mine"
    unassigned = "unassigned"
    snoozed = "snoozed"
    closed = "closed"


@dataclass(frozen=True)
class Cursor:
    at: datetime
    id: int

    def encode(self) -> str:
        raw = f"{self.at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
            at, _, ident = raw.partition("|")
            parsed = datetime.fromisoformat(at)
            if parsed.tzinfo is None:
                raise ValueError(at)
            return cls(at=parsed, id=int(ident))
        except (ValueError, UnicodeDecodeError, binascii.Error):
            raise Invalid("The cursor is not one this server gave out.") from None


@dataclass(frozen=True)
class InboxQuery:
    view: View = View.all
    q: str | None = None
    channel_id: int | None = None
    assignee_id: int | None = None
    limit: int = 50
    cursor: Cursor | None = None


@dataclass(frozen=True)
class Page:
    conversations: list[Conversation]
    next_cursor: str | None


async def list_conversations(db: AsyncSession, *, member_id: int, query: InboxQuery) -> Page:
    if not 1 <= query.limit <= MAX_PAGE:
        raise Invalid("limit must be between 1 and %(n)d.", n=MAX_PAGE)
    conditions: list[ColumnElement[bool]] = []
    if query.view == View.unread:
        activity = ConversationUnread.activity_at
        ident = ConversationUnread.conversation_id
        statement: Select[tuple[Conversation]] = (
            select(Conversation)
            .join(ConversationUnread, ConversationUnread.conversation_id == Conversation.id)
            .where(ConversationUnread.member_id == member_id)
        )
    else:
        activity = Conversation.last_activity_at
        ident = Conversation.id
        statement = select(Conversation)
        conditions += _view_conditions(query.view, member_id)
    if query.channel_id is not None:
        conditions.append(Conversation.channel_id == query.channel_id)
    if query.assignee_id is not None:
        conditions.append(Conversation.assignee_id == query.assignee_id)
    if query.q and search_key(query.q):
        conditions.append(await _search_condition(db, query.q))
    if query.cursor is not None:
        conditions.append(tuple_(activity, ident) < tuple_(query.cursor.at, query.cursor.id))
    statement = (
        statement.where(*conditions)
        .order_by(activity.desc(), ident.desc())
        .limit(query.limit + 1)
    )
    rows = list(await db.scalars(statement))
    next_cursor = None
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        last = rows[-1]
        # On the unread view the copy in conversation_unreads equals last_activity_at.
        next_cursor = Cursor(at=last.last_activity_at, id=last.id).encode()
    return Page(conversations=rows, next_cursor=next_cursor)


def _view_conditions(view: View, member_id: int) -> list[ColumnElement[bool]]:
    match view:
        case View.mine:
            return [Conversation.assignee_id == member_id]
        case View.unassigned:
            return [Conversation.assignee_id.is_(None)]
        case View.snoozed:
            return [Conversation.state == ConversationState.snoozed]
        case View.closed:
            return [Conversation.state == ConversationState.closed]
        case _:
            return []


async def _search_condition(db: AsyncSession, q: str) -> ColumnElement[bool]:
    """Conversations whose contact's names or any message contain ``q`` (normalised)."""
    pattern = like_pattern(q)
    by_message = await _matching(
        db,
        search.MESSAGES,
        q,
        select(Message.conversation_id).where(Message.search_text.like(pattern, escape="\\")),
        Message.id,
    )
    by_name = await _matching(
        db,
        search.CONTACTS,
        q,
        select(Contact.id).where(Contact.search_text.like(pattern, escape="\\")),
        Contact.id,
    )
    parts: list[ColumnElement[bool]] = []
    if by_message is None:
        parts.append(
            exists().where(
                Message.conversation_id == Conversation.id,
                Message.search_text.like(pattern, escape="\\"),
            )
        )
    elif by_message:
        parts.append(Conversation.id.in_(by_message))
    if by_name is None:
        parts.append(
            exists().where(
                Contact.id == Conversation.contact_id,
                Contact.search_text.like(pattern, escape="\\"),
            )
        )
    elif by_name:
        parts.append(Conversation.contact_id.in_(by_name))
    return or_(*parts) if parts else false()


async def _matching(
    db: AsyncSession,
    index: search.SearchIndex,
    q: str,
    recheck: Select[tuple[int]],
    owner_key: ColumnElement[int],
) -> set[int] | None:
    """The ids ``recheck`` selects among the index's candidates, or None when there are more
    than SEARCH_SET_LIMIT of them (a common term: the caller scans instead)."""
    candidates = search.candidates(db, index, q)
    if candidates is None:
        return None
    hits = candidates.subquery()
    rows = list(
        await db.scalars(
            recheck.join(hits, and_(hits.c.owner_id == owner_key)).limit(SEARCH_SET_LIMIT + 1)
        )
    )
    if len(rows) > SEARCH_SET_LIMIT:
        return None
    return set(rows)


@dataclass(frozen=True)
class InboxItem:
    """A conversation with what the list shows beside it, for one member."""

    conversation: Conversation
    contact: Contact
    channel: Channel
    unread_count: int

    @property
    def unread(self) -> bool:
        return self.unread_count > 0


async def inbox_items(
    db: AsyncSession, *, member_id: int, conversations: list[Conversation]
) -> list[InboxItem]:
    """Contacts, channels and unread counts for a page, in three queries whatever its size."""
    if not conversations:
        return []
    contact_ids = {c.contact_id for c in conversations}
    channel_ids = {c.channel_id for c in conversations}
    contacts = {
        contact.id: contact
        for contact in await db.scalars(select(Contact).where(Contact.id.in_(contact_ids)))
    }
    channels = {
        channel.id: channel
        for channel in await db.scalars(select(Channel).where(Channel.id.in_(channel_ids)))
    }
    rows = await db.execute(
        select(ConversationUnread.conversation_id, ConversationUnread.count).where(
            ConversationUnread.member_id == member_id,
            ConversationUnread.conversation_id.in_([c.id for c in conversations]),
        )
    )
    unread = {conversation_id: count for conversation_id, count in rows}
    return [
        InboxItem(
            conversation=conversation,
            contact=contacts[conversation.contact_id],
            channel=channels[conversation.channel_id],
            unread_count=unread.get(conversation.id, 0),
        )
        for conversation in conversations
    ]


async def unread_total(db: AsyncSession, *, member_id: int) -> int:
    """How many conversations are unread for a member (the tab title, the 未確認 tab)."""
    count = await db.scalar(
        select(func.count()).where(ConversationUnread.member_id == member_id)
    )
    return int(count or 0)
