"""The one writer of demo histories: conversations with timestamps in the past, which no
service writes, stored in bulk; messages go through ``conversations.recording.record_many``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from madoguchi import search
from madoguchi.channels import service as channels
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.contacts import reading as readings
from madoguchi.contacts.models import Contact
from madoguchi.conversations import recording
from madoguchi.conversations.models import (
    Conversation,
    ConversationFollower,
    ConversationState,
    Message,
    MessageKind,
)
from madoguchi.conversations.service import mentioned_members
from madoguchi.conversations.workflow import SYSTEM_TEXT
from madoguchi.crm.models import ContactTag, FieldValue, Record, RecordSpan
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import bulk_insert, reserve_ids, table_of
from madoguchi.kit.text import gram_sequence, search_key
from madoguchi.members.models import Member
from madoguchi.notifications.models import Notification
from madoguchi.search import conversations as searching


@dataclass(frozen=True)
class HistoryMessage:
    kind: MessageKind
    text: str
    at: datetime
    sender_member_id: int | None = None
    # The channel's message id (inbound only).
    external_id: str | None = None
    # A system line's event and arguments (conversations.workflow).
    meta: dict[str, Any] | None = None

    @classmethod
    def customer(cls, text: str, at: datetime, *, external_id: str) -> HistoryMessage:
        return cls(kind=MessageKind.inbound, text=text, at=at, external_id=external_id)

    @classmethod
    def staff(cls, text: str, at: datetime, *, reply: bool, sender_id: int) -> HistoryMessage:
        """A reply to the customer, else an internal note."""
        kind = MessageKind.reply if reply else MessageKind.note
        return cls(kind=kind, text=text, at=at, sender_member_id=sender_id)


@dataclass(frozen=True)
class HistoryRecord:
    """A record (施術履歴, 対応記録) in a book, its values as the book's fields keep them."""

    book_id: int
    at: datetime
    values: dict[str, Any]
    author_id: int | None = None
    # When it was written (a visit's is a little after it).
    written_at: datetime | None = None


@dataclass(frozen=True)
class HistoryValue:
    """A contact's value of a profile field, in the columns its type keeps it in
    (``crm.fields.stored_columns``)."""

    field_id: int
    columns: dict[str, Any]


@dataclass(frozen=True)
class ContactHistory:
    """A contact and its one conversation, messages oldest first."""

    channel: Channel
    external_id: str
    channel_name: str
    display_name: str
    messages: Sequence[HistoryMessage]
    # Every member has opened it and marked it read (確認済み); otherwise what the customer wrote
    # after the last reply is unread for every member.
    read: bool = True
    assignee_id: int | None = None
    # The contact's support status and tags (each tagging keeps a copy of the latest activity).
    status_id: int | None = None
    tag_ids: tuple[int, ...] = ()
    # Records in the salon's books (no derived data follows from them).
    records: tuple[HistoryRecord, ...] = ()
    # The contact's mark (対応マーク) and profile values.
    mark_id: int | None = None
    values: tuple[HistoryValue, ...] = ()


@dataclass(frozen=True)
class Written:
    contacts: int
    messages: int
    unread: int
    # The new contacts and their conversations, in the order of the histories.
    contact_ids: tuple[int, ...] = ()
    conversation_ids: tuple[int, ...] = ()


def _unread(messages: Sequence[HistoryMessage]) -> list[HistoryMessage]:
    """Customer messages since the last reply: what raised the unread mark."""
    found: list[HistoryMessage] = []
    for message in reversed(messages):
        if message.kind == MessageKind.reply:
            break
        if message.kind == MessageKind.inbound:
            found.append(message)
    return found


@dataclass(frozen=True)
class _Thread:
    """A history as the services would have stored it: the assignment as a system line, and
    who was mentioned in which note."""

    messages: list[HistoryMessage]
    mentions: dict[int, list[Member]]  # index in messages → mentioned members
    assigned_by: Member | None


def _thread(history: ContactHistory, members: dict[int, Member]) -> _Thread:
    messages = list(history.messages)
    active = list(members.values())
    mentions = {
        index: mentioned_members(message.text, active)
        for index, message in enumerate(messages)
        if message.kind == MessageKind.note
    }
    assignee = members.get(history.assignee_id) if history.assignee_id else None
    if assignee is None:
        return _Thread(messages, mentions, None)
    # Assigned right after a note asking them to take it (担当でお願いします), else they took it
    # themselves (担当者になる) just before they first wrote, or last.
    asking = next((i for i, found in mentions.items() if assignee in found), None)
    if asking is not None:
        at_index, at = asking + 1, messages[asking].at
        actor = members.get(messages[asking].sender_member_id or 0, assignee)
    else:
        at_index = next(
            (i for i, m in enumerate(messages) if m.sender_member_id == assignee.id),
            len(messages),
        )
        at, actor = messages[min(at_index, len(messages) - 1)].at, assignee
    event = "self_assigned" if actor.id == assignee.id else "assigned"
    meta: dict[str, Any] = {"event": event, "actor": actor.name}
    if event == "assigned":
        meta["member"] = assignee.name
    line = HistoryMessage(
        kind=MessageKind.system,
        text=SYSTEM_TEXT[event] % {"actor": actor.name, "member": assignee.name},
        at=at,
        sender_member_id=actor.id,
        meta=meta,
    )
    messages.insert(at_index, line)
    return _Thread(
        messages,
        {(i + 1 if i >= at_index else i): found for i, found in mentions.items()},
        actor,
    )


async def write_histories(
    ctx: Ctx, *, histories: Sequence[ContactHistory], members: Sequence[Member]
) -> Written:
    """Store contacts with their past conversations in bulk, inside the caller's transaction,
    as the services would have: the contacts with their name index, status, mark, tags, records
    and profile values, each
    conversation with its assignee (an assignment's system line and notification), followers
    and notifications for @mentions in notes, and the messages through the one writer of
    messages (conversations.recording.record_many), which keeps everything that follows from
    them. ``members`` are the active members."""
    by_id = {member.id: member for member in members}
    threads = [_thread(history, by_id) for history in histories]
    for thread in threads:
        if not any(m.kind != MessageKind.system for m in thread.messages):
            raise ValueError("a history needs at least one message")
    contact_ids = await reserve_ids(ctx.db, table_of(Contact), len(histories))
    conversation_ids = await reserve_ids(ctx.db, table_of(Conversation), len(histories))
    message_ids = iter(
        await reserve_ids(ctx.db, table_of(Message), sum(len(t.messages) for t in threads))
    )
    contact_rows: list[dict[str, Any]] = []
    conversation_rows: list[dict[str, Any]] = []
    messages: list[recording.NewMessage] = []
    follower_rows: list[dict[str, Any]] = []
    notification_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    record_rows: list[dict[str, Any]] = []
    value_rows: list[dict[str, Any]] = []
    contact_grams: list[tuple[int, list[str]]] = []
    unread_conversations = 0
    for history, thread, contact_id, conversation_id in zip(
        histories, threads, contact_ids, conversation_ids, strict=True
    ):
        channel = history.channel
        shown = [m for m in thread.messages if m.kind != MessageKind.system]
        first = thread.messages[0]
        # The customer's messages since the last reply, when members have not read them.
        unread_inbound = set() if history.read else {id(m) for m in _unread(shown)}
        unread = len(unread_inbound)
        unread_conversations += bool(unread)
        # Notifications about a conversation still waiting for an answer are not read yet.
        read_at = None if unread else shown[-1].at
        reading = readings.suggest(history.display_name)
        # What the contacts service indexes them by (names and reading), in one place.
        names = searching.names_of(history.channel_name, history.display_name, reading)
        contact_rows.append(
            {
                "id": contact_id,
                "channel_id": channel.id,
                "external_id": history.external_id,
                "channel_name": history.channel_name,
                "display_name": history.display_name,
                "reading": reading,
                "search_text": search_key(names),
                # An e-mail customer's address is its contact's, as the channel's intake sets it
                # (contacts.service.find_or_create_contact).
                "email": history.external_id if channel.kind == ChannelKind.email else None,
                "status_id": history.status_id,
                "mark_id": history.mark_id,
                "created_at": first.at,
                "updated_at": first.at,
            }
        )
        tag_rows += [
            {"contact_id": contact_id, "tag_id": tag_id, "created_at": first.at}
            for tag_id in dict.fromkeys(history.tag_ids)
        ]
        record_rows += [
            {
                "book_id": record.book_id,
                "contact_id": contact_id,
                "at": record.at,
                "values": record.values,
                "author_id": record.author_id,
                "created_at": record.written_at or record.at,
                "updated_at": record.written_at or record.at,
            }
            for record in history.records
        ]
        value_rows += [
            {
                "contact_id": contact_id,
                "field_id": value.field_id,
                **value.columns,
                "updated_at": first.at,
            }
            for value in history.values
        ]
        contact_grams.append((contact_id, gram_sequence(names)))
        reply_delivery = channels.initial_delivery(channel)
        followers: set[int] = set()
        for index, message in enumerate(thread.messages):
            message_id = next(message_ids)
            messages.append(
                recording.NewMessage(
                    id=message_id,
                    conversation_id=conversation_id,
                    contact_id=contact_id,
                    channel_id=channel.id,
                    kind=message.kind,
                    text=message.text,
                    created_at=message.at,
                    external_id=message.external_id,
                    sender_member_id=message.sender_member_id,
                    delivery=reply_delivery if message.kind == MessageKind.reply else None,
                    meta=message.meta,
                    moves=message.kind != MessageKind.system,
                    unread=id(message) in unread_inbound,
                )
            )
            if message.kind == MessageKind.system:
                assignee = by_id[history.assignee_id or 0]
                if thread.assigned_by is not None and thread.assigned_by.id != assignee.id:
                    notification_rows.append(
                        {
                            "member_id": assignee.id,
                            "kind": "assigned",
                            "conversation_id": conversation_id,
                            "message_id": None,
                            "actor_id": thread.assigned_by.id,
                            "created_at": message.at,
                            "read_at": read_at,
                        }
                    )
                continue
            for mentioned in thread.mentions.get(index, []):
                if mentioned.id != history.assignee_id:
                    followers.add(mentioned.id)
                if mentioned.id != message.sender_member_id:
                    notification_rows.append(
                        {
                            "member_id": mentioned.id,
                            "kind": "mentioned",
                            "conversation_id": conversation_id,
                            "message_id": message_id,
                            "actor_id": message.sender_member_id,
                            "created_at": message.at,
                            "read_at": read_at,
                        }
                    )
        conversation_rows.append(
            {
                "id": conversation_id,
                "contact_id": contact_id,
                "channel_id": channel.id,
                "state": ConversationState.open,
                "assignee_id": history.assignee_id,
                "created_at": first.at,
            }
        )
        follower_rows += [
            {"conversation_id": conversation_id, "member_id": member_id, "created_at": first.at}
            for member_id in sorted(followers)
        ]
    for row, notification_id in zip(
        notification_rows,
        await reserve_ids(ctx.db, table_of(Notification), len(notification_rows)),
        strict=True,
    ):
        row["id"] = notification_id
    # Stored where their messages leave them, rather than stored and then moved.
    signed = search.signed(ctx.db)
    where = recording.placing(messages, signed=signed)
    for row in conversation_rows:
        row.update(where.conversations[row["id"]])
    for row in contact_rows:
        row["activity_at"] = where.contacts.get(row["id"])
        if signed:
            texts = where.signatures.get(row["id"], 0)
            bits = search.new_entry_signature(row["search_text"], texts)
            row["signature"] = search.stored_signature(bits)
    span_rows = _spans(record_rows)
    for row in (*tag_rows, *value_rows, *span_rows):
        row["activity_at"] = where.contacts.get(row["contact_id"])
    for model, rows in (
        (Contact, contact_rows),
        (Conversation, conversation_rows),
        (ContactTag, tag_rows),
        (Record, record_rows),
        (RecordSpan, span_rows),
        (FieldValue, value_rows),
    ):
        await bulk_insert(ctx.db, table_of(model), rows)
    await search.add_grams(ctx.db, search.CONTACTS, contact_grams)
    await recording.record_many(ctx, messages, placed=where)
    for table, rows in (
        (table_of(ConversationFollower), follower_rows),
        (table_of(Notification), notification_rows),
    ):
        await bulk_insert(ctx.db, table, rows)
    return Written(
        contacts=len(contact_rows),
        messages=len(messages),
        unread=unread_conversations,
        contact_ids=tuple(contact_ids),
        conversation_ids=tuple(conversation_ids),
    )


def _spans(record_rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The new contacts' record spans (each book's newest and oldest record), as
    crm.records.refresh_spans works them out: the histories' contacts are new, with no other
    records."""
    spans: dict[tuple[int, int], dict[str, Any]] = {}
    for row in record_rows:
        key = (row["contact_id"], row["book_id"])
        held = spans.get(key)
        if held is None:
            spans[key] = {
                "contact_id": key[0],
                "book_id": key[1],
                "newest_at": row["at"],
                "oldest_at": row["at"],
            }
        else:
            held["newest_at"] = max(held["newest_at"], row["at"])
            held["oldest_at"] = min(held["oldest_at"], row["at"])
    return list(spans.values())
