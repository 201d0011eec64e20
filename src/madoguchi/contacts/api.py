"""``/api/v1/contacts``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from madoguchi.contacts import merging, repository, service
from madoguchi.contacts.models import Contact
from madoguchi.contacts.schemas import (
    ContactBrief,
    ContactCreate,
    ContactOut,
    ContactPageOut,
    ContactUpdate,
    DuplicateOut,
    DuplicatesOut,
    MergeIn,
    MergeOut,
    MergesOut,
    UnmergeOut,
)
from madoguchi.conversations import workflow
from madoguchi.crm.params import FilterDep
from madoguchi.kit.ids import MAX_ID
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


async def _out(ctx: CtxDep, contact_id: int) -> ContactOut:
    contact = await service.kept_contact(
        ctx.db, await service.get_contact(ctx.db, contact_id=contact_id)
    )
    [detail] = await repository.details(ctx.db, [contact])
    return ContactOut.of(detail)


async def _kept_id(ctx: CtxDep, contact_id: int) -> int:
    """A contact merged into another (F43) is answered by the kept one."""
    return await merging.merged_target(ctx.db, contact_id) or contact_id


@router.get("", response_model=ContactPageOut)
async def list_contacts(
    member: MemberDep,
    ctx: CtxDep,
    conditions: FilterDep,
    limit: Annotated[int, Query(ge=1, le=repository.MAX_PAGE)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    sort: repository.ContactSort = repository.ContactSort.newest,
) -> ContactPageOut:
    """Contacts, newest first or by reading (``sort=reading``: 五十音順, those without a
    reading last), narrowed by the same conditions as the inbox."""
    page = await repository.list_contacts(
        ctx.db,
        conditions=conditions,
        member_id=member.id,
        timezone=ctx.settings.timezone,
        limit=limit,
        before_id=cursor,
        sort=sort,
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
        reading=body.reading,
    )
    return await _out(ctx, contact.id)


def _brief(contact: Contact) -> ContactBrief:
    return ContactBrief(
        id=contact.id,
        display_name=contact.display_name,
        reading=contact.reading,
        email=contact.email,
        phone=contact.phone,
    )


@router.get("/duplicates", response_model=DuplicatesOut)
async def duplicates(
    _member: MemberDep,
    ctx: CtxDep,
    contact: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DuplicatesOut:
    """Pairs of contacts that may be one person (same phone, e-mail or reading), with the
    reasons; ``contact``: only that contact's pairs."""
    pairs = await merging.duplicate_pairs(ctx.db, contact_id=contact, limit=limit)
    ids = {i for p in pairs for i in (p.contact_id, p.other_id)}
    found = {c.id: c for c in await repository.by_ids(ctx.db, ids)}
    return DuplicatesOut(
        items=[
            DuplicateOut(
                contact=_brief(found[p.contact_id]),
                other=_brief(found[p.other_id]),
                reasons=list(p.reasons),
            )
            for p in pairs
        ]
    )


@router.get("/{contact_id}", response_model=ContactOut)
async def get_contact(contact_id: int, _member: MemberDep, ctx: CtxDep) -> ContactOut:
    """Everything kept about a contact: status, mark, tags, field values, conversations. A
    contact merged into another is answered by the kept one (its ``id`` says which)."""
    return await _out(ctx, contact_id)


@router.post("/{contact_id}/merge", response_model=ContactOut)
async def merge_contact(
    contact_id: int, body: MergeIn, member: MemberDep, ctx: CtxDep
) -> ContactOut:
    """Merge ``other`` into this contact (F43): its conversations, channels, tags, fields,
    memos, records, marks, answers and enrollments move here; ``keep`` chooses per field
    both have. The other's id then answers with this contact."""
    await merging.merge_contacts(
        ctx, contact_id=contact_id, other_id=body.other, keep=body.keep, actor=member
    )
    return await _out(ctx, contact_id)


@router.get("/{contact_id}/merges", response_model=MergesOut)
async def list_merges(contact_id: int, _member: MemberDep, ctx: CtxDep) -> MergesOut:
    """The merges into this contact that can still be undone: newest first, for 30 days, each
    ``undoable`` unless a later merge of either contact comes first."""
    kept = await service.get_contact(ctx.db, contact_id=await _kept_id(ctx, contact_id))
    entries = await merging.merges_into(ctx, contact_id=kept.id)
    return MergesOut(
        items=[
            MergeOut(
                id=entry.merge.id,
                other=_brief(entry.other),
                at=entry.merge.at,
                undo_until=entry.until,
                undoable=entry.undoable,
            )
            for entry in entries
        ]
    )


@router.post("/{contact_id}/merges/{merge_id}/undo", response_model=UnmergeOut)
async def undo_merge(contact_id: int, merge_id: int, member: MemberDep, ctx: CtxDep) -> UnmergeOut:
    """Undo a merge of this contact (F43): what it moved goes back and the other contact is
    one of its own again. 409 when the merge was undone already, is older than 30 days, or a
    later merge of either contact comes first."""
    kept, restored = await merging.undo_merge(
        ctx, merge_id=merge_id, contact_id=contact_id, actor=member
    )
    return UnmergeOut(kept=await _out(ctx, kept.id), restored=await _out(ctx, restored.id))


@router.patch("/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: int, body: ContactUpdate, member: MemberDep, ctx: CtxDep
) -> ContactOut:
    """Change what is given, all or nothing; a blank ``display_name`` goes back to the channel
    name; ``status`` and ``mark`` take an id or a name (``null`` clears)."""
    given = body.model_fields_set
    contact_id = await _kept_id(ctx, contact_id)
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
            reading=body.reading,
            set_reading="reading" in given,
        ),
    )
    return await _out(ctx, contact_id)


@router.delete("/{contact_id}", status_code=204)
async def delete_contact(contact_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete the contact with their conversations, messages, memos, records and values."""
    await workflow.delete_contact(ctx, contact_id=contact_id, actor=member)
    return Response(status_code=204)
