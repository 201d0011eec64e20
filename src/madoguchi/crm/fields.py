"""Profile fields (パーソナル情報 / 友だち情報): definitions, and each contact's values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.contacts.models import Contact
from madoguchi.crm import values
from madoguchi.crm.contact import get_contact
from madoguchi.crm.models import Field, FieldFolder, FieldType, FieldValue
from madoguchi.events.types import ContactUpdated, FieldsChanged
from madoguchi.kit.clean import clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.ids import is_id
from madoguchi.kit.ordering import next_position, reorder
from madoguchi.kit.text import normalize

# The details every contact keeps in its own columns (the contacts service's), by the names a
# salon gives a profile field for the same fact. Such a field is not a second place for it: the
# contact page shows the contact's own column once (matching, search, forms and e-mails use it).
BUILT_IN_NAMES: dict[str, tuple[str, ...]] = {
    "phone": (
        "電話",
        "電話番号",
        "携帯",
        "携帯番号",
        "携帯電話",
        "携帯電話番号",
        "tel",
        "phone",
        "phonenumber",
        "telephone",
    ),
    "email": (
        "メール",
        "メールアドレス",
        "eメール",
        "eメールアドレス",
        "email",
        "mail",
        "emailaddress",
    ),
}


def name_key(text: str) -> str:
    """A name as headings and labels are compared: normalised, without spaces, _ - ・."""
    return "".join(ch for ch in normalize(text) if ch not in " _-　・")


def built_in_twin(field: Field) -> str | None:
    """``phone`` or ``email`` when the field's label or key names that contact detail."""
    names = {name_key(field.label), name_key(field.key)}
    for detail, aliases in BUILT_IN_NAMES.items():
        if names & {name_key(alias) for alias in aliases}:
            return detail
    return None


async def list_folders(db: AsyncSession) -> list[FieldFolder]:
    return list(
        await db.scalars(select(FieldFolder).order_by(FieldFolder.position, FieldFolder.id))
    )


async def list_fields(db: AsyncSession) -> list[Field]:
    return list(await db.scalars(select(Field).order_by(Field.position, Field.id)))


async def get_field(db: AsyncSession, *, field_id: int) -> Field:
    field = await db.get(Field, field_id) if is_id(field_id) else None
    if field is None:
        raise NotFound("No field with id %(id)s.", id=field_id)
    return field


async def field_by_key(db: AsyncSession, key: str) -> Field:
    field = await db.scalar(select(Field).where(Field.key == key))
    if field is None:
        raise NotFound("No field with the key %(key)s.", key=key)
    return field


async def folder_for(ctx: Ctx, ref: int | str | None) -> FieldFolder | None:
    """A folder by id, or by name (made if new, with its audit entry: the one place a field
    folder is made, asked for or named by a new field; nothing committed here)."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, int):
        folder = await ctx.db.get(FieldFolder, ref) if is_id(ref) else None
        if folder is None:
            raise NotFound("No field folder with id %(id)s.", id=ref)
        return folder
    name = clean_name(ref)
    folder = await ctx.db.scalar(select(FieldFolder).where(FieldFolder.name == name))
    if folder is None:
        folder = FieldFolder(name=name, position=await next_position(ctx.db, FieldFolder.position))
        ctx.db.add(folder)
        await ctx.db.flush()
        audit.record(
            ctx,
            action="field_folder.created",
            subject=f"field_folder {folder.id}",
            name=folder.name,
            after={"name": folder.name},
        )
    return folder


async def create_folder(ctx: Ctx, *, name: str) -> FieldFolder:
    name = clean_name(name)
    if await ctx.db.scalar(select(FieldFolder.id).where(FieldFolder.name == name)):
        raise Conflict("A field folder named %(name)s already exists.", name=name)
    folder = await folder_for(ctx, name)
    assert folder is not None
    await ctx.commit(FieldsChanged(folder_id=folder.id))
    return folder


async def delete_folder(ctx: Ctx, *, folder_id: int) -> None:
    """Delete a folder; its fields stay, outside any folder."""
    folder = await ctx.db.get(FieldFolder, folder_id) if is_id(folder_id) else None
    if folder is None:
        raise NotFound("No field folder with id %(id)s.", id=folder_id)
    audit.record(
        ctx,
        action="field_folder.deleted",
        subject=f"field_folder {folder.id}",
        name=folder.name,
        before={"name": folder.name},
    )
    await ctx.db.delete(folder)
    await ctx.commit(FieldsChanged(folder_id=folder_id))


async def create_field(
    ctx: Ctx,
    *,
    key: str,
    label: str,
    type: str,
    folder: int | str | None = None,
    options: list[str] | None = None,
    show_in_chat: bool = True,
) -> Field:
    key = values.check_key(key)
    if await ctx.db.scalar(select(Field.id).where(Field.key == key)):
        raise Conflict("A field with the key %(key)s already exists.", key=key)
    field_type = values.check_type(type)
    field_folder = await folder_for(ctx, folder)
    field = Field(
        key=key,
        label=clean_name(label, 100),
        type=field_type,
        folder_id=field_folder.id if field_folder else None,
        options=values.check_options(field_type, options),
        show_in_chat=show_in_chat,
        position=await next_position(ctx.db, Field.position),
    )
    ctx.db.add(field)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="field.created",
        subject=f"field {field.id}",
        name=field.label,
        after={"key": field.key, "type": str(field.type), **await _audited(ctx.db, field)},
    )
    await ctx.commit(FieldsChanged(field_id=field.id))
    return field


async def _audited(db: AsyncSession, field: Field) -> dict[str, Any]:
    folder = None if field.folder_id is None else await db.get(FieldFolder, field.folder_id)
    return {
        "label": field.label,
        "folder": folder.name if folder else None,
        "options": list(field.options or []),
        "show_in_chat": field.show_in_chat,
    }


@dataclass(frozen=True)
class FieldChanges:
    label: str | None = None
    folder: int | str | None = None
    move: bool = False
    options: list[str] | None = None
    show_in_chat: bool | None = None


async def update_field(ctx: Ctx, *, field_id: int, changes: FieldChanges) -> Field:
    """Change a definition; its key and type stay (values are stored by type)."""
    field = await get_field(ctx.db, field_id=field_id)
    before = await _audited(ctx.db, field)
    if changes.label is not None:
        field.label = clean_name(changes.label, 100)
    if changes.move:
        field_folder = await folder_for(ctx, changes.folder)
        field.folder_id = field_folder.id if field_folder else None
    if changes.options is not None:
        options = values.check_options(field.type, changes.options)
        removed = set(field.options) - set(options)
        if removed and await _option_in_use(ctx.db, field, removed):
            raise Invalid("A removed choice is still some contact's value: change those first.")
        field.options = options
    if changes.show_in_chat is not None:
        field.show_in_chat = changes.show_in_chat
    audit.record_changes(
        ctx,
        action="field.updated",
        subject=f"field {field.id}",
        name=field.label,
        before=before,
        after=await _audited(ctx.db, field),
    )
    await ctx.commit(FieldsChanged(field_id=field.id))
    return field


async def _option_in_use(db: AsyncSession, field: Field, removed: set[str]) -> bool:
    stored = await db.scalars(select(FieldValue.value_text).where(FieldValue.field_id == field.id))
    for text in stored:
        chosen = set((text or "").strip("\n").split("\n"))
        if chosen & removed:
            return True
    return False


async def reorder_fields(ctx: Ctx, *, ids: list[int]) -> list[Field]:
    before = [f.label for f in await list_fields(ctx.db)]
    fields = await reorder(ctx.db, Field, ids)
    audit.record_changes(
        ctx,
        action="field.reordered",
        subject="field",
        before={"order": before},
        after={"order": [f.label for f in fields]},
    )
    await ctx.commit(FieldsChanged())
    return fields


async def delete_field(ctx: Ctx, *, field_id: int) -> None:
    """Delete a field with every contact's value of it."""
    field = await get_field(ctx.db, field_id=field_id)
    audit.record(
        ctx,
        action="field.deleted",
        subject=f"field {field.id}",
        name=field.label,
        before={"key": field.key, "label": field.label, "type": str(field.type)},
    )
    await ctx.db.delete(field)
    await ctx.commit(FieldsChanged(field_id=field_id))


# --- values -----------------------------------------------------------------------------------


def stored_columns(field: Field, value: values.Value) -> dict[str, Any]:
    """The typed columns a value is kept in."""
    if field.type == FieldType.number:
        assert isinstance(value, int | float)
        return {"value_number": float(value), "value_text": None, "value_date": None}
    if field.type == FieldType.date:
        assert isinstance(value, date)
        return {"value_date": value, "value_text": None, "value_number": None}
    if field.type == FieldType.multi_select:
        assert isinstance(value, list)
        return {
            "value_text": "\n" + "\n".join(value) + "\n",
            "value_number": None,
            "value_date": None,
        }
    return {"value_text": str(value), "value_number": None, "value_date": None}


def read_value(field: Field, row: FieldValue) -> Any:
    """A stored value as JSON."""
    if field.type == FieldType.number:
        number = row.value_number
        return int(number) if number is not None and number.is_integer() else number
    if field.type == FieldType.date:
        return row.value_date.isoformat() if row.value_date else None
    if field.type == FieldType.multi_select:
        return [part for part in (row.value_text or "").split("\n") if part]
    return row.value_text


async def write_value(ctx: Ctx, *, contact_id: int, field: Field, raw: Any) -> Any:
    """Set (or clear, for empty) a value inside the caller's transaction; answers it as JSON."""
    value = values.coerce(field.type, raw, label=field.label, options=field.options)
    existing = await ctx.db.get(FieldValue, (contact_id, field.id))
    if value is None:
        if existing is not None:
            await ctx.db.delete(existing)
        return None
    columns = stored_columns(field, value)
    if existing is None:
        # With a copy of the contact's activity, as a tagging has (the filtered inbox walks it).
        activity = await ctx.db.scalar(select(Contact.activity_at).where(Contact.id == contact_id))
        existing = FieldValue(
            contact_id=contact_id, field_id=field.id, activity_at=activity, **columns
        )
        ctx.db.add(existing)
    else:
        for name, column_value in columns.items():
            setattr(existing, name, column_value)
    existing.updated_at = ctx.now()
    return values.to_json(value)


async def set_value(ctx: Ctx, *, contact_id: int, key: str, value: Any) -> Any:
    """A contact's value for a field, checked against its type (empty clears it)."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    field = await field_by_key(ctx.db, key)
    existing = await ctx.db.get(FieldValue, (contact_id, field.id))
    before = None if existing is None else read_value(field, existing)
    stored = await write_value(ctx, contact_id=contact_id, field=field, raw=value)
    audit.record_changes(
        ctx,
        action="contact.field_changed",
        subject=f"contact {contact.id}",
        name=contact.display_name,
        before={field.label: before},
        after={field.label: stored},
        detail={"key": field.key},
    )
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="fields"))
    return stored


async def contact_values(db: AsyncSession, *, contact_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each contact's values by field key."""
    rows = await db.execute(
        select(FieldValue, Field)
        .join(Field, Field.id == FieldValue.field_id)
        .where(FieldValue.contact_id.in_(contact_ids))
    )
    result: dict[int, dict[str, Any]] = {contact_id: {} for contact_id in contact_ids}
    for row, field in rows:
        result[row.contact_id][field.key] = read_value(field, row)
    return result


async def clear_values(ctx: Ctx, *, contact_id: int) -> None:
    await ctx.db.execute(delete(FieldValue).where(FieldValue.contact_id == contact_id))
