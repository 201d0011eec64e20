"""Workspace settings: パーソナル情報 (profile fields in folders, 表示設定) and カルテ (record
books with their own fields)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.crm import fields, records
from madoguchi.crm.models import FieldType, FieldValue, Record
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import NotFound
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import (
    N_,
    FormText,
    SettingsPage,
    act,
    add_page,
    as_id,
    by_folder,
    choices_from,
    counts_by,
    moved,
    moved_notice,
    translated,
)

router = APIRouter()

FIELD_TYPES: tuple[tuple[str, str], ...] = (
    (FieldType.text, N_("Text (one line)")),
    (FieldType.long_text, N_("Long text")),
    (FieldType.number, N_("Number")),
    (FieldType.date, N_("Date")),
    (FieldType.select, N_("Select (one choice)")),
    (FieldType.multi_select, N_("Multi-select")),
    (FieldType.phone, N_("Phone number")),
    (FieldType.email, N_("E-mail address")),
    (FieldType.url, N_("Web address (URL)")),
)
SELECT_TYPES = frozenset({FieldType.select, FieldType.multi_select})


def _options(field_type: str, text: str) -> list[str] | None:
    """Choices for the select types; other types take none."""
    return choices_from(text) if field_type in SELECT_TYPES else None


def _field_draft(
    *,
    key: str = "",
    label: str,
    field_type: str = "",
    folder_id: str,
    options: str,
    show_in_chat: bool = True,
) -> dict[str, Any]:
    """What was typed in a field's form, to give it back when it is refused."""
    return {
        "key": key,
        "label": label,
        "type": field_type,
        "folder_id": as_id(folder_id),
        "options": options,
        "show_in_chat": show_in_chat,
    }


# --- パーソナル情報 ------------------------------------------------------------------------------


async def _fields(ctx: Ctx) -> dict[str, Any]:
    folders = await fields.list_folders(ctx.db)
    all_fields = await fields.list_fields(ctx.db)
    return {
        "folders": folders,
        "fields_in": by_folder(all_fields),
        "field_count": len(all_fields),
        "field_types": FIELD_TYPES,
        "select_types": SELECT_TYPES,
        "values_by_field": await counts_by(ctx.db, FieldValue.field_id),
    }


FIELDS = SettingsPage("fields", _fields)


add_page(router, FIELDS)


@router.post("/settings/fields")
async def add_field(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    key: FormText = "",
    label: FormText = "",
    type: FormText = FieldType.text,
    folder_id: FormText = "",
    options: FormText = "",
    show_in_chat: FormText = "",
) -> Response:
    return await act(
        request,
        ctx,
        member,
        FIELDS,
        lambda: fields.create_field(
            ctx,
            key=key,
            label=label,
            type=type,
            folder=as_id(folder_id),
            options=_options(type, options),
            show_in_chat=show_in_chat == "1",
        ),
        at="new-field",
        notice=translated(member, N_("Added the field %(name)s."), name=label.strip()),
        draft=_field_draft(
            key=key,
            label=label,
            field_type=type,
            folder_id=folder_id,
            options=options,
            show_in_chat=show_in_chat == "1",
        ),
    )


@router.post("/settings/fields/{field_id}/update")
async def update_field(
    field_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    label: FormText = "",
    folder_id: FormText = "",
    options: FormText = "",
) -> Response:
    """Label, folder and choices (the key and the type stay: values are kept by them)."""

    async def change() -> None:
        field = await fields.get_field(ctx.db, field_id=field_id)
        changes = fields.FieldChanges(
            label=label,
            folder=as_id(folder_id),
            move=True,
            options=_options(field.type, options),
        )
        await fields.update_field(ctx, field_id=field_id, changes=changes)

    return await act(
        request,
        ctx,
        member,
        FIELDS,
        change,
        at=f"field-{field_id}",
        draft=_field_draft(label=label, folder_id=folder_id, options=options),
    )


@router.post("/settings/fields/{field_id}/chat")
async def show_field_in_chat(
    field_id: int, request: Request, member: MemberDep, ctx: CtxDep, show_in_chat: FormText = ""
) -> Response:
    """表示設定: whether the chat's side panel shows the field."""
    shown = show_in_chat == "1"
    notice = N_("Shown in the chat.") if shown else N_("No longer shown in the chat.")
    return await act(
        request,
        ctx,
        member,
        FIELDS,
        lambda: fields.update_field(
            ctx, field_id=field_id, changes=fields.FieldChanges(show_in_chat=shown)
        ),
        at=f"field-{field_id}",
        notice=translated(member, notice),
        quiet=True,  # the switch shows it, and keeps the focus
    )


async def _field_ids(ctx: Ctx) -> list[int]:
    return [field.id for field in await fields.list_fields(ctx.db)]


async def _fields_beside(ctx: Ctx, field_id: int) -> list[int]:
    """The fields of the folder ``field_id`` is in: those it moves among."""
    field = await fields.get_field(ctx.db, field_id=field_id)
    return [f.id for f in await fields.list_fields(ctx.db) if f.folder_id == field.folder_id]


# Adding and changing a field stay routes of their own (above): the form sends a key, a type,
# choices and 表示設定, not a name, a colour and a folder. Fields are ordered inside their folders.
NamedList(
    FIELDS,
    "/settings/fields",
    "field",
    ids=_field_ids,
    order=lambda ctx, ids: fields.reorder_fields(ctx, ids=ids),
    group=_fields_beside,
    delete=lambda ctx, _, field_id: fields.delete_field(ctx, field_id=field_id),
    deleted=N_("Deleted the field %(name)s and its values."),
).register(router)


NamedList(
    FIELDS,
    "/settings/field-folders",
    "field-folder",
    create=lambda ctx, _, item: fields.create_folder(ctx, name=item.name),
    added=N_("Added the folder %(name)s."),
    delete=lambda ctx, _, folder_id: fields.delete_folder(ctx, folder_id=folder_id),
    deleted=N_("Deleted the folder %(name)s; its fields are now outside any folder."),
).register(router)


# --- カルテ (record books) --------------------------------------------------------------------


async def _record_books(ctx: Ctx) -> dict[str, Any]:
    return {
        "books": await records.list_books(ctx.db),
        "records_by_book": await counts_by(ctx.db, Record.book_id),
        "field_types": FIELD_TYPES,
        "select_types": SELECT_TYPES,
    }


RECORD_BOOKS = SettingsPage("record_books", _record_books)


def _book_field_index(book_fields: list[dict[str, Any]], key: str) -> int:
    for index, field in enumerate(book_fields):
        if field["key"] == key:
            return index
    raise NotFound("No field with the key %(key)s.", key=key)


async def _change_book_fields(
    ctx: Ctx, book_id: int, change: Callable[[list[dict[str, Any]]], None]
) -> None:
    """Give the book a changed copy of its fields (the list is stored whole)."""
    book = await records.find_book(ctx.db, book_id)
    book_fields = [dict(field) for field in book.fields]
    change(book_fields)
    await records.update_book(ctx, book_id=book_id, fields=book_fields)


add_page(router, RECORD_BOOKS)


NamedList(
    RECORD_BOOKS,
    "/settings/record-books",
    "book",
    create=lambda ctx, _, item: records.create_book(ctx, name=item.name, fields=[]),
    added=N_("Added the record book %(name)s: now give it fields."),
    rename=lambda ctx, _, book_id, item: records.update_book(ctx, book_id=book_id, name=item.name),
    delete=lambda ctx, _, book_id: records.delete_book(ctx, book_id=book_id),
    deleted=N_("Deleted the record book %(name)s with its records."),
).register(router)


# A book's fields are not a NamedList: they are not rows but a list kept whole in the book,
# named by their keys under the book's path.
@router.post("/settings/record-books/{book_id}/fields")
async def add_record_book_field(
    book_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    key: FormText = "",
    label: FormText = "",
    type: FormText = FieldType.text,
    options: FormText = "",
) -> Response:
    new_field = {"key": key, "label": label, "type": type, "options": _options(type, options)}
    return await act(
        request,
        ctx,
        member,
        RECORD_BOOKS,
        lambda: _change_book_fields(
            ctx, book_id, lambda book_fields: book_fields.append(new_field)
        ),
        at=f"book-{book_id}-new-field",
        notice=translated(member, N_("Added the field %(name)s."), name=label.strip()),
        draft={"key": key, "label": label, "type": type, "options": options},
    )


@router.post("/settings/record-books/{book_id}/fields/{key}/update")
async def update_record_book_field(
    book_id: int,
    key: str,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    label: FormText = "",
    options: FormText = "",
) -> Response:
    def change(book_fields: list[dict[str, Any]]) -> None:
        field = book_fields[_book_field_index(book_fields, key)]
        field["label"] = label
        field["options"] = _options(field["type"], options)

    return await act(
        request,
        ctx,
        member,
        RECORD_BOOKS,
        lambda: _change_book_fields(ctx, book_id, change),
        at=f"book-{book_id}-field-{key}",
        draft={"label": label, "options": options},
    )


@router.post("/settings/record-books/{book_id}/fields/{key}/move")
async def move_record_book_field(
    book_id: int,
    key: str,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    direction: FormText = "",
) -> Response:
    def change(book_fields: list[dict[str, Any]]) -> None:
        index = _book_field_index(book_fields, key)
        order = moved(list(range(len(book_fields))), index, direction)
        book_fields[:] = [book_fields[i] for i in order]

    return await act(
        request,
        ctx,
        member,
        RECORD_BOOKS,
        lambda: _change_book_fields(ctx, book_id, change),
        at=f"book-{book_id}-field-{key}",
        notice=moved_notice(member, direction),
        quiet=True,
    )


@router.post("/settings/record-books/{book_id}/fields/{key}/delete")
async def delete_record_book_field(
    book_id: int,
    key: str,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
) -> Response:
    def change(book_fields: list[dict[str, Any]]) -> None:
        del book_fields[_book_field_index(book_fields, key)]

    return await act(
        request,
        ctx,
        member,
        RECORD_BOOKS,
        lambda: _change_book_fields(ctx, book_id, change),
        at=f"book-{book_id}-field-{key}",
        notice=translated(member, N_("Removed the field %(name)s."), name=name),
        notice_at=f"book-{book_id}",
    )
