"""``/api/v1``: statuses, marks, tags, fields, record books, and a contact's CRM parts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from madoguchi.crm import fields, marks, memos, records, statuses, tags
from madoguchi.crm.contact import get_contact
from madoguchi.crm.schemas import (
    FieldCreate,
    FieldFolderCreate,
    FieldFolderOut,
    FieldOut,
    FieldUpdate,
    FieldValueIn,
    FieldValueOut,
    MarkOut,
    MarkSet,
    MemoCreate,
    MemoOut,
    MemoUpdate,
    Order,
    RecordBookCreate,
    RecordBookOut,
    RecordBookUpdate,
    RecordCreate,
    RecordOut,
    RecordUpdate,
    StatusCreate,
    StatusOut,
    StatusUpdate,
    TagCreate,
    TagFolderCreate,
    TagFolderOut,
    TagOut,
    TagsSet,
    TagUpdate,
)
from madoguchi.kit.schemas import Items
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager

router = APIRouter(prefix="/api/v1", tags=["crm"])


def _no_content() -> Response:
    return Response(status_code=204)


# --- statuses ---------------------------------------------------------------------------------


@router.get("/statuses", response_model=Items[StatusOut])
async def list_statuses(_member: MemberDep, ctx: CtxDep) -> Items[StatusOut]:
    """The workspace's support statuses, in order."""
    return Items(items=[StatusOut.model_validate(s) for s in await statuses.list_statuses(ctx.db)])


@router.post("/statuses", response_model=StatusOut, status_code=201)
async def create_status(body: StatusCreate, member: MemberDep, ctx: CtxDep) -> Any:
    ensure_manager(member)
    return await statuses.create_status(ctx, name=body.name, color=body.color)


@router.patch("/statuses/{status_id}", response_model=StatusOut)
async def update_status(status_id: int, body: StatusUpdate, member: MemberDep, ctx: CtxDep) -> Any:
    ensure_manager(member)
    return await statuses.update_status(ctx, status_id=status_id, name=body.name, color=body.color)


@router.delete("/statuses/{status_id}", status_code=204)
async def delete_status(status_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete a status; the contacts that had it are left with none."""
    ensure_manager(member)
    await statuses.delete_status(ctx, status_id=status_id)
    return _no_content()


@router.put("/statuses/order", response_model=Items[StatusOut])
async def order_statuses(body: Order, member: MemberDep, ctx: CtxDep) -> Items[StatusOut]:
    ensure_manager(member)
    ordered = await statuses.reorder_statuses(ctx, ids=body.ids)
    return Items(items=[StatusOut.model_validate(s) for s in ordered])


# --- marks ------------------------------------------------------------------------------------


@router.get("/marks", response_model=Items[MarkOut])
async def list_marks(_member: MemberDep, ctx: CtxDep) -> Items[MarkOut]:
    return Items(items=[MarkOut.model_validate(m) for m in await marks.list_marks(ctx.db)])


@router.patch("/marks/{mark_id}", response_model=MarkOut)
async def update_mark(mark_id: int, body: StatusUpdate, member: MemberDep, ctx: CtxDep) -> Any:
    """Rename (the last six only) or recolour a mark."""
    ensure_manager(member)
    return await marks.update_mark(ctx, mark_id=mark_id, name=body.name, color=body.color)


@router.put("/messages/{message_id}/mark", status_code=204)
async def mark_message(message_id: int, body: MarkSet, _member: MemberDep, ctx: CtxDep) -> Response:
    """Mark one message (``{"mark": id or name}``; ``null`` clears it)."""
    await marks.mark_message(ctx, message_id=message_id, mark=body.mark)
    return _no_content()


# --- tags -------------------------------------------------------------------------------------


@router.get("/tag-folders", response_model=Items[TagFolderOut])
async def list_tag_folders(_member: MemberDep, ctx: CtxDep) -> Items[TagFolderOut]:
    return Items(items=[TagFolderOut.model_validate(f) for f in await tags.list_folders(ctx.db)])


@router.post("/tag-folders", response_model=TagFolderOut, status_code=201)
async def create_tag_folder(body: TagFolderCreate, member: MemberDep, ctx: CtxDep) -> Any:
    return await tags.create_folder(ctx, actor=member, name=body.name, parent_id=body.parent_id)


@router.patch("/tag-folders/{folder_id}", response_model=TagFolderOut)
async def rename_tag_folder(
    folder_id: int, body: TagFolderCreate, member: MemberDep, ctx: CtxDep
) -> Any:
    return await tags.rename_folder(ctx, actor=member, folder_id=folder_id, name=body.name)


@router.delete("/tag-folders/{folder_id}", status_code=204)
async def delete_tag_folder(folder_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete a folder; its tags stay, outside any folder."""
    await tags.delete_folder(ctx, actor=member, folder_id=folder_id)
    return _no_content()


@router.get("/tags", response_model=Items[TagOut])
async def list_tags(_member: MemberDep, ctx: CtxDep) -> Items[TagOut]:
    return Items(items=[TagOut.model_validate(t) for t in await tags.list_tags(ctx.db)])


@router.post("/tags", response_model=TagOut, status_code=201)
async def create_tag(body: TagCreate, member: MemberDep, ctx: CtxDep) -> Any:
    """A tag (any member may make one); ``folder`` is a folder's id, or a name (a new folder is
    made for a new name, by an owner or an admin)."""
    return await tags.create_tag(ctx, actor=member, name=body.name, folder=body.folder)


@router.patch("/tags/{tag_id}", response_model=TagOut)
async def update_tag(tag_id: int, body: TagUpdate, member: MemberDep, ctx: CtxDep) -> Any:
    return await tags.update_tag(
        ctx,
        actor=member,
        tag_id=tag_id,
        name=body.name,
        folder=body.folder,
        move="folder" in body.model_fields_set,
    )


@router.delete("/tags/{tag_id}", status_code=204)
async def delete_tag(tag_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    await tags.delete_tag(ctx, actor=member, tag_id=tag_id)
    return _no_content()


@router.put("/contacts/{contact_id}/tags/{tag_id}", status_code=204)
async def add_contact_tag(
    contact_id: int, tag_id: int, _member: MemberDep, ctx: CtxDep
) -> Response:
    await tags.add_tag(ctx, contact_id=contact_id, tag_id=tag_id)
    return _no_content()


@router.delete("/contacts/{contact_id}/tags/{tag_id}", status_code=204)
async def remove_contact_tag(
    contact_id: int, tag_id: int, _member: MemberDep, ctx: CtxDep
) -> Response:
    await tags.remove_tag(ctx, contact_id=contact_id, tag_id=tag_id)
    return _no_content()


@router.put("/contacts/{contact_id}/tags", response_model=Items[TagOut])
async def set_contact_tags(
    contact_id: int, body: TagsSet, _member: MemberDep, ctx: CtxDep
) -> Items[TagOut]:
    """Make the contact's tags exactly these."""
    result = await tags.set_tags(ctx, contact_id=contact_id, tag_ids=body.ids)
    return Items(items=[TagOut.model_validate(t) for t in result])


# --- profile fields ---------------------------------------------------------------------------


@router.get("/field-folders", response_model=Items[FieldFolderOut])
async def list_field_folders(_member: MemberDep, ctx: CtxDep) -> Items[FieldFolderOut]:
    return Items(
        items=[FieldFolderOut.model_validate(f) for f in await fields.list_folders(ctx.db)]
    )


@router.post("/field-folders", response_model=FieldFolderOut, status_code=201)
async def create_field_folder(body: FieldFolderCreate, member: MemberDep, ctx: CtxDep) -> Any:
    ensure_manager(member)
    return await fields.create_folder(ctx, name=body.name)


@router.delete("/field-folders/{folder_id}", status_code=204)
async def delete_field_folder(folder_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await fields.delete_folder(ctx, folder_id=folder_id)
    return _no_content()


@router.get("/fields", response_model=Items[FieldOut])
async def list_fields(_member: MemberDep, ctx: CtxDep) -> Items[FieldOut]:
    return Items(items=[FieldOut.model_validate(f) for f in await fields.list_fields(ctx.db)])


@router.post("/fields", response_model=FieldOut, status_code=201)
async def create_field(body: FieldCreate, member: MemberDep, ctx: CtxDep) -> Any:
    """A profile field; ``folder`` is an id or a name (made if new)."""
    ensure_manager(member)
    return await fields.create_field(
        ctx,
        key=body.key,
        label=body.label,
        type=body.type,
        folder=body.folder,
        options=body.options,
        show_in_chat=body.show_in_chat,
    )


@router.patch("/fields/{field_id}", response_model=FieldOut)
async def update_field(field_id: int, body: FieldUpdate, member: MemberDep, ctx: CtxDep) -> Any:
    """Label, folder, choices and 表示設定 (``show_in_chat``); the key and type stay."""
    ensure_manager(member)
    return await fields.update_field(
        ctx,
        field_id=field_id,
        changes=fields.FieldChanges(
            label=body.label,
            folder=body.folder,
            move="folder" in body.model_fields_set,
            options=body.options,
            show_in_chat=body.show_in_chat,
        ),
    )


@router.put("/fields/order", response_model=Items[FieldOut])
async def order_fields(body: Order, member: MemberDep, ctx: CtxDep) -> Items[FieldOut]:
    ensure_manager(member)
    return Items(
        items=[FieldOut.model_validate(f) for f in await fields.reorder_fields(ctx, ids=body.ids)]
    )


@router.delete("/fields/{field_id}", status_code=204)
async def delete_field(field_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete a field with every contact's value of it."""
    ensure_manager(member)
    await fields.delete_field(ctx, field_id=field_id)
    return _no_content()


@router.get("/contacts/{contact_id}/fields", response_model=dict[str, Any])
async def get_contact_fields(contact_id: int, _member: MemberDep, ctx: CtxDep) -> dict[str, Any]:
    """The contact's values by field key."""
    await get_contact(ctx.db, contact_id=contact_id)
    return (await fields.contact_values(ctx.db, contact_ids=[contact_id]))[contact_id]


@router.put("/contacts/{contact_id}/fields/{key}", response_model=FieldValueOut)
async def set_contact_field(
    contact_id: int, key: str, body: FieldValueIn, _member: MemberDep, ctx: CtxDep
) -> FieldValueOut:
    """Set a value, checked against the field's type (``null`` or ``""`` clears it)."""
    value = await fields.set_value(ctx, contact_id=contact_id, key=key, value=body.value)
    return FieldValueOut(key=key, value=value)


@router.delete("/contacts/{contact_id}/fields/{key}", status_code=204)
async def clear_contact_field(
    contact_id: int, key: str, _member: MemberDep, ctx: CtxDep
) -> Response:
    await fields.set_value(ctx, contact_id=contact_id, key=key, value=None)
    return _no_content()


# --- memos ------------------------------------------------------------------------------------


@router.get("/contacts/{contact_id}/memos", response_model=Items[MemoOut])
async def list_memos(contact_id: int, _member: MemberDep, ctx: CtxDep) -> Items[MemoOut]:
    """The contact's memos, in their order."""
    found = await memos.list_memos(ctx.db, contact_id=contact_id)
    return Items(items=[MemoOut.model_validate(m) for m in found])


@router.post("/contacts/{contact_id}/memos", response_model=MemoOut, status_code=201)
async def create_memo(contact_id: int, body: MemoCreate, member: MemberDep, ctx: CtxDep) -> Any:
    return await memos.create_memo(
        ctx, contact_id=contact_id, title=body.title, body=body.body, author=member
    )


@router.put("/contacts/{contact_id}/memos/order", response_model=Items[MemoOut])
async def order_memos(
    contact_id: int, body: Order, _member: MemberDep, ctx: CtxDep
) -> Items[MemoOut]:
    """Reorder the memos: ``{"ids": [...]}`` lists every memo of the contact once."""
    ordered = await memos.reorder_memos(ctx, contact_id=contact_id, ids=body.ids)
    return Items(items=[MemoOut.model_validate(m) for m in ordered])


@router.patch("/contacts/{contact_id}/memos/{memo_id}", response_model=MemoOut)
async def update_memo(
    contact_id: int, memo_id: int, body: MemoUpdate, _member: MemberDep, ctx: CtxDep
) -> Any:
    return await memos.update_memo(
        ctx, contact_id=contact_id, memo_id=memo_id, title=body.title, body=body.body
    )


@router.delete("/contacts/{contact_id}/memos/{memo_id}", status_code=204)
async def delete_memo(contact_id: int, memo_id: int, _member: MemberDep, ctx: CtxDep) -> Response:
    await memos.delete_memo(ctx, contact_id=contact_id, memo_id=memo_id)
    return _no_content()


# --- record books and records -----------------------------------------------------------------


@router.get("/record-books", response_model=Items[RecordBookOut])
async def list_books(_member: MemberDep, ctx: CtxDep) -> Items[RecordBookOut]:
    return Items(items=[RecordBookOut.model_validate(b) for b in await records.list_books(ctx.db)])


@router.post("/record-books", response_model=RecordBookOut, status_code=201)
async def create_book(body: RecordBookCreate, member: MemberDep, ctx: CtxDep) -> Any:
    ensure_manager(member)
    return await records.create_book(
        ctx, name=body.name, fields=[f.model_dump() for f in body.fields]
    )


@router.patch("/record-books/{book_id}", response_model=RecordBookOut)
async def update_book(book_id: int, body: RecordBookUpdate, member: MemberDep, ctx: CtxDep) -> Any:
    ensure_manager(member)
    return await records.update_book(
        ctx,
        book_id=book_id,
        name=body.name,
        fields=None if body.fields is None else [f.model_dump() for f in body.fields],
    )


@router.delete("/record-books/{book_id}", status_code=204)
async def delete_book(book_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete a book with all its records."""
    ensure_manager(member)
    await records.delete_book(ctx, book_id=book_id)
    return _no_content()


@router.get("/contacts/{contact_id}/records", response_model=Items[RecordOut])
async def list_records(
    contact_id: int, _member: MemberDep, ctx: CtxDep, book: str | None = None
) -> Items[RecordOut]:
    """The contact's records, newest first (``book``: one book's, by id or name)."""
    ref: int | str | None = int(book) if book is not None and book.isdigit() else book
    found = await records.list_records(ctx.db, contact_id=contact_id, book=ref)
    return Items(items=[RecordOut.model_validate(r) for r in found])


@router.post("/contacts/{contact_id}/records", response_model=RecordOut, status_code=201)
async def create_record(contact_id: int, body: RecordCreate, member: MemberDep, ctx: CtxDep) -> Any:
    """A dated record (``at`` in ISO 8601; without a zone it is the workspace's local time)."""
    return await records.create_record(
        ctx, contact_id=contact_id, book=body.book, at=body.at, values_=body.values, author=member
    )


@router.get("/records/{record_id}", response_model=RecordOut)
async def get_record(record_id: int, _member: MemberDep, ctx: CtxDep) -> Any:
    return await records.get_record(ctx.db, record_id=record_id)


@router.patch("/records/{record_id}", response_model=RecordOut)
async def update_record(record_id: int, body: RecordUpdate, _member: MemberDep, ctx: CtxDep) -> Any:
    return await records.update_record(ctx, record_id=record_id, at=body.at, values_=body.values)


@router.delete("/records/{record_id}", status_code=204)
async def delete_record(record_id: int, _member: MemberDep, ctx: CtxDep) -> Response:
    await records.delete_record(ctx, record_id=record_id)
    return _no_content()
