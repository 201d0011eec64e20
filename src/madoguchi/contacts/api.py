"""``/api/v1/contacts``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from madoguchi.contacts import repository, service
from madoguchi.contacts.schemas import ContactCreate, ContactOut, ContactPageOut, ContactUpdate
from madoguchi.conversations import workflow
from madoguchi.crm.params import FilterDep
from madoguchi.kit.ids import MAX_ID
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


async def _out(ctx: CtxDep, contact_id: int) -> ContactOut:
    contact = await service.get_contact(ctx.db, contact_id=contact_id)
    [detail] = await repository.details(ctx.db, [contact])
    return ContactOut.of(detail)


@router.get("", response_model=ContactPageOut)
async def list_contacts(
    member: MemberDep,
    ctx: CtxDep,
    conditions: FilterDep,
    limit: Annotated[int, Query(ge=1, le=repository.MAX_PAGE)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> ContactPageOut:
    """Contacts, newest first, narrowed by the same conditions as the inbox."""
    page = await repository.list_contacts(
        ctx.db,
        conditions=conditions,
        member_id=member.id,
        timezone=ctx.settings.timezone,
        limit=limit,
        before_id=cursor,
    )
    found = await repository.details(ctx.db, page.contacts)
    return ContactPageOut(items=[ContactOut.of(d) for d in found], next_cursor=page.next_cursor)


@router.post("", response_model=ContactOut, status_code=201)
async def create_contact(body: ContactCreate, _member: MemberDep, ctx: CtxDep) -> ContactOut:
    """A contact added by hand (no channel yet)."""
    contact = await service.create_contact(
        ctx,
        display_name=body.display_name,
        email=body.email,
        phone=body.phone,
        external_id=body.external_id,
    )
    return await _out(ctx, contact.id)


@router.get("/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: int, _member: MemberDep, ctx: CtxDep) -> ContactOut:
    """Everything kept about a contact: status, mark, tags, field values, conversations."""
    return await _out(ctx, contact_id)


@router.patch("/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: int, body: ContactUpdate, _member: MemberDep, ctx: CtxDep
) -> ContactOut:
    """Change what is given, all or nothing; a blank ``display_name`` goes back to the channel
    name; ``status`` and ``mark`` take an id or a name (``null`` clears)."""
    given = body.model_fields_set
    await service.update_contact(
        ctx,
        contact_id=contact_id,
        changes=service.ContactChanges(
            display_name=body.display_name,
            rename="display_name" in given,
            status=body.status,
            set_status="status" in given,
            mark=body.mark,
            set_mark="mark" in given,
            email=body.email,
            set_email="email" in given,
            phone=body.phone,
            set_phone="phone" in given,
            mail_opt_in=body.mail_opt_in,
            hidden=body.hidden,
            blocked=body.blocked,
        ),
    )
    return await _out(ctx, contact_id)


@router.delete("/{contact_id}", status_code=204)
async def delete_contact(contact_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete the contact with their conversations, messages, memos, records and values."""
    await workflow.delete_contact(ctx, contact_id=contact_id, actor=member)
    return Response(status_code=204)
