"""The customer: the panel's parts and their editors (``/ui/contacts/…``), the contact page
(``/contacts/{id}``), adding a customer by hand, and the customer list (``/contacts``).

Each change goes through a service function; a route only reads the form, calls it, and
renders the part again (see ``ui.panel`` for what a part shows).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from madoguchi.contacts import merging
from madoguchi.contacts import repository as contact_repository
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import repository as conversation_repository
from madoguchi.conversations import service as conversations
from madoguchi.conversations import workflow
from madoguchi.conversations.repository import InboxItem
from madoguchi.crm import fields, filters, marks, memos, records, statuses, tags
from madoguchi.crm.models import FieldType, Record, RecordBook
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, NotFound
from madoguchi.kit.ids import is_id
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.filtering import TagGroup, tag_groups
from madoguchi.ui.forms import ids, parse_local, reference, text
from madoguchi.ui.panel import (
    PARTS,
    FieldEntry,
    Panel,
    Place,
    load_panel,
    local_input_value,
    place_of,
)
from madoguchi.ui.present import search_text
from madoguchi.ui.render import error_message, error_text, render_for
from madoguchi.ui.threads import after_error

router = APIRouter()


# --- rendering --------------------------------------------------------------------------------


def _updated(contact_id: int, part: str) -> dict[str, str]:
    """After the swap, the page refreshes what else shows this part (the list's row…) at once,
    without waiting for the live socket."""
    detail = {"contactId": contact_id, "part": part}
    return {"HX-Trigger-After-Settle": json.dumps({"madoguchi:contact-updated": detail})}


async def part_response(
    request: Request,
    ctx: Ctx,
    member: Member,
    *,
    contact_id: int,
    part: str,
    place: Place,
    saved: bool = False,
    changed: bool = True,
    **context: Any,
) -> Response:
    panel = await load_panel(ctx, member, contact_id=contact_id, place=place, parts=(part,))
    return render_for(
        request,
        ctx,
        member,
        "contacts/_part.html",
        headers=_updated(contact_id, part) if changed else None,
        panel=panel,
        part=part,
        saved=saved,
        **context,
    )


# --- the panel's parts ------------------------------------------------------------------------


@router.get("/ui/contacts/{contact_id}/part/{part}")
async def part_fragment(
    contact_id: int,
    part: str,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    place: str | None = None,
) -> Response:
    """One part of the panel, fresh (live updates, and 「キャンセル」 in an editor)."""
    if part not in PARTS:
        return error_text(NotFound("No such part of the customer panel."), member.language)
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part=part,
        place=place_of(place),
        changed=False,
    )


@router.post("/ui/contacts/{contact_id}/profile")
async def change_profile(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """対応ステータス, 対応マーク, e-mail, phone, メルマガ受信: whichever the form sends.

    Each control posts on its own and picks its own row from the answer (``hx-select``).
    """
    form = await request.form()
    place = place_of(text(form, "place"))
    changes = contacts.ContactChanges(
        status=reference(form, "status"),
        set_status="status" in form,
        mark=reference(form, "mark"),
        set_mark="mark" in form,
        email=text(form, "email"),
        set_email="email" in form,
        phone=text(form, "phone"),
        set_phone="phone" in form,
        reading=text(form, "reading"),
        set_reading="reading" in form,
        mail_opt_in=_flag(form, "mail_opt_in"),
    )
    await contacts.update_contact(ctx, contact_id=contact_id, changes=changes)
    return await part_response(
        request, ctx, member, contact_id=contact_id, part="profile", place=place, saved=True
    )


def _flag(form: FormData, name: str) -> bool | None:
    """A check box posted after a hidden "0": the last value wins; absent means unchanged."""
    posted = form.getlist(name)
    return None if not posted else posted[-1] == "1"


# --- tags -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagEditor:
    groups: list[TagGroup]
    checked: set[int]


async def _tag_editor(
    request: Request,
    ctx: Ctx,
    member: Member,
    *,
    contact_id: int,
    place: Place,
    checked: set[int] | None,
    status_code: int = 200,
    error: str | None = None,
) -> Response:
    panel = await load_panel(ctx, member, contact_id=contact_id, place=place, parts=())
    groups, _ = await tag_groups(ctx)
    return render_for(
        request,
        ctx,
        member,
        "contacts/_tags_editor.html",
        status_code=status_code,
        panel=panel,
        editor=TagEditor(groups=groups, checked=panel.tag_ids if checked is None else checked),
        error=error,
    )


@router.get("/ui/contacts/{contact_id}/tags/edit")
async def tags_editor(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep, place: str | None = None
) -> Response:
    """「タグ編集」: every tag by folder, the contact's checked."""
    return await _tag_editor(
        request, ctx, member, contact_id=contact_id, place=place_of(place), checked=None
    )


@router.post("/ui/contacts/{contact_id}/tags")
async def save_tags(contact_id: int, request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """「保存」 in the tag editor: the contact's tags become exactly the checked ones."""
    form = await request.form()
    await tags.set_tags(ctx, contact_id=contact_id, tag_ids=ids(form, "tag"))
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="tags",
        place=place_of(text(form, "place")),
        saved=True,
    )


@router.post("/ui/contacts/{contact_id}/tags/new")
async def new_tag(contact_id: int, request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """A new tag (outside any folder) made from the editor, checked, not yet saved on the
    contact: the editor comes back with what was checked kept."""
    form = await request.form()
    checked = set(ids(form, "tag"))
    place = place_of(text(form, "place"))
    tag = await tags.create_tag(ctx, actor=member, name=text(form, "name") or "", folder=None)
    return await _tag_editor(
        request, ctx, member, contact_id=contact_id, place=place, checked=checked | {tag.id}
    )


# --- profile fields ---------------------------------------------------------------------------


@router.post("/ui/contacts/{contact_id}/fields/{key}")
async def save_field(
    contact_id: int, key: str, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """A value edited in place; a value of the wrong type is refused with the reason, and
    nothing is stored."""
    form = await request.form()
    posted = [v for v in form.getlist("value") if isinstance(v, str)]
    definition = await fields.field_by_key(ctx.db, key)
    raw: Any = posted if definition.type == FieldType.multi_select else (posted or [""])[0]
    value = await fields.set_value(ctx, contact_id=contact_id, key=key, value=raw)
    return render_for(
        request,
        ctx,
        member,
        "contacts/_field_row.html",
        headers=_updated(contact_id, "fields"),
        entry=FieldEntry(field=definition, value=value),
        contact_id=contact_id,
        saved=True,
    )


# --- memos ------------------------------------------------------------------------------------


@router.get("/ui/contacts/{contact_id}/memos/new")
async def memo_form(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep, place: str | None = None
) -> Response:
    await contacts.get_contact(ctx.db, contact_id=contact_id)
    return render_for(
        request,
        ctx,
        member,
        "contacts/_memo_form.html",
        contact_id=contact_id,
        memo=None,
        place=place_of(place),
    )


@router.get("/ui/contacts/{contact_id}/memos/{memo_id}/edit")
async def memo_edit_form(
    contact_id: int,
    memo_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    place: str | None = None,
) -> Response:
    memo = await memos.get_memo(ctx.db, contact_id=contact_id, memo_id=memo_id)
    return render_for(
        request,
        ctx,
        member,
        "contacts/_memo_form.html",
        contact_id=contact_id,
        memo=memo,
        place=place_of(place),
    )


@router.post("/ui/contacts/{contact_id}/memos")
async def create_memo(
    contact_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    place: Annotated[str, Form()] = "",
) -> Response:
    """「メモ作成」: the new memo goes on top."""
    await memos.create_memo(ctx, contact_id=contact_id, title=title, body=body, author=member)
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="memos",
        place=place_of(place),
        saved=True,
    )


@router.post("/ui/contacts/{contact_id}/memos/order")
async def order_memos(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """A memo dragged to a new place: every memo's id in the new order."""
    form = await request.form()
    await memos.reorder_memos(ctx, contact_id=contact_id, ids=ids(form, "id"))
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="memos",
        place=place_of(text(form, "place")),
        saved=True,
    )


@router.post("/ui/contacts/{contact_id}/memos/{memo_id}")
async def update_memo(
    contact_id: int,
    memo_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    place: Annotated[str, Form()] = "",
) -> Response:
    await memos.update_memo(ctx, contact_id=contact_id, memo_id=memo_id, title=title, body=body)
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="memos",
        place=place_of(place),
        saved=True,
    )


@router.post("/ui/contacts/{contact_id}/memos/{memo_id}/delete")
async def delete_memo(
    contact_id: int,
    memo_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    place: Annotated[str, Form()] = "",
) -> Response:
    await memos.delete_memo(ctx, contact_id=contact_id, memo_id=memo_id)
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="memos",
        place=place_of(place),
        saved=True,
    )


@router.post("/ui/contacts/{contact_id}/memos/{memo_id}/move")
async def move_memo(
    contact_id: int,
    memo_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    direction: Annotated[str, Form()] = "up",
    place: Annotated[str, Form()] = "",
) -> Response:
    """The keyboard's way to reorder: one step up or down."""
    await memos.move_memo(ctx, contact_id=contact_id, memo_id=memo_id, direction=direction)
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="memos",
        place=place_of(place),
        saved=True,
        moved=memo_id,
        moved_direction=direction,
    )


# --- records (カルテ) -------------------------------------------------------------------------


def _book_values(book: RecordBook, form: FormData) -> dict[str, Any]:
    """Every field of the book from the form (empty ones clear)."""
    found: dict[str, Any] = {}
    for spec in book.fields:
        posted = [v for v in form.getlist(f"v.{spec['key']}") if isinstance(v, str)]
        found[spec["key"]] = (
            posted if spec["type"] == FieldType.multi_select else (posted[0] if posted else None)
        )
    return found


async def _contact_record(ctx: Ctx, *, contact_id: int, record_id: int) -> Record:
    record = await records.get_record(ctx.db, record_id=record_id)
    if record.contact_id != contact_id:
        raise NotFound("No record with id %(id)s.", id=record_id)
    return record


@router.get("/ui/contacts/{contact_id}/records/new")
async def record_form(
    contact_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    book: int = 0,
    place: str | None = None,
) -> Response:
    """「記録を追加」: the book's fields, dated now (Japan time) unless changed."""
    await contacts.get_contact(ctx.db, contact_id=contact_id)
    record_book_ = await records.find_book(ctx.db, book)
    return render_for(
        request,
        ctx,
        member,
        "contacts/_record_form.html",
        contact_id=contact_id,
        book=record_book_,
        record=None,
        at=local_input_value(ctx.now(), ctx.settings.timezone),
        place=place_of(place),
    )


@router.post("/ui/contacts/{contact_id}/records")
async def create_record(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    form = await request.form()
    book_ref = text(form, "book") or ""
    book = await records.find_book(ctx.db, int(book_ref) if book_ref.isdigit() else book_ref)
    await records.create_record(
        ctx,
        contact_id=contact_id,
        book=book.id,
        at=parse_local(text(form, "at")),
        values_=_book_values(book, form),
        author=member,
    )
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="records",
        place=place_of(text(form, "place")),
        saved=True,
    )


@router.get("/ui/contacts/{contact_id}/records/{record_id}/edit")
async def record_edit_form(
    contact_id: int,
    record_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    place: str | None = None,
) -> Response:
    record = await _contact_record(ctx, contact_id=contact_id, record_id=record_id)
    book = await records.find_book(ctx.db, record.book_id)
    return render_for(
        request,
        ctx,
        member,
        "contacts/_record_form.html",
        contact_id=contact_id,
        book=book,
        record=record,
        at=local_input_value(record.at, ctx.settings.timezone),
        place=place_of(place),
    )


@router.post("/ui/contacts/{contact_id}/records/{record_id}")
async def update_record(
    contact_id: int, record_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    form = await request.form()
    record = await _contact_record(ctx, contact_id=contact_id, record_id=record_id)
    book = await records.find_book(ctx.db, record.book_id)
    await records.update_record(
        ctx,
        record_id=record_id,
        at=parse_local(text(form, "at")),
        values_=_book_values(book, form),
    )
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="records",
        place=place_of(text(form, "place")),
        saved=True,
    )


@router.post("/ui/contacts/{contact_id}/records/{record_id}/delete")
async def delete_record(
    contact_id: int,
    record_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    place: Annotated[str, Form()] = "",
) -> Response:
    await _contact_record(ctx, contact_id=contact_id, record_id=record_id)
    await records.delete_record(ctx, record_id=record_id)
    return await part_response(
        request,
        ctx,
        member,
        contact_id=contact_id,
        part="records",
        place=place_of(place),
        saved=True,
    )


# --- colours of statuses and marks ------------------------------------------------------------


@router.get("/ui/palette.css")
async def palette(request: Request, _member: MemberDep, ctx: CtxDep) -> Response:
    """The workspace's colours of statuses, marks and conversation tags as classes (the pages
    allow no inline style).

    Revalidated on every page load (a 304 when nothing changed); the live script reloads it
    when a status or a mark changes.
    """
    lines = [
        f".tone-s{status.id}{{--tone:{status.color}}}"
        for status in await statuses.list_statuses(ctx.db)
    ]
    lines += [f".tone-m{mark.id}{{--tone:{mark.color}}}" for mark in await marks.list_marks(ctx.db)]
    lines += [
        f".tone-t{tag.id}{{--tone:{tag.color}}}"
        for tag in await workflow.list_conversation_tags(ctx.db)
    ]
    css = "\n".join(lines) + "\n"
    etag = '"' + hashlib.sha256(css.encode()).hexdigest()[:16] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(css, media_type="text/css", headers=headers)


# --- the contact page -------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactPage:
    panel: Panel
    conversations: list[InboxItem]


async def _contact_page(ctx: Ctx, member: Member, contact_id: int) -> ContactPage:
    panel = await load_panel(ctx, member, contact_id=contact_id, place=Place.page)
    opened = [
        await conversations.get_conversation(ctx.db, conversation_id=cid)
        for cid in panel.detail.conversation_ids
    ]
    items = await conversation_repository.inbox_items(
        ctx.db, member_id=member.id, conversations=opened
    )
    items.sort(key=lambda item: item.conversation.last_activity_at, reverse=True)
    return ContactPage(panel=panel, conversations=items)


async def _unread_total(ctx: Ctx, member: Member) -> int:
    return await conversation_repository.unread_total(ctx.db, member_id=member.id)


CONTACT_PAGE_SIZE = 50


@router.get("/contacts")
async def contact_list(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    q: str | None = None,
    before: int | None = None,
    sort: str | None = None,
) -> Response:
    """お客様一覧: everyone, newest first or by reading (五十音順), with or without a chat — the
    customers added by hand or imported from Excel live here until they write."""
    searched = search_text(q)
    order = (
        contact_repository.ContactSort.reading
        if sort == "reading"
        else contact_repository.ContactSort.newest
    )
    page = await contact_repository.list_contacts(
        ctx.db,
        conditions=filters.from_params(q=searched),
        member_id=member.id,
        timezone=ctx.settings.timezone,
        limit=CONTACT_PAGE_SIZE,
        before_id=before,
        now=ctx.now(),
        sort=order,
    )
    return render_for(
        request,
        ctx,
        member,
        "contacts/index.html",
        unread_total=await _unread_total(ctx, member),
        q=searched,
        sort=order.value,
        details=await contact_repository.details(ctx.db, page.contacts),
        next_cursor=page.next_cursor,
        paged=before is not None,
    )


@router.get("/contacts/new")
async def new_contact_page(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """「お客様を追加」: a customer from paper or Excel, with no chat yet."""
    return render_for(
        request,
        ctx,
        member,
        "contacts/new.html",
        unread_total=await _unread_total(ctx, member),
        values={},
        error=None,
    )


@router.post("/contacts/new")
async def create_contact(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    display_name: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
) -> Response:
    try:
        contact = await contacts.create_contact(
            ctx, display_name=display_name, email=email or None, phone=phone or None
        )
    except DomainError as error:
        await after_error(ctx, member)
        return render_for(
            request,
            ctx,
            member,
            "contacts/new.html",
            status_code=error.status_code,
            unread_total=await _unread_total(ctx, member),
            values={"display_name": display_name, "email": email, "phone": phone},
            error=error_message(error, member.language),
        )
    return RedirectResponse(f"/contacts/{contact.id}?done=created", status_code=303)


# --- merging (F43) ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    """A contact that may be the same person as the one shown, and why."""

    detail: contact_repository.ContactDetail
    reasons: list[str]


async def _suggestions(ctx: Ctx, contact_id: int) -> list[Suggestion]:
    pairs = await merging.duplicate_pairs(ctx.db, contact_id=contact_id, limit=10)
    others = await contact_repository.by_ids(ctx.db, {p.other_id for p in pairs})
    details = {d.contact.id: d for d in await contact_repository.details(ctx.db, others)}
    return [Suggestion(details[p.other_id], list(p.reasons)) for p in pairs]


@router.get("/contacts/duplicates")
async def duplicates_page(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """「同じ人かもしれません」: every pair that shares a phone, an e-mail or a reading."""
    pairs = await merging.duplicate_pairs(ctx.db, limit=200)
    found = await contact_repository.by_ids(
        ctx.db, {i for p in pairs for i in (p.contact_id, p.other_id)}
    )
    details = {d.contact.id: d for d in await contact_repository.details(ctx.db, found)}
    return render_for(
        request,
        ctx,
        member,
        "contacts/duplicates.html",
        unread_total=await _unread_total(ctx, member),
        pairs=[(details[p.contact_id], details[p.other_id], p.reasons) for p in pairs],
    )


async def _merge_page(
    request: Request,
    ctx: Ctx,
    member: Member,
    contact_id: int,
    other_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    this = await contacts.get_contact(ctx.db, contact_id=contact_id)
    other = await contacts.get_contact(ctx.db, contact_id=other_id)
    this_detail, other_detail = await contact_repository.details(ctx.db, [this, other])
    return render_for(
        request,
        ctx,
        member,
        "contacts/merge.html",
        status_code=status_code,
        unread_total=await _unread_total(ctx, member),
        this=this_detail,
        other=other_detail,
        differences=await merging.differences(ctx.db, this, other),
        built_in=merging.BUILT_IN,
        error=error,
    )


@router.get("/contacts/{contact_id}/merge")
async def merge_dialog(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep, other: int | None = None
) -> Response:
    """「統合」: the two contacts, and for each field both fill differently, whose to keep."""
    try:
        if other is None:
            raise NotFound("Choose the customer to merge into this one.")
        return await _merge_page(request, ctx, member, contact_id, other)
    except DomainError as error:
        return await _missing(request, ctx, member, error)


@router.post("/contacts/{contact_id}/merge")
async def merge_contacts(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    form = await request.form()
    other = ids(form, "other")
    keep = {
        name.removeprefix("keep:"): value
        for name, value in form.multi_items()
        if name.startswith("keep:") and isinstance(value, str)
    }
    try:
        if len(other) != 1:
            raise NotFound("Choose the customer to merge into this one.")
        await merging.merge_contacts(
            ctx, contact_id=contact_id, other_id=other[0], keep=keep, actor=member
        )
    except DomainError as error:
        await after_error(ctx, member)
        try:
            return await _merge_page(
                request,
                ctx,
                member,
                contact_id,
                other[0] if other else 0,
                error=error_message(error, member.language),
                status_code=error.status_code,
            )
        except DomainError:
            return await _missing(request, ctx, member, error)
    return RedirectResponse(f"/contacts/{contact_id}?done=merged", status_code=303)


async def _unmerge_page(
    request: Request,
    ctx: Ctx,
    member: Member,
    contact_id: int,
    merge_id: int,
    *,
    error: DomainError | None = None,
) -> Response:
    """「統合を取り消す」's confirmation, or why the merge cannot be undone (with the way back)."""
    entry = None
    if error is None:
        try:
            entry = await merging.merge_to_undo(ctx, merge_id=merge_id, contact_id=contact_id)
        except DomainError as refused:
            error = refused
    return render_for(
        request,
        ctx,
        member,
        "contacts/unmerge.html",
        status_code=error.status_code if error else 200,
        unread_total=await _unread_total(ctx, member),
        contact_id=contact_id,
        entry=entry,
        error=error_message(error, member.language) if error else None,
    )


@router.get("/contacts/{contact_id}/merges/{merge_id}/undo")
async def unmerge_dialog(
    contact_id: int, merge_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「統合を取り消す」: what goes back to the other customer, then a button (a form)."""
    return await _unmerge_page(request, ctx, member, contact_id, merge_id)


@router.post("/contacts/{contact_id}/merges/{merge_id}/undo")
async def unmerge(
    contact_id: int, merge_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    try:
        kept, restored = await merging.undo_merge(
            ctx, merge_id=merge_id, contact_id=contact_id, actor=member
        )
    except DomainError as error:
        await after_error(ctx, member)
        return await _unmerge_page(request, ctx, member, contact_id, merge_id, error=error)
    return RedirectResponse(
        f"/contacts/{kept.id}?done=unmerged&restored={restored.id}", status_code=303
    )


@router.get("/contacts/{contact_id}")
async def contact_page(
    contact_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    done: str | None = None,
    restored: str | None = None,
) -> Response:
    """お客様詳細ページ: everything kept about them, their conversations, and what can be
    done to them (非表示, ブロック, 削除). A contact merged into another: that one's page.
    ``restored``: the contact an undone merge gave back (its name in the notice)."""
    kept = await merging.merged_target(ctx.db, contact_id) if is_id(contact_id) else None
    if kept is not None:
        return RedirectResponse(f"/contacts/{kept}", status_code=303)
    try:
        page = await _contact_page(ctx, member, contact_id)
    except DomainError as error:
        return await _missing(request, ctx, member, error)
    return render_for(
        request,
        ctx,
        member,
        "contacts/page.html",
        unread_total=await _unread_total(ctx, member),
        page=page,
        panel=page.panel,
        done=done,
        suggestions=await _suggestions(ctx, contact_id),
        merges=await merging.merges_into(ctx, contact_id=contact_id),
        restored=await _restored(ctx, restored) if done == "unmerged" else None,
        **await _form_answers(ctx, contact_id),
    )


async def _restored(ctx: Ctx, ident: str | None) -> Contact | None:
    """The contact named in the notice after an undone merge (nothing for a bad id)."""
    if ident is None or not ident.isdigit() or not is_id(int(ident)):
        return None
    return await ctx.db.get(Contact, int(ident))


async def _form_answers(ctx: Ctx, contact_id: int) -> dict[str, Any]:
    """What the page's アンケート card shows."""
    return {
        "form_answers": await forms.contact_answers(ctx.db, contact_id=contact_id),
        "form_links": await forms.contact_links(ctx, contact_id=contact_id),
        "shown_answer": forms.shown_answer,
    }


@router.get("/ui/contacts/{contact_id}/form-answers")
async def form_answers_card(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The page's アンケート card alone, fresh: what live.js places after ``form.answered``."""
    try:
        contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    except DomainError as error:
        return error_text(error, member.language)
    return render_for(
        request,
        ctx,
        member,
        "forms/_contact_answers.html",
        contact=contact,
        **await _form_answers(ctx, contact_id),
    )


async def _switch(
    request: Request,
    ctx: Ctx,
    member: Member,
    contact_id: int,
    changes: contacts.ContactChanges,
    done: str,
) -> Response:
    try:
        await contacts.update_contact(ctx, contact_id=contact_id, changes=changes)
    except DomainError as error:
        await after_error(ctx, member)
        return await _missing(request, ctx, member, error)
    return RedirectResponse(f"/contacts/{contact_id}?done={done}", status_code=303)


async def _missing(request: Request, ctx: Ctx, member: Member, error: DomainError) -> Response:
    return render_for(
        request,
        ctx,
        member,
        "contacts/missing.html",
        status_code=error.status_code,
        unread_total=await _unread_total(ctx, member),
        error=error_message(error, member.language),
    )


@router.post("/contacts/{contact_id}/hide")
async def hide_contact(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """非表示: out of the inbox, listed under 非表示中 until shown again."""
    changes = contacts.ContactChanges(hidden=True)
    return await _switch(request, ctx, member, contact_id, changes, "hidden")


@router.post("/contacts/{contact_id}/show")
async def show_contact(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    changes = contacts.ContactChanges(hidden=False)
    return await _switch(request, ctx, member, contact_id, changes, "shown")


@router.post("/contacts/{contact_id}/block")
async def block_contact(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """ブロック: their messages are still kept, but no longer raise the conversation."""
    changes = contacts.ContactChanges(blocked=True)
    return await _switch(request, ctx, member, contact_id, changes, "blocked")


@router.post("/contacts/{contact_id}/unblock")
async def unblock_contact(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    changes = contacts.ContactChanges(blocked=False)
    return await _switch(request, ctx, member, contact_id, changes, "unblocked")


@router.get("/contacts/{contact_id}/delete")
async def confirm_delete(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「このお客様を削除」 asks first, saying what goes with them (owners and admins only)."""
    try:
        contacts.ensure_can_delete(member)
        page = await _contact_page(ctx, member, contact_id)
    except DomainError as error:
        return await _missing(request, ctx, member, error)
    record_count = sum(len(book.records) for book in page.panel.books)
    return render_for(
        request,
        ctx,
        member,
        "contacts/delete.html",
        unread_total=await _unread_total(ctx, member),
        page=page,
        panel=page.panel,
        record_count=record_count,
    )


@router.post("/contacts/{contact_id}/delete")
async def delete_contact(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    try:
        await workflow.delete_contact(ctx, contact_id=contact_id, actor=member)
    except DomainError as error:
        await after_error(ctx, member)
        return await _missing(request, ctx, member, error)
    return RedirectResponse("/?deleted=1", status_code=303)
