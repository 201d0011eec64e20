"""Each conversation's search entry (search.entries): the grams of its contact's names and of its
messages, keyed by its last activity, kept in step by the services that change any of them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, false, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi import search
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, Message, MessageKind
from madoguchi.kit.text import grams_of


# System lines ("aya closed this conversation") and a broadcast's copies (one text in thousands
# of threads, found by nobody looking for a customer) are neither searched nor indexed: the rule,
# in Python and in SQL.
def is_searched(kind: str, *, broadcast: bool = False) -> bool:
    return kind != MessageKind.system and not broadcast


SEARCHED = and_(Message.kind != MessageKind.system, Message.broadcast.is_(false()))


def names_text(contact: Contact) -> str:
    """What a conversation is found by besides its messages (as the contact index holds it):
    the names and the reading (フリガナ, F46; kit.text folds kana and width on both sides)."""
    return names_of(contact.channel_name, contact.display_name, contact.reading)


def names_of(channel_name: str, display_name: str, reading: str | None) -> str:
    """``names_text`` of a contact's values, where no contact object is at hand (a loader's
    rows, a batch's plain columns)."""
    return f"{channel_name} {display_name} {reading or ''}".rstrip()


async def add_conversations(db: AsyncSession, made: Sequence[tuple[Conversation, Contact]]) -> None:
    """New conversations' entries: their contacts' names (messages come one by one)."""
    await search.write_conversations(
        db,
        [
            _entry(conversation, contact, [names_text(contact)], signed=search.signed(db))
            for conversation, contact in made
        ],
        new=True,
    )


def _entry(
    conversation: Conversation, contact: Contact, texts: Sequence[str], *, signed: bool
) -> search.ConversationEntry:
    """The entry of a conversation of ``contact`` holding these texts (with their signature
    where entries keep one: search.signed). The contact is the one the conversation was read
    with: a merge moves conversations by a statement of its own, and a conversation object
    loaded before may still name the contact it had."""
    signature = 0
    if signed:
        for text in texts:
            signature |= search.text_signature(text)
    return search.ConversationEntry(
        conversation_id=conversation.id,
        seq=search.activity_seq(conversation.last_activity_at, conversation.id),
        grams=grams_of(texts),
        signature=signature if signed else None,
        contact_id=contact.id,
    )


async def refresh(db: AsyncSession, conversation_ids: Sequence[int]) -> None:
    """Rebuild entries from what the conversations hold now (after a contact's names change)."""
    if not conversation_ids:
        return
    rows = (
        await db.execute(
            select(Conversation, Contact)
            .join(Contact, Contact.id == Conversation.contact_id)
            .where(Conversation.id.in_(conversation_ids))
        )
    ).all()
    texts: dict[int, list[str]] = {}
    for conversation_id, body in await db.execute(
        select(Message.conversation_id, Message.text).where(
            Message.conversation_id.in_(conversation_ids), SEARCHED
        )
    ):
        texts.setdefault(conversation_id, []).append(body)
    signed = search.signed(db)
    entries = [
        _entry(
            conversation,
            contact,
            [names_text(contact), *texts.get(conversation.id, [])],
            signed=signed,
        )
        for conversation, contact in rows
    ]
    existing = await search.conversations_with_entries(
        db, [entry.conversation_id for entry in entries]
    )
    await search.write_conversations(
        db, [e for e in entries if e.conversation_id in existing], new=False
    )
    await search.write_conversations(
        db, [e for e in entries if e.conversation_id not in existing], new=True
    )


async def refresh_contact(db: AsyncSession, contact_id: int) -> None:
    """A contact's names changed: so did the entries of their conversations."""
    ids = list(
        await db.scalars(select(Conversation.id).where(Conversation.contact_id == contact_id))
    )
    await refresh(db, ids)
    if not ids:
        # No entry holds its names: its signature says so (search.entries.sign_contacts).
        await search.sign_contacts(db, contacts=[contact_id])


async def forget_messages(db: AsyncSession, conversation_ids: Sequence[int]) -> None:
    """Take the messages of these conversations out of the message index, before they are
    deleted: exactly those it holds. SQLite's contentless FTS5 index, told to forget a row it
    never held (a system line), reports itself corrupt and the delete fails."""
    if not conversation_ids:
        return
    rows = await db.execute(
        select(Message.id, Message.text).where(
            Message.conversation_id.in_(conversation_ids), SEARCHED
        )
    )
    await search.remove(db, search.MESSAGES, [(row.id, row.text) for row in rows])
