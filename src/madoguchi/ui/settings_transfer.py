"""Workspace settings: インポート / エクスポート of contacts (CSV in UTF-8 or Shift_JIS, Excel).

Importing is two steps on one form, so that nothing is kept on the server between them (several
app processes may serve one workspace): choosing a file previews which column fills what, and
「取り込む」 sends the same file again with the owner's choices. It runs synchronously, bounded by
the file's size and row count, and answers with what was created, updated and rejected.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData, UploadFile

from madoguchi.contacts import transfer
from madoguchi.crm import fields
from madoguchi.crm.models import Field
from madoguchi.kit import jsonsafe, spreadsheet
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, Invalid
from madoguchi.kit.i18n import gettext_for, translate_error
from madoguchi.kit.web import CtxDep, csv_download
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.render import render_for
from madoguchi.ui.settings_pages import (
    N_,
    Outcome,
    SettingsPage,
    is_htmx,
    is_manager,
    refused,
    show,
)

router = APIRouter()

# Bounds of a browser import: a bigger file goes through `madoguchi import contacts`.
MAX_FILE_BYTES = 10 * 1024 * 1024
# Up to this, a too-big file is refused with a sentence; beyond it the server stops reading (413).
MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_ROWS = 5_000
SAMPLE_ROWS = 3
ENCODINGS = ("auto", "utf-8", "cp932")

# What a column can fill, as the mapping's select lists them (profile fields follow).
TARGET_LABELS: tuple[tuple[str, str], ...] = (
    ("display_name", N_("Display name")),
    ("reading", N_("Reading (フリガナ)")),
    ("email", N_("E-mail address")),
    ("phone", N_("Phone number")),
    ("external_id", N_("External ID (customer number)")),
    ("tags", N_("Tags")),
    ("status", N_("Support status")),
    ("mail_opt_in", N_("Newsletter opt-in")),
    ("memo", N_("Memo")),
    ("madoguchi_id", N_("Madoguchi ID (from an export)")),
)


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    samples: list[str]
    target: str


@dataclass(frozen=True)
class Preview:
    file_name: str
    encoding: str
    headers: list[str]
    columns: list[Column]
    row_count: int
    # What importing would make: shown before anything is imported.
    new_tags: list[str]
    new_folders: list[str]


@dataclass(frozen=True)
class Rejection:
    line: int
    reason: str


@dataclass(frozen=True)
class Summary:
    created: int
    updated: int
    rejected: list[Rejection]


async def _page_data(ctx: Ctx) -> dict[str, Any]:
    return {
        "contact_count": await transfer.count_contacts(ctx),
        "max_rows": MAX_ROWS,
        "max_megabytes": MAX_FILE_BYTES // (1024 * 1024),
    }


TRANSFER = SettingsPage("import_export", _page_data)


def _target_label(member: Member, target: str, field_rows: Sequence[Field]) -> str:
    for name, label in TARGET_LABELS:
        if name == target:
            return gettext_for(member.language).gettext(label)
    return next((f.label for f in field_rows if f"field:{f.key}" == target), target)


async def _preview(
    ctx: Ctx, name: str, encoding: str, table: transfer.Table, mapping: dict[int, str]
) -> Preview:
    columns = [
        Column(
            index=index,
            header=header,
            samples=[
                cells[index].strip()
                for _line, cells in table.rows[:SAMPLE_ROWS]
                if index < len(cells) and cells[index].strip()
            ],
            target=mapping.get(index, ""),
        )
        for index, header in enumerate(table.headers)
    ]
    planned = await transfer.new_tags(ctx, table, mapping)
    return Preview(
        file_name=name,
        encoding=encoding,
        headers=table.headers,
        columns=columns,
        row_count=len(table.rows),
        new_tags=planned.tags,
        new_folders=planned.folders,
    )


async def _uploaded(request: Request) -> tuple[FormData, str, str, bytes]:
    """The form, the file's name, the chosen encoding and the file's bytes (bounded)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FILE_BYTES + 64 * 1024:
        raise Invalid("The file is larger than %(n)d MB.", n=MAX_FILE_BYTES // (1024 * 1024))
    form = await request.form()
    upload = form.get("file")
    encoding = str(form.get("encoding") or "auto")
    if encoding not in ENCODINGS:
        encoding = "auto"
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise Invalid("Choose a .csv or .xlsx file to import.")
    raw = await upload.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise Invalid("The file is larger than %(n)d MB.", n=MAX_FILE_BYTES // (1024 * 1024))
    if not raw:
        raise Invalid("The file is empty: it needs a header row.")
    return form, upload.filename, encoding, raw


def _table(name: str, raw: bytes, encoding: str) -> transfer.Table:
    table = transfer.read_table(name, raw, encoding)
    if len(table.rows) > MAX_ROWS:
        raise Invalid(
            "Here a file can hold at most %(n)s rows: split it, or use the command "
            "madoguchi import contacts.",
            n=f"{MAX_ROWS:,}",
        )
    return table


def _chosen_mapping(
    member: Member, form: FormData, headers: Sequence[str], field_rows: Sequence[Field]
) -> dict[int, str]:
    """The owner's choice for each column, checked: known targets, each filled once."""
    known = {name for name, _label in TARGET_LABELS} | {f"field:{f.key}" for f in field_rows}
    mapping: dict[int, str] = {}
    for index in range(len(headers)):
        target = str(form.get(f"column-{index}") or "")
        if not target:
            continue
        if target not in known:
            raise Invalid("Choose what each column fills from the list.")
        if target in mapping.values():
            raise Invalid(
                "Two columns fill %(target)s.", target=_target_label(member, target, field_rows)
            )
        mapping[index] = target
    if not mapping:
        raise Invalid("Choose at least one column to import.")
    return mapping


def _kept_mapping(
    member: Member, form: FormData, headers: Sequence[str], field_rows: Sequence[Field]
) -> dict[int, str] | None:
    """The owner's choices when the same file is previewed again (a column now filling the
    tags, say); None for a new file or choices that do not hold."""
    if _previewed_headers(form) != list(headers):
        return None
    try:
        return _chosen_mapping(member, form, headers, field_rows)
    except Invalid:
        return None


def _render_preview(
    request: Request,
    ctx: Ctx,
    member: Member,
    *,
    preview: Preview | None,
    field_rows: Sequence[Field],
    error: str | None = None,
    hint: str | None = None,
    status_code: int = 200,
    retarget: bool = False,
) -> Response:
    headers = {"HX-Retarget": "#import-preview", "HX-Reswap": "outerHTML"} if retarget else None
    return render_for(
        request,
        ctx,
        member,
        "settings/_import_preview.html",
        status_code=status_code,
        headers=headers,
        preview=preview,
        field_rows=field_rows,
        target_labels=TARGET_LABELS,
        error=error,
        hint=hint,
        max_rows=MAX_ROWS,
        refill_file=False,
    )


# --- the page -----------------------------------------------------------------------------------


@router.get("/settings/import-export")
async def import_export_page(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return await show(request, ctx, member, TRANSFER)


@router.post("/settings/import-export/preview", max_body_size=MAX_REQUEST_BYTES)
async def preview_import(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """Read the file and propose which column fills what (nothing is stored)."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    field_rows = await fields.list_fields(ctx.db)
    hint = None
    try:
        form, name, encoding, raw = await _uploaded(request)
        table = _table(name, raw, encoding)
        mapping = _kept_mapping(member, form, table.headers, field_rows)
        if mapping is None:
            try:
                mapping = transfer.auto_mapping(table.headers, field_rows)
            except Invalid as no_match:  # no column is known: the owner chooses by hand
                mapping = {}
                hint = translate_error(no_match, member.language)
    except DomainError as error:
        message = translate_error(error, member.language)
        if is_htmx(request):
            return _render_preview(
                request,
                ctx,
                member,
                preview=None,
                field_rows=field_rows,
                error=message,
                status_code=error.status_code,
            )
        outcome = Outcome(error=message, at="import")
        return await show(request, ctx, member, TRANSFER, outcome=outcome, status_code=422)
    preview = await _preview(ctx, name, encoding, table, mapping)
    if is_htmx(request):
        return _render_preview(
            request, ctx, member, preview=preview, field_rows=field_rows, hint=hint
        )
    # Without script the file input comes back empty: the page asks for the file again.
    return await show(
        request,
        ctx,
        member,
        TRANSFER,
        preview=preview,
        field_rows=field_rows,
        target_labels=TARGET_LABELS,
        hint=hint,
        refill_file=True,
    )


@router.post("/settings/import-export/import", max_body_size=MAX_REQUEST_BYTES)
async def run_import(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """Import the file with the chosen columns; every rejected row is listed with its reason."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    field_rows = await fields.list_fields(ctx.db)
    try:
        form, name, encoding, raw = await _uploaded(request)
        table = _table(name, raw, encoding)
    except DomainError as error:
        return await _import_refused(request, ctx, member, error, None, field_rows)
    if _previewed_headers(form) != table.headers:
        # Another file than the one previewed: show its columns before importing anything.
        mapping = _safe_auto_mapping(table.headers, field_rows)
        return await _import_refused(
            request,
            ctx,
            member,
            Invalid("This is not the file that was previewed: check its columns, then import."),
            await _preview(ctx, name, encoding, table, mapping),
            field_rows,
        )
    try:
        mapping = _chosen_mapping(member, form, table.headers, field_rows)
    except DomainError as error:
        chosen = {i: str(form.get(f"column-{i}") or "") for i in range(len(table.headers))}
        preview = await _preview(ctx, name, encoding, table, chosen)
        return await _import_refused(request, ctx, member, error, preview, field_rows)
    language = member.language
    # Each row is its own savepoint: a bad row is listed and the others go in.
    result = await transfer.import_contacts(ctx, table, mapping=mapping)
    summary = Summary(
        created=result.created,
        updated=result.updated,
        rejected=[Rejection(r.line, translate_error(r.error, language)) for r in result.rejected],
    )
    return await show(request, ctx, member, TRANSFER, summary=summary)


async def _import_refused(
    request: Request,
    ctx: Ctx,
    member: Member,
    error: DomainError,
    preview: Preview | None,
    field_rows: Sequence[Field],
) -> Response:
    """Nothing was imported: the preview again, with the reason next to it."""
    message = translate_error(error, member.language)
    if is_htmx(request):
        return _render_preview(
            request,
            ctx,
            member,
            preview=preview,
            field_rows=field_rows,
            error=message,
            status_code=error.status_code,
            retarget=True,
        )
    return await show(
        request,
        ctx,
        member,
        TRANSFER,
        outcome=Outcome(error=message, at="import"),
        status_code=error.status_code,
        preview=preview,
        field_rows=field_rows,
        target_labels=TARGET_LABELS,
        refill_file=preview is not None,
    )


def _previewed_headers(form: FormData) -> list[str] | None:
    try:
        headers = jsonsafe.loads(str(form.get("headers") or "null"))
    except ValueError:
        return None
    if isinstance(headers, list) and all(isinstance(h, str) for h in headers):
        return headers
    return None


def _safe_auto_mapping(headers: Sequence[str], field_rows: Sequence[Field]) -> dict[int, str]:
    try:
        return transfer.auto_mapping(headers, field_rows)
    except Invalid:
        return {}


# --- export ---------------------------------------------------------------------------------


@router.get("/settings/import-export/export")
async def export_contacts(
    request: Request, member: MemberDep, ctx: CtxDep, encoding: str = "utf-8"
) -> Response:
    """Every contact as CSV: UTF-8 with a BOM (Excel opens it right), or Shift_JIS."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    buffer = io.StringIO()
    await transfer.export_contacts(ctx, buffer)
    shift_jis = encoding == "cp932"
    encoded = spreadsheet.encode_csv(buffer.getvalue(), "cp932" if shift_jis else "utf-8")
    day = datetime.now(ZoneInfo(ctx.settings.timezone)).strftime("%Y%m%d")
    suffix = "-sjis" if shift_jis else ""
    return csv_download(encoded, encoding=encoding, filename=f"contacts-{day}{suffix}.csv")
