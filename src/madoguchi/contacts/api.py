"""``/api/v1/contacts``."""

from __future__ import annotations

from fastapi import APIRouter

from madoguchi.contacts import service
from madoguchi.contacts.models import Contact
from madoguchi.contacts.schemas import ContactOut, ContactUpdate
from madoguchi.kit.web import CtxDep, MemberDep

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


@router.get("/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: int, _member: MemberDep, ctx: CtxDep) -> Contact:
    return await service.get_contact(ctx.db, contact_id=contact_id)


@router.patch("/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: int, body: ContactUpdate, _member: MemberDep, ctx: CtxDep
) -> Contact:
    """Change what is given; a blank ``display_name`` goes back to the channel name."""
    contact = await service.get_contact(ctx.db, contact_id=contact_id)
    if "display_name" in body.model_fields_set:
        contact = await service.rename_contact(
            ctx, contact_id=contact_id, display_name=body.display_name
        )
    return contact
