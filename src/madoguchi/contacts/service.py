"""Contacts: finding them by their channel identity and naming them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi import search
from madoguchi.audit import service as audit
from madoguchi.contacts import reading as readings
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation
from madoguchi.crm import marks, statuses
from madoguchi.crm.contact import get_contact as get_contact
from madoguchi.crm.models import Mark, Status
from madoguchi.events.types import (
    ContactCreated,
    ContactUpdated,
    ConversationUpdated,
    Event,
)
from madoguchi.kit.clean import email_address, phone_number
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import insert_objects, loaded_columns, loaded_objects, table_of
from madoguchi.kit.errors import Forbidden, Invalid
from madoguchi.kit.text import search_key
from madoguchi.members.models import Member, Role
from madoguchi.search import conversations as searching

MAX_NAME_LENGTH = 255


def _index_key(contact: Contact) -> str:
    return search_key(searching.names_text(contact))


async def find_contact_by_channel(
    db: AsyncSession, *, channel_id: int, external_id: str
) -> Contact | None:
    """The contact a channel identity belongs to: the one it was merged into, if it was."""
    found = await db.scalar(
        select(Contact).where(Contact.channel_id == channel_id, Contact.external_id == external_id)
    )
    return await kept_contact(db, found) if found is not None else None


async def kept_contact(db: AsyncSession, contact: Contact) -> Contact:
    """The contact itself, or the one it was merged into (F43; merging flattens: one step)."""
    if contact.merged_into_id is None:
        return contact
    kept = await db.get(Contact, contact.merged_into_id)
    assert kept is not None  # merged_into_id cascades
    return kept


async def identity_for(db: AsyncSession, contact: Contact, channel_id: int) -> Contact:
    """The contact row holding this contact's identity on a channel: itself, or one merged
    into it (whose external id and address a reply on that channel goes to)."""
    if contact.channel_id == channel_id:
        return contact
    merged = await db.scalar(
        select(Contact)
        .where(Contact.merged_into_id == contact.id, Contact.channel_id == channel_id)
        .order_by(Contact.id.desc())
        .limit(1)
    )
    return merged or contact


@dataclass(frozen=True)
class ChannelContact:
    contact: Contact
    # An existing contact's name, picture or e-mail address changed: its screens refresh.
    changed: bool
    # Made now, in the caller's transaction (it has no conversation yet).
    created: bool = False


# ``picture_url`` not given: the channel did not say (its profile API was not asked or did not
# answer), so the contact keeps its picture.
UNSAID = object()


async def known_external_ids(
    db: AsyncSession, *, channel_id: int, external_ids: Collection[str]
) -> set[str]:
    """Which of these channel identities are contacts already."""
    if not external_ids:
        return set()
    found = await db.scalars(
        select(Contact.external_id).where(
            Contact.channel_id == channel_id, Contact.external_id.in_(external_ids)
        )
    )
    return {external_id for external_id in found if external_id is not None}


async def find_or_create_contact(
    ctx: Ctx,
    *,
    channel_id: int,
    external_id: str,
    channel_name: str | None,
    picture_url: str | object | None = UNSAID,
    email: str | None = None,
    known: Contact | object | None = UNSAID,
) -> ChannelContact:
    """The contact behind a channel identity, created on first sight (inside the caller's
    transaction: nothing is committed here), with what the channel says of them: a new channel
    name is followed, a profile's picture (or its absence) replaces ours, and ``email`` becomes
    the contact's address when it has none and it is one. ``known``: the identity's row as
    ``channel_contacts`` read it in this transaction (None: there was none), not read again."""
    external_id = external_id.strip()
    if not external_id or len(external_id) > 255:
        raise Invalid("A contact's external_id must be 1 to 255 characters.")
    channel_name = (channel_name or "").strip()[:MAX_NAME_LENGTH]
    if known is UNSAID:
        contact = await ctx.db.scalar(_identity_of(channel_id, external_id))
    else:
        assert known is None or isinstance(known, Contact)
        contact = known
    created = False
    if contact is None:
        identity = NewIdentity(channel_id, external_id, channel_name, picture_url, email)
        try:
            [contact] = (await create_contacts(ctx, [identity])).values()
        except IntegrityError:
            # Another process created it a moment ago.
            found = await ctx.db.scalar(_identity_of(channel_id, external_id))
            if found is None:
                raise
            contact = found
        else:
            created = True
    if contact.merged_into_id is not None:
        # Merged into another (F43): their messages land there; this row only holds the identity.
        return ChannelContact(contact=await kept_contact(ctx.db, contact), changed=False)
    changed = False
    if channel_name and channel_name != contact.channel_name:
        old = searching.names_text(contact)
        if contact.display_name == contact.channel_name:
            contact.reading = _reading_after_rename(contact, channel_name)
            contact.display_name = channel_name
        contact.channel_name = channel_name
        contact.search_text = _index_key(contact)
        await search.replace(
            ctx.db, search.CONTACTS, contact.id, old=old, new=searching.names_text(contact)
        )
        await searching.refresh_contact(ctx.db, contact.id)
        changed = True
    if created:
        return ChannelContact(contact=contact, changed=False, created=True)
    if picture_url is not UNSAID and contact.avatar_url != picture_url:
        contact.avatar_url = picture_url if isinstance(picture_url, str) else None
        changed = True
    if contact.email is None and _address_or_none(email) is not None:
        contact.email = _address_or_none(email)
        changed = True
    if changed:
        contact.updated_at = ctx.now()
    return ChannelContact(contact=contact, changed=changed)


@dataclass(frozen=True)
class NewIdentity:
    """A channel identity no contact has yet, and what its channel says of the person."""

    channel_id: int
    external_id: str
    channel_name: str | None
    picture_url: str | object | None = UNSAID
    email: str | None = None


def _new_contact_values(ctx: Ctx, identity: NewIdentity) -> dict[str, Any]:
    """A contact first seen: named as its channel names it (else by its id there), its reading
    suggested."""
    external_id = identity.external_id.strip()
    name = (identity.channel_name or "").strip()[:MAX_NAME_LENGTH] or external_id
    reading = readings.suggest(name)
    return {
        "channel_id": identity.channel_id,
        "external_id": external_id,
        "channel_name": name,
        "display_name": name,
        "avatar_url": identity.picture_url if isinstance(identity.picture_url, str) else None,
        "email": _address_or_none(identity.email),
        "reading": reading,
        "search_text": search_key(searching.names_of(name, name, reading)),
        "created_at": ctx.now(),
        "updated_at": ctx.now(),
    }


async def create_contacts(
    ctx: Ctx, identities: Collection[NewIdentity]
) -> dict[tuple[int, str], Contact]:
    """Contacts for identities no contact has (``find_or_create_contact``'s, or a batch's that
    ``channel_contacts`` found none for), made together: one INSERT for them all, one for their
    names' index; by identity. ``IntegrityError`` (nothing made, the transaction usable) when
    one was made by another request meanwhile (PostgreSQL: SQLite's writers take turns).

    Written as plain rows, the objects made from them (``kit.db.insert_objects``): the ORM's
    INSERT … RETURNING cost a batch more than its messages' rows."""
    # In one order for every batch (PostgreSQL): two batches making the same people in orders
    # of their own would each wait for a row the other made first (a deadlock, seen in the
    # ingest benchmark with two processes).
    ordered = sorted(identities, key=lambda identity: (identity.channel_id, identity.external_id))
    rows = [_new_contact_values(ctx, identity) for identity in ordered]
    if not rows:
        return {}
    if ctx.db.get_bind().dialect.name == "postgresql":
        # Another request may make one of them meanwhile: its IntegrityError leaves the
        # transaction usable.
        async with ctx.db.begin_nested():
            made = await insert_objects(ctx.db, Contact, rows)
    else:
        # SQLite's writers take turns, and this one read that none exists: none can be made
        # meanwhile (a savepoint would only cost its statements).
        made = await insert_objects(ctx.db, Contact, rows)
    await search.add(ctx.db, search.CONTACTS, [(c.id, searching.names_text(c)) for c in made])
    return {(row["channel_id"], row["external_id"]): c for row, c in zip(rows, made, strict=True)}


def _identity_of(channel_id: int, external_id: str) -> Select[Contact]:
    """The contact row of one channel identity, locked (built only when it is to be read: a
    batch's contacts come from ``channel_contacts``)."""
    return (
        select(Contact)
        .where(Contact.channel_id == channel_id, Contact.external_id == external_id)
        .with_for_update()
    )


@cache
def _contacts_of() -> Select[Any]:
    """Built once (issue 14: building it for each batch cost more than running it); plain
    columns, made into objects by ``loaded_objects``."""
    contacts = table_of(Contact).c
    return (
        select(*loaded_columns(table_of(Contact)))
        .where(
            contacts.channel_id == bindparam("channel_id"),
            contacts.external_id.in_(bindparam("external_ids", expanding=True)),
        )
        .order_by(contacts.id)
        .with_for_update()
    )


async def channel_contacts(
    db: AsyncSession, *, channel_id: int, external_ids: Collection[str]
) -> dict[str, Contact]:
    """The contacts behind these identities on a channel, by identity, read in one statement and
    locked as ``find_or_create_contact`` locks one (its ``known``)."""
    if not external_ids:
        return {}
    found = await loaded_objects(
        db, Contact, _contacts_of(), {"channel_id": channel_id, "external_ids": list(external_ids)}
    )
    return {contact.external_id or "": contact for contact in found}


def _address_or_none(email: str | None) -> str | None:
    """The address a channel gives, if it is one we keep (a message is kept all the same)."""
    try:
        return email_address(email)
    except Invalid:
        return None


def _clean_display_name(contact: Contact, display_name: str | None) -> str:
    name = (display_name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid("The display name must be at most %(n)d characters.", n=MAX_NAME_LENGTH)
    return name or contact.channel_name


def _reading_after_rename(contact: Contact, display_name: str) -> str | None:
    """A reading suggested for the old name (or none) follows the name; one a member wrote
    stays."""
    if contact.reading is None or contact.reading == readings.suggest(contact.display_name):
        return readings.suggest(display_name)
    return contact.reading


async def set_names(
    ctx: Ctx, contact: Contact, display_name: str, reading: str | object | None = UNSAID
) -> None:
    """New names (and reading: given, else following the name) everywhere search keeps them."""
    old = searching.names_text(contact)
    contact.reading = (
        _reading_after_rename(contact, display_name)
        if reading is UNSAID
        else reading
        if isinstance(reading, str)
        else None
    )
    contact.display_name = display_name
    contact.search_text = _index_key(contact)
    await search.replace(
        ctx.db, search.CONTACTS, contact.id, old=old, new=searching.names_text(contact)
    )
    await searching.refresh_contact(ctx.db, contact.id)


async def rename_contact(ctx: Ctx, *, contact_id: int, display_name: str | None) -> Contact:
    """Set the display name (システム表示名); blank goes back to the channel name."""
    return await update_contact(
        ctx, contact_id=contact_id, changes=ContactChanges(display_name=display_name, rename=True)
    )


@dataclass(frozen=True)
class ContactChanges:
    """What to change on a contact; a field left at its default stays as it is.

    ``rename``/``set_status``/``set_mark``/``set_email``/``set_phone``/``set_reading`` say that
    the matching value (which may be None: cleared) is to be applied; a blank reading goes back
    to the one suggested for the name.
    """

    display_name: str | None = None
    rename: bool = False
    status: int | str | None = None
    set_status: bool = False
    mark: int | str | None = None
    set_mark: bool = False
    email: str | None = None
    set_email: bool = False
    phone: str | None = None
    set_phone: bool = False
    mail_opt_in: bool | None = None
    hidden: bool | None = None
    blocked: bool | None = None
    reading: str | None = None
    set_reading: bool = False


async def update_contact(ctx: Ctx, *, contact_id: int, changes: ContactChanges) -> Contact:
    """Apply every change or none (each is checked first), then tell members' screens."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    before = await audited(ctx.db, contact)
    events = await apply_changes(ctx, contact, changes)
    audit.record_changes(
        ctx,
        action="contact.updated",
        subject=f"contact {contact.id}",
        name=contact.display_name,
        before=before,
        after=await audited(ctx.db, contact),
    )
    await ctx.commit(*events)
    return contact


async def audited(db: AsyncSession, contact: Contact) -> dict[str, object]:
    """What the audit log keeps of a contact's own fields (statuses and marks by name)."""
    status = None if contact.status_id is None else await db.get(Status, contact.status_id)
    mark = None if contact.mark_id is None else await db.get(Mark, contact.mark_id)
    return {
        "display_name": contact.display_name,
        "reading": contact.reading,
        "email": contact.email,
        "phone": contact.phone,
        "status": status.name if status else None,
        "mark": mark.name if mark else None,
        "mail_opt_in": contact.mail_opt_in,
        "hidden": contact.hidden,
        "blocked": contact.blocked,
    }


async def apply_changes(ctx: Ctx, contact: Contact, changes: ContactChanges) -> list[Event]:
    """Check every change, then make them all (nothing committed here); the events to publish."""
    display_name = _clean_display_name(contact, changes.display_name) if changes.rename else None
    status_id = contact.status_id
    if changes.set_status:
        status_id = (
            None
            if changes.status is None
            else (await statuses.find_status(ctx.db, changes.status)).id
        )
    mark_id = contact.mark_id
    if changes.set_mark:
        mark_id = None if changes.mark is None else (await marks.find_mark(ctx.db, changes.mark)).id
    email = contact.email
    if changes.set_email:
        email = email_address(changes.email)
    phone = contact.phone
    if changes.set_phone:
        phone = phone_number(changes.phone)
    name = contact.display_name if display_name is None else display_name
    reading: str | object | None = UNSAID
    if changes.set_reading:
        reading = readings.normalize(changes.reading) or readings.suggest(name)

    events: list[Event] = [ContactUpdated(contact_id=contact.id, part="profile")]
    if (display_name is not None and display_name != contact.display_name) or (
        reading is not UNSAID and reading != contact.reading
    ):
        await set_names(ctx, contact, name, reading)
    contact.status_id, contact.mark_id, contact.email, contact.phone = (
        status_id,
        mark_id,
        email,
        phone,
    )
    if changes.mail_opt_in is not None:
        contact.mail_opt_in = changes.mail_opt_in
    if changes.blocked is not None:
        contact.blocked = changes.blocked
    if changes.hidden is not None and changes.hidden != contact.hidden:
        contact.hidden = changes.hidden
        # It leaves (or comes back to) everyone's inbox.
        events += [
            ConversationUpdated(conversation_id=cid, contact_id=contact.id)
            for cid in await conversation_ids(ctx.db, contact_id=contact.id)
        ]
    contact.updated_at = ctx.now()
    return events


async def create_contact(
    ctx: Ctx,
    *,
    display_name: str,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    reading: str | None = None,
) -> Contact:
    """A contact added by hand: no channel yet."""
    contact = await new_contact(
        ctx,
        display_name=display_name,
        email=email,
        phone=phone,
        external_id=external_id,
        reading=reading,
    )
    audit.record(
        ctx,
        action="contact.created",
        subject=f"contact {contact.id}",
        name=contact.display_name,
        after={
            "display_name": contact.display_name,
            "email": contact.email,
            "phone": contact.phone,
        },
    )
    await ctx.commit(ContactCreated(contact_id=contact.id))
    return contact


async def new_contact(
    ctx: Ctx,
    *,
    display_name: str,
    email: str | None = None,
    phone: str | None = None,
    external_id: str | None = None,
    reading: str | None = None,
) -> Contact:
    """A channel-less contact, inside the caller's transaction (nothing committed here); its
    reading is the one given, else the one suggested for its name."""
    name = display_name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise Invalid("The display name must be 1 to %(n)d characters.", n=MAX_NAME_LENGTH)
    contact = Contact(
        channel_id=None,
        external_id=(external_id or "").strip()[:255] or None,
        channel_name="",
        display_name=name,
        email=email_address(email),
        phone=phone_number(phone),
        reading=readings.normalize(reading) or readings.suggest(name),
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    contact.search_text = _index_key(contact)
    ctx.db.add(contact)
    await ctx.db.flush()
    await search.add(ctx.db, search.CONTACTS, [(contact.id, searching.names_text(contact))])
    return contact


async def conversation_ids(db: AsyncSession, *, contact_id: int) -> list[int]:
    return list(
        await db.scalars(
            select(Conversation.id)
            .where(Conversation.contact_id == contact_id)
            .order_by(Conversation.id)
        )
    )


def ensure_can_delete(actor: Member) -> None:
    """Deleting a customer loses their whole history: owners and admins only, as for deleting a
    conversation for good."""
    if actor.role not in (Role.owner, Role.admin):
        raise Forbidden("Only owners and admins can delete a customer.")


READING_BATCH = 500


async def fill_readings(ctx: Ctx) -> int:
    """Suggest a reading for every contact without one (contacts from before readings, or
    whose name had none), in batches of their own transactions: ``madoguchi contacts
    readings``. Search finds them by it afterwards. Answers how many got one."""
    filled = 0
    last_id = 0
    while True:
        batch = list(
            await ctx.db.scalars(
                select(Contact)
                .where(
                    Contact.id > last_id,
                    Contact.reading.is_(None),
                    Contact.merged_into_id.is_(None),
                )
                .order_by(Contact.id)
                .limit(READING_BATCH)
            )
        )
        if not batch:
            return filled
        for contact in batch:
            suggested = readings.suggest(contact.display_name)
            if suggested is not None:
                await set_names(ctx, contact, contact.display_name, suggested)
                filled += 1
        last_id = batch[-1].id
        await ctx.db.commit()
