"""Record books (カルテ, 履歴タイプ 1:N) and the dated records members add to a contact."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation import triggers
from madoguchi.contacts.models import Contact
from madoguchi.crm import values
from madoguchi.crm.contact import get_contact
from madoguchi.crm.models import Record, RecordBook, RecordSpan
from madoguchi.events.types import ContactUpdated, RecordBooksChanged
from madoguchi.kit.clean import clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.ids import is_id
from madoguchi.kit.ordering import next_position
from madoguchi.members.models import Member

MAX_FIELDS = 50
# Dates of records (and snoozes, scheduled sends) lie in these years: far enough for any history,
# and far from the calendar's ends (year 1, year 9999), where moving between zones leaves it.
FIRST_YEAR = 1900
LAST_YEAR = 2999


def clean_book_fields(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A book's field definitions: ``{"key", "label", "type", "options"?}`` each."""
    if len(fields) > MAX_FIELDS:
        raise Invalid("A record book has at most %(n)d fields.", n=MAX_FIELDS)
    cleaned: list[dict[str, Any]] = []
    keys: set[str] = set()
    for field in fields:
        key = values.check_key(str(field.get("key", "")))
        if key in keys:
            raise Invalid("The field key %(key)s appears twice.", key=key)
        keys.add(key)
        field_type = values.check_type(str(field.get("type", "")))
        options = field.get("options") or []
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
            raise Invalid("A field's options are a list of texts.")
        cleaned.append(
            {
                "key": key,
                "label": clean_name(str(field.get("label") or key), 100),
                "type": field_type,
                "options": values.check_options(field_type, options),
            }
        )
    return cleaned


async def list_books(db: AsyncSession) -> list[RecordBook]:
    return list(await db.scalars(select(RecordBook).order_by(RecordBook.position, RecordBook.id)))


async def find_book(db: AsyncSession, ref: int | str) -> RecordBook:
    if isinstance(ref, int):
        book = await db.get(RecordBook, ref) if is_id(ref) else None
        if book is None:
            raise NotFound("No record book with id %(id)s.", id=ref)
        return book
    found = await db.scalar(select(RecordBook).where(RecordBook.name == ref.strip()))
    if found is None:
        raise NotFound("No record book named %(name)s.", name=ref)
    return found


async def create_book(ctx: Ctx, *, name: str, fields: list[dict[str, Any]]) -> RecordBook:
    name = clean_name(name)
    if await ctx.db.scalar(select(RecordBook.id).where(RecordBook.name == name)):
        raise Conflict("A record book named %(name)s already exists.", name=name)
    book = RecordBook(
        name=name,
        fields=clean_book_fields(fields),
        position=await next_position(ctx.db, RecordBook.position),
    )
    ctx.db.add(book)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="book.created",
        subject=f"book {book.id}",
        name=book.name,
        after={"name": book.name, "fields": _field_labels(book)},
    )
    await ctx.commit(RecordBooksChanged(book_id=book.id))
    return book


async def update_book(
    ctx: Ctx, *, book_id: int, name: str | None = None, fields: list[dict[str, Any]] | None = None
) -> RecordBook:
    """Rename a book or change its fields; records keep what they hold (removed keys are kept
    in them, and shown again if the field comes back)."""
    book = await find_book(ctx.db, book_id)
    audited = {"name": book.name, "fields": _field_labels(book)}
    if name is not None:
        name = clean_name(name)
        if await ctx.db.scalar(
            select(RecordBook.id).where(RecordBook.name == name, RecordBook.id != book.id)
        ):
            raise Conflict("A record book named %(name)s already exists.", name=name)
        book.name = name
    if fields is not None:
        cleaned = clean_book_fields(fields)
        before = {field["key"]: field["type"] for field in book.fields}
        for field in cleaned:
            if before.get(field["key"], field["type"]) != field["type"]:
                raise Invalid(
                    "The field %(key)s keeps its type (records hold its values): add a new field "
                    "instead.",
                    key=field["key"],
                )
        book.fields = cleaned
    audit.record_changes(
        ctx,
        action="book.updated",
        subject=f"book {book.id}",
        name=book.name,
        before=audited,
        after={"name": book.name, "fields": _field_labels(book)},
    )
    await ctx.commit(RecordBooksChanged(book_id=book.id))
    return book


def _field_labels(book: RecordBook) -> list[str]:
    return [str(field.get("label") or field["key"]) for field in book.fields]


async def delete_book(ctx: Ctx, *, book_id: int) -> None:
    """Delete a book with all its records."""
    book = await find_book(ctx.db, book_id)
    audit.record(
        ctx,
        action="book.deleted",
        subject=f"book {book.id}",
        name=book.name,
        before={"name": book.name, "fields": _field_labels(book)},
    )
    await ctx.db.delete(book)
    await ctx.commit(RecordBooksChanged(book_id=book_id))


def _record_values(book: RecordBook, raw: dict[str, Any]) -> dict[str, Any]:
    by_key = {field["key"]: field for field in book.fields}
    unknown = sorted(set(raw) - set(by_key))
    if unknown:
        raise Invalid(
            "The record book %(book)s has no field %(keys)s.",
            book=book.name,
            keys=", ".join(unknown),
        )
    cleaned: dict[str, Any] = {}
    for key, value in raw.items():
        field = by_key[key]
        typed = values.coerce(field["type"], value, label=field["label"], options=field["options"])
        if typed is not None:
            cleaned[key] = values.to_json(typed)
    return cleaned


def _year_refusal() -> Invalid:
    return Invalid(
        "A date must be between the years %(first)d and %(last)d.",
        first=FIRST_YEAR,
        last=LAST_YEAR,
    )


def check_record_day(day: date) -> date:
    """A day that records' dates are compared with (a filter's before / after)."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise _year_refusal()
    return day


def aware(at: datetime, timezone: str) -> datetime:
    """A record's (or a snooze's, a scheduled send's) time in UTC; one written without a zone is
    taken as the workspace's local time. Outside FIRST_YEAR..LAST_YEAR it is refused."""
    # Checked before moving zones too: near year 1 or 9999 the move itself would overflow.
    if not FIRST_YEAR <= at.year <= LAST_YEAR:
        raise _year_refusal()
    local = at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo(timezone))
    at_utc = local.astimezone(UTC)
    if not FIRST_YEAR <= at_utc.year <= LAST_YEAR:
        raise _year_refusal()
    return at_utc


async def list_records(
    db: AsyncSession, *, contact_id: int, book: int | str | None = None
) -> list[Record]:
    """A contact's records, newest first."""
    await get_contact(db, contact_id=contact_id)
    query = select(Record).where(Record.contact_id == contact_id)
    if book is not None:
        query = query.where(Record.book_id == (await find_book(db, book)).id)
    return list(await db.scalars(query.order_by(Record.at.desc(), Record.id.desc())))


async def get_record(db: AsyncSession, *, record_id: int) -> Record:
    record = await db.get(Record, record_id) if is_id(record_id) else None
    if record is None:
        raise NotFound("No record with id %(id)s.", id=record_id)
    return record


async def create_record(
    ctx: Ctx,
    *,
    contact_id: int,
    book: int | str,
    at: datetime,
    values_: dict[str, Any],
    author: Member | None,
) -> Record:
    contact = await get_contact(ctx.db, contact_id=contact_id)
    record_book = await find_book(ctx.db, book)
    record = Record(
        book_id=record_book.id,
        contact_id=contact_id,
        at=aware(at, ctx.settings.timezone),
        values=_record_values(record_book, values_),
        author_id=author.id if author else None,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(record)
    await triggers.note(
        ctx, triggers.Fact(triggers.RECORD_ADDED, contact_id, subject_id=record_book.id)
    )
    await ctx.db.flush()
    await refresh_spans(ctx.db, [contact_id])
    audit.record(
        ctx,
        action="record.created",
        subject=f"record {record.id}",
        name=f"{contact.display_name}・{record_book.name}",
        after={"at": record.at, "values": record.values},
        detail={"contact_id": contact_id, "book": record_book.name},
    )
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="records"))
    return record


async def _record_name(db: AsyncSession, record: Record) -> str:
    contact = await get_contact(db, contact_id=record.contact_id)
    book = await find_book(db, record.book_id)
    return f"{contact.display_name}・{book.name}"


async def update_record(
    ctx: Ctx, *, record_id: int, at: datetime | None, values_: dict[str, Any] | None
) -> Record:
    record = await get_record(ctx.db, record_id=record_id)
    before = {"at": record.at, "values": dict(record.values)}
    if at is not None:
        record.at = aware(at, ctx.settings.timezone)
    if values_ is not None:
        record.values = _record_values(await find_book(ctx.db, record.book_id), values_)
    record.updated_at = ctx.now()
    await refresh_spans(ctx.db, [record.contact_id])
    audit.record_changes(
        ctx,
        action="record.updated",
        subject=f"record {record.id}",
        name=await _record_name(ctx.db, record),
        before=before,
        after={"at": record.at, "values": dict(record.values)},
    )
    await ctx.commit(ContactUpdated(contact_id=record.contact_id, part="records"))
    return record


async def delete_record(ctx: Ctx, *, record_id: int) -> None:
    record = await get_record(ctx.db, record_id=record_id)
    contact_id = record.contact_id
    audit.record(
        ctx,
        action="record.deleted",
        subject=f"record {record.id}",
        name=await _record_name(ctx.db, record),
        before={"at": record.at, "values": record.values},
    )
    await ctx.db.delete(record)
    await refresh_spans(ctx.db, [contact_id])
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="records"))


async def refresh_spans(db: AsyncSession, contact_ids: Collection[int]) -> None:
    """These contacts' record spans (RecordSpan: each book's newest and oldest record, and a
    copy of the contact's activity) worked out again from their records: after a record is
    added, moved in time or deleted, and after a merge moved records between two contacts.
    What the session holds unwritten is flushed first (the statements read the tables)."""
    ids = list(contact_ids)
    if not ids:
        return
    await db.execute(
        delete(RecordSpan)
        .where(RecordSpan.contact_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    spans = (
        select(
            Record.contact_id,
            Record.book_id,
            func.max(Record.at),
            func.min(Record.at),
            func.max(Contact.activity_at),
        )
        .join(Contact, Contact.id == Record.contact_id)
        .where(Record.contact_id.in_(ids))
        .group_by(Record.contact_id, Record.book_id)
    )
    columns = ["contact_id", "book_id", "newest_at", "oldest_at", "activity_at"]
    await db.execute(insert(RecordSpan).from_select(columns, spans))
