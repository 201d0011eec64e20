"""The contact a CRM fact is about (a tag, a field's value, a record, a memo): found here, below
the contacts service, which takes it from here too, so that crm never imports it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.contacts.models import Contact
from madoguchi.kit.errors import NotFound
from madoguchi.kit.ids import is_id


async def get_contact(db: AsyncSession, *, contact_id: int) -> Contact:
    contact = await db.get(Contact, contact_id) if is_id(contact_id) else None
    if contact is None:
        raise NotFound("No contact with id %(id)s.", id=contact_id)
    return contact
