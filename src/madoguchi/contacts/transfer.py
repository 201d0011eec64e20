"""Importing contacts from CSV (UTF-8 or Shift_JIS) or Excel, and exporting them to CSV (F26)."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from zipfile import BadZipFile
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from madoguchi.audit import service as audit
from madoguchi.audit.models import AuditEntry
from madoguchi.contacts import repository
from madoguchi.contacts.models import Contact
from madoguchi.contacts.service import ContactChanges, apply_changes, kept_contact, new_contact
from madoguchi.crm import fields, memos, records, statuses, tags
from madoguchi.crm.models import Field, Memo, Record, Tag, TagFolder
from madoguchi.events.types import ContactsImported
from madoguchi.kit.clean import clean_name, email_address, phone_number
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, Invalid
from madoguchi.kit.ids import is_id
from madoguchi.kit.spreadsheet import CsvWriter, restored
from madoguchi.kit.text import normalize

log = logging.getLogger(__name__)
MAX_ROWS = 100_000
BATCH = 500
# What a column can fill; profile fields are "field:<key>".
TARGETS = (
    "madoguchi_id",
    "display_name",
    "reading",
    "email",
    "phone",
    "external_id",
    "tags",
    "status",
    "mail_opt_in",
    "memo",
)
_ALIASES: dict[str, tuple[str, ...]] = {
    # Our own id, as exported: it finds the very contact again.
    "madoguchi_id": ("madoguchi_id",),
    "display_name": (
        "表示名",
        "システム表示名",
        "名前",
        "氏名",
        "お名前",
        "顧客名",
        "顧客氏名",
        "お客様名",
        "お客様氏名",
        "会員名",
        "フルネーム",
        "name",
        "displayname",
        "fullname",
    ),
    "reading": (
        "フリガナ",
        "ふりがな",
        "よみがな",
        "読み仮名",
        "読み",
        "カナ",
        "氏名カナ",
        "氏名フリガナ",
        "お名前フリガナ",
        "顧客名フリガナ",
        "reading",
        "kana",
        "furigana",
    ),
    # A profile field of the same name is not a second place for them (crm.fields).
    "email": fields.BUILT_IN_NAMES["email"],
    "phone": fields.BUILT_IN_NAMES["phone"],
    "external_id": ("id", "externalid", "顧客id", "顧客番号", "会員番号"),
    "tags": ("タグ", "tags", "tag"),
    "status": ("ステータス", "対応ステータス", "status"),
    "mail_opt_in": ("メルマガ受信", "メルマガ", "mailoptin"),
    "memo": ("メモ", "顧客メモ", "お客様メモ", "備考", "memo", "note", "notes"),
}
# What separates tags in one cell, as salons write them in a spreadsheet: , 、 ; ／ / | or a
# line break (half or full width).
_TAG_SEPARATORS = re.compile(r"[,，、;；/／|｜\r\n]+")
# A tag written "フォルダ：タグ" goes in that folder (made if new),
# unless a tag has that whole name.
_FOLDER_MARKS = (":", "：")
_YES = {"1", "true", "yes", "y", "はい", "受信する", "受信", "○", "〇", "有"}
_NO = {"", "0", "false", "no", "n", "いいえ", "受信しない", "×", "無"}


def split_tags(text: str) -> list[str]:
    """The tag names written in one cell, trimmed, without empties or repeats."""
    return list(dict.fromkeys(p.strip() for p in _TAG_SEPARATORS.split(text) if p.strip()))


def _in_folder(text: str) -> tuple[str, str] | None:
    """(folder, tag) for a tag written "フォルダ：タグ"; None for a plain name."""
    for mark in _FOLDER_MARKS:
        folder, sep, name = text.partition(mark)
        if sep and folder.strip() and name.strip():
            return folder.strip(), name.strip()
    return None


# --- reading files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    headers: list[str]
    # (line number in the file, cells)
    rows: list[tuple[int, list[str]]]


def decode(raw: bytes, encoding: str = "auto") -> str:
    """CSV text: UTF-8 (with or without BOM), or Shift_JIS/CP932 as Japanese Excel writes it."""
    candidates = ["utf-8-sig", "cp932"] if encoding == "auto" else [encoding]
    for candidate in candidates:
        try:
            return raw.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
    raise Invalid("The file is neither UTF-8 nor Shift_JIS (CP932) text.")


def read_table(name: str, raw: bytes, encoding: str = "auto") -> Table:
    """The header row and the data rows of a .csv or .xlsx file."""
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(raw)
    if suffix not in (".csv", ".txt", ""):
        raise Invalid("Import takes a .csv or .xlsx file, not %(name)s.", name=name)
    reader = csv.reader(io.StringIO(decode(raw, encoding), newline=""))
    try:
        return _table((reader.line_num, [restored(cell) for cell in row]) for row in reader)
    except csv.Error:
        # csv's own limit is 131,072 characters a cell, far past any real name or note.
        raise Invalid(
            "Line %(line)d cannot be read as CSV: a cell is too long (over 130,000 characters).",
            line=reader.line_num,
        ) from None


def _read_xlsx(raw: bytes) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, OSError, KeyError, ValueError):
        raise Invalid("The file is not an Excel workbook (.xlsx).") from None
    sheet = workbook.worksheets[0]
    rows = (
        (number, ["" if cell is None else _cell_text(cell) for cell in row])
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1)
    )
    try:
        return _table(rows)
    finally:
        workbook.close()


def _cell_text(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if hasattr(cell, "date") and hasattr(cell, "hour"):  # a datetime cell: its date
        return str(cell.date().isoformat())
    if hasattr(cell, "isoformat"):
        return str(cell.isoformat())
    return str(cell)


def _table(rows: Iterator[tuple[int, list[str]]]) -> Table:
    headers: list[str] | None = None
    data: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        if headers is None:
            if any(cell.strip() for cell in cells):
                headers = [cell.strip() for cell in cells]
            continue
        if not any(cell.strip() for cell in cells):
            continue
        data.append((number, cells))
        if len(data) > MAX_ROWS:
            raise Invalid("A file can hold at most %(n)d rows.", n=MAX_ROWS)
    if headers is None:
        raise Invalid("The file is empty: it needs a header row.")
    return Table(headers=headers, rows=data)


# --- mapping columns --------------------------------------------------------------------------


def check_columns(headers: Sequence[str], explicit: dict[str, str]) -> None:
    """Every column an explicit map names is in the file (a typo must not be skipped quietly)."""
    present = {fields.name_key(header) for header in headers}
    for column in explicit:
        if fields.name_key(column) not in present:
            raise Invalid(
                "The file has no column %(column)s (its columns: %(columns)s).",
                column=column,
                columns=", ".join(header for header in headers if header.strip()),
            )


def auto_mapping(
    headers: Sequence[str], field_rows: Sequence[Field], explicit: dict[str, str] | None = None
) -> dict[int, str]:
    """Which column fills what: by the explicit ``{header: target}``, else by known header names
    (Japanese or English) and field labels or keys. Unknown columns are left out."""
    by_field = {}
    for field_row in field_rows:
        by_field[fields.name_key(field_row.label)] = f"field:{field_row.key}"
        by_field[fields.name_key(field_row.key)] = f"field:{field_row.key}"
    known_keys = {f"field:{f.key}" for f in field_rows}
    check_columns(headers, explicit or {})
    explicit = {fields.name_key(k): v for k, v in (explicit or {}).items()}
    mapping: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = fields.name_key(header)
        target = explicit.get(key)
        if target is None:
            target = next(
                (
                    name
                    for name, aliases in _ALIASES.items()
                    if key in map(fields.name_key, aliases)
                ),
                by_field.get(key),
            )
        elif target not in TARGETS and target not in known_keys:
            raise Invalid(
                "A column can fill %(targets)s or field:<key>, not %(target)s.",
                targets=", ".join(TARGETS),
                target=target,
            )
        if target is not None:
            if target in mapping.values():
                raise Invalid("Two columns fill %(target)s.", target=target)
            mapping[index] = target
    if not mapping:
        raise Invalid("No column of the file matches a contact's details (表示名, メール, 電話…).")
    return mapping


# --- importing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejected:
    line: int
    # The refusal itself, so that each screen can show it in its member's language.
    error: DomainError

    @property
    def reason(self) -> str:
        return str(self.error)


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.created + self.updated + len(self.rejected)


def _opt_in(text: str) -> bool:
    value = normalize(text).strip()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise Invalid("メルマガ受信 takes はい/いいえ (or 1/0), not %(value)s.", value=text)


async def _match(ctx: Ctx, row: dict[str, str]) -> Contact | None:
    """The contact this row is about: by our id, else external_id, else e-mail, else phone."""
    our_id = row.get("madoguchi_id", "").strip()
    if our_id:
        number = int(our_id) if our_id.isascii() and our_id.isdigit() else None
        contact = await ctx.db.get(Contact, number) if is_id(number) else None
        if contact is None:
            raise Invalid("No contact with id %(id)s.", id=our_id)
        return await kept_contact(ctx.db, contact)
    ambiguous = {
        "external_id": "More than one contact has the customer number %(value)s.",
        "email": "More than one contact has the e-mail address %(value)s.",
        "phone": "More than one contact has the phone number %(value)s.",
    }
    for target, column in (
        ("external_id", Contact.external_id),
        ("email", func.lower(Contact.email)),
        ("phone", Contact.phone),
    ):
        given = row.get(target, "").strip()
        if not given:
            continue
        if target == "email":
            given = email_address(given) or ""
        elif target == "phone":
            given = phone_number(given) or ""
        found = list(await ctx.db.scalars(select(Contact).where(column == given).limit(2)))
        if len(found) > 1:
            raise Invalid(ambiguous[target], value=given)
        if found:
            return await kept_contact(ctx.db, found[0])
    return None


async def _import_row(
    ctx: Ctx, row: dict[str, str], field_by_key: dict[str, Field], tag_cache: dict[str, int]
) -> bool:
    """One row into the current transaction; True when it made a new contact."""
    contact = await _match(ctx, row)
    created = contact is None
    if contact is None:
        contact = await new_contact(
            ctx,
            display_name=row.get("display_name", ""),
            email=row.get("email"),
            phone=row.get("phone"),
            external_id=row.get("external_id"),
            reading=row.get("reading"),
        )
    changes: dict[str, Any] = {}
    if not created and row.get("display_name", "").strip():
        changes |= {"display_name": row["display_name"], "rename": True}
    for target in ("email", "phone", "reading"):
        if not created and row.get(target, "").strip():
            changes |= {target: row[target], f"set_{target}": True}
    if row.get("status", "").strip():
        status = await statuses.find_status(ctx.db, row["status"].strip())
        changes |= {"status": status.id, "set_status": True}
    if "mail_opt_in" in row:
        changes["mail_opt_in"] = _opt_in(row["mail_opt_in"])
    if changes:
        await apply_changes(ctx, contact, ContactChanges(**changes))
    for target, text in row.items():
        if target.startswith("field:"):
            await fields.write_value(
                ctx, contact_id=contact.id, field=field_by_key[target[6:]], raw=text
            )
    if row.get("tags", "").strip():
        wanted = split_tags(row["tags"])
        for name in wanted:
            if name not in tag_cache:
                tag_cache[name] = (await _tag(ctx, name)).id
        await tags.attach(ctx, contact_id=contact.id, tag_ids=[tag_cache[n] for n in wanted])
    body = row.get("memo", "").strip()
    if body:
        # Importing the same file again adds no second copy of the memo.
        same = await ctx.db.scalar(
            select(Memo.id).where(Memo.contact_id == contact.id, Memo.body == body).limit(1)
        )
        if same is None:
            await memos.add_memo(ctx, contact_id=contact.id, title="", body=body, author=None)
    return created


async def _tag(ctx: Ctx, text: str) -> Tag:
    """The tag a cell names: one with that whole name, else "フォルダ：タグ" in its folder, else a
    new tag outside any folder."""
    placed = _in_folder(text)
    if placed is not None:
        whole = list(await ctx.db.scalars(select(Tag).where(Tag.name == text).limit(2)))
        if len(whole) != 1:
            return await tags.tag_in_folder(ctx, placed[1], placed[0])
    return await tags.tag_by_name(ctx, text)


@dataclass(frozen=True)
class NewTags:
    # As the owner reads them: "タグ", or "フォルダ：タグ" for one in a folder.
    tags: list[str]
    folders: list[str]


async def new_tags(ctx: Ctx, table: Table, mapping: dict[int, str]) -> NewTags:
    """The tags and folders importing the file would make (shown before it is imported)."""
    column = next((i for i, target in mapping.items() if target == "tags"), None)
    if column is None:
        return NewTags([], [])
    existing = list(await ctx.db.execute(select(Tag.name, Tag.folder_id)))
    names = {name for name, _folder in existing}
    folder_ids = {
        name: folder_id
        for folder_id, name in await ctx.db.execute(
            select(TagFolder.id, TagFolder.name).where(TagFolder.parent_id.is_(None))
        )
    }
    in_folders = {(folder_id, name) for name, folder_id in existing}
    new: dict[str, None] = {}
    folders: dict[str, None] = {}
    for _line, cells in table.rows:
        for text in split_tags(cells[column] if column < len(cells) else ""):
            try:
                text = clean_name(text)
            except Invalid:
                continue  # that row will be listed as not imported
            placed = _in_folder(text)
            if text in names or placed is None:
                if text not in names:
                    new[text] = None
                continue
            folder, name = placed
            folder_id = folder_ids.get(folder)
            if folder_id is None:
                folders[folder] = None
            if folder_id is None or (folder_id, name) not in in_folders:
                new[f"{folder}：{name}"] = None
    return NewTags(list(new), list(folders))


@dataclass(frozen=True)
class _Kept:
    """An import's counts as of its last committed batch: what the database holds of it."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    last_line: int | None = None

    def counts(self, rows: int) -> dict[str, Any]:
        return {
            "rows": rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "last_line": self.last_line,
        }


async def import_contacts(
    ctx: Ctx,
    table: Table,
    *,
    mapping: dict[int, str],
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import every valid row (new contacts, or updates of the ones they match) and list every
    rejected row with its line and reason. Importing the same file twice changes nothing more.

    Rows are committed ``BATCH`` at a time, and the import's one audit entry is committed with
    the first batch (as stopped partway, with the counts kept so far) and brought up to date
    with each: an import that fails, is cancelled or dies halfway never leaves rows in the
    database that the log does not account for. At the end it says ``contacts.imported``."""
    field_by_key = {f.key: f for f in await fields.list_fields(ctx.db)}
    result = ImportResult()
    tag_cache: dict[str, int] = {}
    entry: AuditEntry | None = None
    kept = _Kept()
    line = 0
    try:
        for done, (line, cells) in enumerate(table.rows, start=1):
            row = {target: (cells[i] if i < len(cells) else "") for i, target in mapping.items()}
            try:
                async with ctx.db.begin_nested():
                    created = await _import_row(ctx, row, field_by_key, tag_cache)
            except DomainError as error:
                result.rejected.append(Rejected(line=line, error=error))
            else:
                if created:
                    result.created += 1
                else:
                    result.updated += 1
            if done % BATCH == 0:
                now = _Kept(result.created, result.updated, len(result.rejected), line)
                logged = _log_kept(ctx, entry, len(table.rows), now)
                await ctx.db.commit()
                entry, kept = logged, now
            if progress is not None:
                progress(done)
        # One entry per import, with its counts (not one per row).
        after = {
            "rows": len(table.rows),
            "created": result.created,
            "updated": result.updated,
            "skipped": len(result.rejected),
        }
        if entry is None:
            audit.record(ctx, action="contacts.imported", subject="contacts", after=after)
        else:
            audit.revise(entry, action="contacts.imported", after=after)
        await ctx.commit(ContactsImported(created=result.created, updated=result.updated))
    except BaseException as error:
        await _log_stopped(ctx, entry, len(table.rows), kept, line, error)
        raise
    return result


def _log_kept(ctx: Ctx, entry: AuditEntry | None, rows: int, kept: _Kept) -> AuditEntry:
    """The import's entry as of the batch about to be committed (with it, in its transaction)."""
    if entry is None:
        return audit.record(
            ctx, action="contacts.import_failed", subject="contacts", after=kept.counts(rows)
        )
    return audit.revise(entry, action="contacts.import_failed", after=kept.counts(rows))


def _stop_reason(error: BaseException) -> str:
    """Why an import stopped, as the log keeps it: a cancel in words, else the error's line."""
    if isinstance(error, asyncio.CancelledError | KeyboardInterrupt):
        return "cancelled"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (f"{type(error).__name__}: {text}" if text else type(error).__name__)[:300]


async def _log_stopped(
    ctx: Ctx, entry: AuditEntry | None, rows: int, kept: _Kept, line: int, error: BaseException
) -> None:
    """An import stopped by ``error`` at ``line``: the rows not yet committed go, and the entry
    of the batches kept (none kept: no entry, nothing is in the database) says where and why."""
    try:
        await ctx.db.rollback()
        if entry is None:
            return
        await ctx.db.refresh(entry)
        if entry.action == "contacts.imported":
            return  # it was kept whole: what failed came after (telling the screens)
        audit.revise(
            entry,
            action="contacts.import_failed",
            after={**kept.counts(rows), "failed_line": line, "error": _stop_reason(error)},
        )
        await ctx.commit(ContactsImported(created=kept.created, updated=kept.updated))
    except Exception:
        # The entry committed with the last batch stays, saying the import stopped partway.
        log.exception("could not note where the import stopped")


# --- exporting --------------------------------------------------------------------------------

EXPORT_COLUMNS = (
    "madoguchi_id",
    "表示名",
    "フリガナ",
    "チャネル名",
    "チャネル",
    "external_id",
    "メール",
    "電話",
    "メルマガ受信",
    "対応ステータス",
    "対応マーク",
    "タグ",
    "非表示",
    "ブロック",
    "登録日時",
)


async def export_contacts(
    ctx: Ctx, out: IO[str], *, progress: Callable[[int], None] | None = None
) -> int:
    """Every contact as CSV rows (the caller writes the BOM or chooses the encoding)."""
    field_rows = await fields.list_fields(ctx.db)
    writer = CsvWriter(out)
    writer.writerow([*EXPORT_COLUMNS, *(f.label for f in field_rows)])
    written = 0
    last_id = 0
    while True:
        batch = list(
            await ctx.db.scalars(
                select(Contact)
                # One merged into another (F43) is part of that one.
                .where(Contact.id > last_id, Contact.merged_into_id.is_(None))
                .order_by(Contact.id)
                .limit(BATCH)
            )
        )
        if not batch:
            return written
        for detail in await repository.details(ctx.db, batch):
            c = detail.contact
            writer.writerow(
                [
                    c.id,
                    c.display_name,
                    c.reading or "",
                    c.channel_name,
                    detail.channel.name if detail.channel else "",
                    c.external_id or "",
                    c.email or "",
                    c.phone or "",
                    "はい" if c.mail_opt_in else "いいえ",
                    detail.status.name if detail.status else "",
                    detail.mark.name if detail.mark else "",
                    "、".join(t.name for t in detail.tags),
                    "はい" if c.hidden else "",
                    "はい" if c.blocked else "",
                    c.created_at.isoformat(),
                    *(_export_value(detail.values.get(f.key)) for f in field_rows),
                ]
            )
        written += len(batch)
        last_id = batch[-1].id
        if progress is not None:
            progress(written)


def _export_value(value: Any) -> Any:
    """A field's value as a cell: numbers stay numbers (a negative one is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return str(value)


async def count_contacts(ctx: Ctx) -> int:
    live = Contact.merged_into_id.is_(None)
    return int(await ctx.db.scalar(select(func.count()).select_from(Contact).where(live)) or 0)


async def export_records(ctx: Ctx, out: IO[str]) -> int:
    """Every record of every book as CSV rows, oldest first, one column per book field."""
    books = await records.list_books(ctx.db)
    columns = [(book.id, field["key"]) for book in books for field in book.fields]
    labels = [f"{book.name}:{field['label']}" for book in books for field in book.fields]
    writer = CsvWriter(out)
    writer.writerow(["record_id", "madoguchi_id", "表示名", "カルテ", "日時", *labels])
    names = {book.id: book.name for book in books}
    zone = ZoneInfo(ctx.settings.timezone)
    written = 0
    last_id = 0
    while True:
        rows = list(
            await ctx.db.execute(
                select(Record, Contact.display_name)
                .join(Contact, Contact.id == Record.contact_id)
                .where(Record.id > last_id)
                .order_by(Record.id)
                .limit(BATCH)
            )
        )
        if not rows:
            return written
        for record, display_name in rows:
            writer.writerow(
                [
                    record.id,
                    record.contact_id,
                    display_name,
                    names.get(record.book_id, ""),
                    record.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                    *(
                        _export_value(record.values.get(key)) if book_id == record.book_id else ""
                        for book_id, key in columns
                    ),
                ]
            )
        written += len(rows)
        last_id = rows[-1][0].id
