"""Contacts: finding them by their channel identity and naming them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.contacts.models import Contact
from madoguchi.events import Event
from madoguchi.kit import search
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.text import search_key

MAX_NAME_LENGTH = 255


def _names_text(contact: Contact) -> str:
    return f"{contact.channel_name} {contact.display_name}"


def _index_key(contact: Contact) -> str:
    return search_key(_names_text(contact))


async def get_contact(db: AsyncSession, *, contact_id: int) -> Contact:
    contact = await db.get(Contact, contact_id)
    if contact is None:
        raise NotFound("No contact with id %(id)s.", id=contact_id)
    return contact


async def find_or_create_contact(
    ctx: Ctx, *, channel_id: int, external_id: str, channel_name: str | None
) -> Contact:
    """The contact behind a channel identity, created on first sight (inside the caller's
    transaction: nothing is committed here). A new channel name is followed."""
    external_id = external_id.strip()
    if not external_id or len(external_id) > 255:
        raise Invalid("A contact's external_id must be 1 to 255 characters.")
    channel_name = (channel_name or "").strip()[:MAX_NAME_LENGTH]
    query = select(Contact).where(
        Contact.channel_id == channel_id, Contact.external_id == external_id
    )
    contact = await ctx.db.scalar(query.with_for_update())
    if contact is None:
        contact = Contact(
            channel_id=channel_id,
            external_id=external_id,
            channel_name=channel_name or external_id,
            display_name=channel_name or external_id,
            created_at=ctx.now(),
            updated_at=ctx.now(),
        )
        contact.search_text = _index_key(contact)
        try:
            async with ctx.db.begin_nested():
                ctx.db.add(contact)
        except IntegrityError:
            # Another process created it a moment ago.
            found = await ctx.db.scalar(query.with_for_update())
            if found is None:
                raise
            return found
        await search.add(ctx.db, search.CONTACTS, [(contact.id, _names_text(contact))])
        return contact
    if channel_name and channel_name != contact.channel_name:
        old = _names_text(contact)
        if contact.display_name == contact.channel_name:
            contact.display_name = channel_name
        contact.channel_name = channel_name
        contact.search_text = _index_key(contact)
        contact.updated_at = ctx.now()
        await search.replace(ctx.db, search.CONTACTS, contact.id, old=old, new=_names_text(contact))
    return contact


async def rename_contact(ctx: Ctx, *, contact_id: int, display_name: str | None) -> Contact:
    """Set the display name (システム表示名); blank goes back to the channel name."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    name = (display_name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid("The display name must be at most %(n)d characters.", n=MAX_NAME_LENGTH)
    old = _names_text(contact)
    contact.display_name = name or contact.channel_name
    contact.search_text = _index_key(contact)
    contact.updated_at = ctx.now()
    await search.replace(ctx.db, search.CONTACTS, contact.id, old=old, new=_names_text(contact))
    await ctx.commit(Event("contact.updated", {"contact_id": contact.id}))
    return contact
