"""What the customer panel shows (beside the chat, and on the contact page), shaped from the
services' answers: layout decisions only, no rules.

The panel is made of parts that refresh on their own when ``contact.updated`` names them:
``profile`` (names, status, mark, e-mail, phone, hidden, blocked), ``tags``, ``fields``,
``memos`` and ``records``; ``scheduled`` (送信予約) when ``scheduled_message.changed`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from madoguchi.contacts import repository as contact_repository
from madoguchi.contacts import service as contacts
from madoguchi.contacts.repository import ContactDetail
from madoguchi.conversations import scheduled as scheduled_messages
from madoguchi.conversations.models import ScheduledMessage
from madoguchi.conversations.scheduled import MAX_PENDING
from madoguchi.crm import fields, marks, memos, records, statuses
from madoguchi.crm.models import Field, FieldFolder, Mark, Memo, Record, RecordBook, Status
from madoguchi.files import service as files
from madoguchi.files.models import StoredFile
from madoguchi.kit.clean import phone_number
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Forbidden, Invalid
from madoguchi.members import service as members
from madoguchi.members.models import Member
from madoguchi.ui.present import display_value

PARTS = ("profile", "tags", "fields", "memos", "records", "scheduled")


class Place(StrEnum):
    """Where the panel is shown: beside the chat, or on the contact page (which shows more)."""

    chat = "chat"
    page = "page"


def place_of(value: str | None) -> Place:
    return Place.page if value == Place.page else Place.chat


def can_manage(member: Member) -> bool:
    """Owners and admins (the settings links); the rule itself is the members service's."""
    try:
        members.ensure_manager(member)
    except Forbidden:
        return False
    return True


# --- what the panel shows ---------------------------------------------------------------------


@dataclass(frozen=True)
class FieldEntry:
    field: Field
    value: Any

    @property
    def choices(self) -> list[str]:
        """A multi-select's chosen values (a list), for its check boxes."""
        return self.value if isinstance(self.value, list) else []


@dataclass(frozen=True)
class Twin:
    """A profile field that names a detail the contact keeps itself (電話番号, メールアドレス),
    holding a value the contact's own column does not: shown under that column, once, with a
    way to use it there. Nothing is moved or deleted."""

    built_in: str
    field: Field
    value: str


@dataclass(frozen=True)
class FieldGroup:
    folder: FieldFolder | None
    entries: list[FieldEntry]


@dataclass(frozen=True)
class RecordValue:
    label: str
    type: str
    value: Any


@dataclass(frozen=True)
class RecordEntry:
    record: Record
    values: list[RecordValue]

    @property
    def summary(self) -> str:
        """One line for the history: the filled values, in the book's order."""
        shown = (display_value(v.value) for v in self.values)
        return " / ".join(text for text in shown if text)


@dataclass(frozen=True)
class BookHistory:
    book: RecordBook
    records: list[RecordEntry]


@dataclass(frozen=True)
class Panel:
    """A contact, and whichever of its parts were loaded for this render."""

    detail: ContactDetail
    place: Place
    can_manage: bool
    statuses: list[Status] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    field_groups: list[FieldGroup] = field(default_factory=list)
    # On the contact page: profile fields about the contact's own phone or e-mail (by detail).
    twins: dict[str, list[Twin]] = field(default_factory=dict)
    memos: list[Memo] = field(default_factory=list)
    books: list[BookHistory] = field(default_factory=list)
    member_names: dict[int, str] = field(default_factory=dict)
    # 送信予約: the pending ones, soonest first, and their images by id.
    scheduled: list[ScheduledMessage] = field(default_factory=list)
    scheduled_images: dict[int, StoredFile] = field(default_factory=dict)
    # The ones that could not be sent, shown with the reason until a member puts them away.
    scheduled_failed: list[ScheduledMessage] = field(default_factory=list)
    max_scheduled: int = MAX_PENDING

    @property
    def scheduled_full(self) -> bool:
        return len(self.scheduled) >= self.max_scheduled

    @property
    def contact_id(self) -> int:
        return self.detail.contact.id

    @property
    def tag_ids(self) -> set[int]:
        return {tag.id for tag in self.detail.tags}


def _record_values(book: RecordBook, record: Record) -> list[RecordValue]:
    return [
        RecordValue(label=spec["label"], type=spec["type"], value=record.values.get(spec["key"]))
        for spec in book.fields
    ]


async def _field_groups(ctx: Ctx, detail: ContactDetail, place: Place) -> list[FieldGroup]:
    """Fields in folder order (those in no folder first); beside the chat only 表示設定's. On
    the contact page a field about the contact's own phone or e-mail is left to that row."""
    folders = await fields.list_folders(ctx.db)
    shown = [
        f
        for f in await fields.list_fields(ctx.db)
        if (place == Place.page and fields.built_in_twin(f) is None)
        or (place == Place.chat and f.show_in_chat)
    ]
    groups = [FieldGroup(folder=None, entries=[])]
    groups += [FieldGroup(folder=folder, entries=[]) for folder in folders]
    by_folder = {group.folder.id if group.folder else None: group for group in groups}
    for definition in shown:
        group = by_folder.get(definition.folder_id, groups[0])
        group.entries.append(FieldEntry(field=definition, value=detail.values.get(definition.key)))
    return [group for group in groups if group.entries]


def _same(built_in: str, own: str | None, value: str) -> bool:
    if built_in == "email":
        return (own or "").casefold() == value.strip().casefold()
    try:
        return own == phone_number(value)
    except Invalid:
        return False


async def _twins(ctx: Ctx, detail: ContactDetail) -> dict[str, list[Twin]]:
    """Per detail (phone, email), the twin fields whose value the contact's column lacks."""
    found: dict[str, list[Twin]] = {}
    contact = detail.contact
    for definition in await fields.list_fields(ctx.db):
        built_in = fields.built_in_twin(definition)
        value = detail.values.get(definition.key)
        if built_in is None or value is None or not str(value).strip():
            continue
        own = contact.phone if built_in == "phone" else contact.email
        if not _same(built_in, own, str(value)):
            found.setdefault(built_in, []).append(Twin(built_in, definition, str(value).strip()))
    return found


async def _books(ctx: Ctx, contact_id: int) -> list[BookHistory]:
    books = await records.list_books(ctx.db)
    history = await records.list_records(ctx.db, contact_id=contact_id)
    by_book = {book.id: BookHistory(book=book, records=[]) for book in books}
    for record in history:  # newest first
        if record.book_id in by_book:
            history_of = by_book[record.book_id]
            values = _record_values(history_of.book, record)
            history_of.records.append(RecordEntry(record=record, values=values))
    return list(by_book.values())


async def load_panel(
    ctx: Ctx,
    member: Member,
    *,
    contact_id: int,
    place: Place,
    parts: tuple[str, ...] = PARTS,
) -> Panel:
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    [detail] = await contact_repository.details(ctx.db, [contact])
    loaded: dict[str, Any] = {}
    if "profile" in parts:
        loaded["statuses"] = await statuses.list_statuses(ctx.db)
        loaded["marks"] = await marks.list_marks(ctx.db)
        if place == Place.page:
            loaded["twins"] = await _twins(ctx, detail)
    if "fields" in parts:
        loaded["field_groups"] = await _field_groups(ctx, detail, place)
    if "memos" in parts:
        loaded["memos"] = await memos.list_memos(ctx.db, contact_id=contact_id)
    if "records" in parts:
        loaded["books"] = await _books(ctx, contact_id)
    if "scheduled" in parts:
        pending = await scheduled_messages.list_scheduled(ctx.db, contact_id=contact_id)
        failed = await scheduled_messages.list_failed(ctx.db, contact_id=contact_id)
        image_ids = [image_id for item in pending + failed for image_id in item.image_ids]
        loaded["scheduled"] = pending
        loaded["scheduled_failed"] = failed
        loaded["scheduled_images"] = await files.files_by_id(ctx.db, image_ids)
    if {"memos", "records", "scheduled"} & set(parts):
        loaded["member_names"] = {m.id: m.name for m in await members.list_members(ctx.db)}
    return Panel(detail=detail, place=place, can_manage=can_manage(member), **loaded)


def local_input_value(moment: datetime, timezone: str) -> str:
    """A ``datetime-local`` input's value, in the workspace's time (Japan time)."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%dT%H:%M")
