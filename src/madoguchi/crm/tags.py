"""Tags in folders (タグ / フォルダ), and which contacts carry them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from madoguchi.audit import service as audit
from madoguchi.automation import triggers
from madoguchi.contacts.models import Contact
from madoguchi.crm.contact import get_contact
from madoguchi.crm.models import ContactTag, Tag, TagFolder
from madoguchi.events.types import ContactUpdated, TagAdded, TagsChanged
from madoguchi.kit.clean import clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import AnySelect, in_ids, per_dialect
from madoguchi.kit.errors import Conflict, Forbidden, Invalid, NotFound
from madoguchi.kit.ids import is_id
from madoguchi.kit.ordering import next_position
from madoguchi.members.models import Member, Role
from madoguchi.members.service import ensure_manager

# Who may do what with tags (docs/api.md, "Tags"): every member tags customers and may make a
# new tag while doing so, outside any folder or in a folder that exists; making, renaming and
# deleting folders, and renaming, moving and deleting tags, is for owners and admins.

# ``actor`` None is the product itself (the demo loader, an import already checked).


def _ensure_manager(actor: Member | None) -> None:
    if actor is not None:
        ensure_manager(actor)


async def list_folders(db: AsyncSession) -> list[TagFolder]:
    return list(await db.scalars(select(TagFolder).order_by(TagFolder.position, TagFolder.id)))


async def list_tags(db: AsyncSession) -> list[Tag]:
    return list(await db.scalars(select(Tag).order_by(Tag.position, Tag.id)))


async def get_folder(db: AsyncSession, *, folder_id: int) -> TagFolder:
    folder = await db.get(TagFolder, folder_id) if is_id(folder_id) else None
    if folder is None:
        raise NotFound("No tag folder with id %(id)s.", id=folder_id)
    return folder


async def get_tag(db: AsyncSession, *, tag_id: int) -> Tag:
    tag = await db.get(Tag, tag_id) if is_id(tag_id) else None
    if tag is None:
        raise NotFound("No tag with id %(id)s.", id=tag_id)
    return tag


async def find_tag(db: AsyncSession, ref: int | str) -> Tag:
    """A tag by id, or by name (a name used in two folders is ambiguous)."""
    if isinstance(ref, int):
        return await get_tag(db, tag_id=ref)
    found = list(await db.scalars(select(Tag).where(Tag.name == ref.strip())))
    if not found:
        raise NotFound("No tag named %(name)s.", name=ref)
    if len(found) > 1:
        raise Invalid("More than one tag is named %(name)s: use its id.", name=ref)
    return found[0]


async def _folder_for(ctx: Ctx, ref: int | str | None, actor: Member | None) -> TagFolder | None:
    """A folder by id, or by name (a top-level one; made if new)."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, int):
        return await get_folder(ctx.db, folder_id=ref)
    name = clean_name(ref)
    found = list(
        await ctx.db.scalars(
            select(TagFolder).where(TagFolder.name == name, TagFolder.parent_id.is_(None))
        )
    )
    if len(found) > 1:
        raise Invalid("More than one folder is named %(name)s: use its id.", name=name)
    folder = found[0] if found else None
    if folder is None:
        if actor is not None and actor.role not in (Role.owner, Role.admin):
            raise Forbidden(
                "Only owners and admins can make a tag folder: choose one that exists, or none."
            )
        folder = await _new_folder(ctx, name, None)
    return folder


async def _new_folder(ctx: Ctx, name: str, parent_id: int | None) -> TagFolder:
    """The one place a tag folder is made, asked for or named by a new tag (or an import), with
    its audit entry (inside the caller's transaction: nothing committed here)."""
    folder = TagFolder(
        name=name, parent_id=parent_id, position=await next_position(ctx.db, TagFolder.position)
    )
    ctx.db.add(folder)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="tag_folder.created",
        subject=f"tag_folder {folder.id}",
        name=folder.name,
        after={"name": folder.name, "parent": await _folder_name(ctx.db, parent_id)},
    )
    return folder


async def _check_folder_name(
    db: AsyncSession, name: str, parent_id: int | None, exclude: int | None = None
) -> None:
    query = select(TagFolder.id).where(
        TagFolder.name == name,
        TagFolder.parent_id.is_(None) if parent_id is None else TagFolder.parent_id == parent_id,
    )
    if exclude is not None:
        query = query.where(TagFolder.id != exclude)
    if await db.scalar(query) is not None:
        raise Conflict("A folder named %(name)s already exists there.", name=name)


async def create_folder(
    ctx: Ctx, *, actor: Member | None, name: str, parent_id: int | None = None
) -> TagFolder:
    _ensure_manager(actor)
    name = clean_name(name)
    await _check_folder_name(ctx.db, name, parent_id)
    if parent_id is not None:
        parent = await get_folder(ctx.db, folder_id=parent_id)
        if parent.parent_id is not None:
            raise Invalid("Folders nest one level deep: this folder is already inside another.")
    folder = await _new_folder(ctx, name, parent_id)
    await ctx.commit(TagsChanged(folder_id=folder.id))
    return folder


async def _folder_name(db: AsyncSession, folder_id: int | None) -> str | None:
    folder = None if folder_id is None else await db.get(TagFolder, folder_id)
    return folder.name if folder else None


async def rename_folder(ctx: Ctx, *, actor: Member | None, folder_id: int, name: str) -> TagFolder:
    _ensure_manager(actor)
    folder = await get_folder(ctx.db, folder_id=folder_id)
    name = clean_name(name)
    await _check_folder_name(ctx.db, name, folder.parent_id, exclude=folder.id)
    audit.record_changes(
        ctx,
        action="tag_folder.renamed",
        subject=f"tag_folder {folder.id}",
        name=name,
        before={"name": folder.name},
        after={"name": name},
    )
    folder.name = name
    await ctx.commit(TagsChanged(folder_id=folder.id))
    return folder


async def delete_folder(ctx: Ctx, *, actor: Member | None, folder_id: int) -> None:
    """Delete a folder (and its sub-folders); their tags stay, outside any folder. Refused
    when a tag would then share its name with another outside any folder."""
    _ensure_manager(actor)
    folder = await get_folder(ctx.db, folder_id=folder_id)
    folder_ids = [
        folder.id,
        *await ctx.db.scalars(select(TagFolder.id).where(TagFolder.parent_id == folder.id)),
    ]
    moving = list(await ctx.db.scalars(select(Tag.name).where(Tag.folder_id.in_(folder_ids))))
    loose = set(await ctx.db.scalars(select(Tag.name).where(Tag.folder_id.is_(None))))
    clash = sorted((set(moving) & loose) | {n for n in moving if moving.count(n) > 1})
    if clash:
        raise Conflict(
            "Tags named %(names)s would have the same name outside any folder: rename them first.",
            names="、".join(clash),
        )
    await ctx.db.execute(update(Tag).where(Tag.folder_id.in_(folder_ids)).values(folder_id=None))
    audit.record(
        ctx,
        action="tag_folder.deleted",
        subject=f"tag_folder {folder.id}",
        name=folder.name,
        before={"name": folder.name},
        detail={"tags": len(moving)},
    )
    await ctx.db.delete(folder)
    await ctx.commit(TagsChanged(folder_id=folder_id))


async def _check_unique(
    db: AsyncSession, name: str, folder_id: int | None, exclude: int | None = None
) -> None:
    query = select(Tag.id).where(
        Tag.name == name,
        Tag.folder_id.is_(None) if folder_id is None else Tag.folder_id == folder_id,
    )
    if exclude is not None:
        query = query.where(Tag.id != exclude)
    if await db.scalar(query) is not None:
        raise Conflict("A tag named %(name)s already exists in that folder.", name=name)


async def create_tag(
    ctx: Ctx, *, actor: Member | None, name: str, folder: int | str | None = None
) -> Tag:
    """A new tag; ``folder`` is a folder's id, or a name (a new folder is made for a new name,
    by an owner or an admin)."""
    name = clean_name(name)
    tag_folder = await _folder_for(ctx, folder, actor)
    folder_id = tag_folder.id if tag_folder else None
    await _check_unique(ctx.db, name, folder_id)
    tag = await _new_tag(ctx, name, tag_folder)
    await ctx.commit(TagsChanged(tag_id=tag.id))
    return tag


async def _new_tag(ctx: Ctx, name: str, folder: TagFolder | None) -> Tag:
    """The one place a tag is made (by hand, by name in a contact's tags, by an import), with
    its audit entry; flushed inside the caller's transaction."""
    tag = Tag(
        name=name,
        folder_id=folder.id if folder else None,
        position=await next_position(ctx.db, Tag.position),
    )
    ctx.db.add(tag)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="tag.created",
        subject=f"tag {tag.id}",
        name=tag.name,
        after={"name": tag.name, "folder": folder.name if folder else None},
    )
    return tag


async def update_tag(
    ctx: Ctx,
    *,
    actor: Member | None,
    tag_id: int,
    name: str | None = None,
    folder: int | str | None = None,
    move: bool = False,
) -> Tag:
    """Rename a tag, and with ``move`` put it in ``folder`` (None: outside any folder)."""
    _ensure_manager(actor)
    tag = await get_tag(ctx.db, tag_id=tag_id)
    new_name = clean_name(name) if name is not None else tag.name
    folder_id = tag.folder_id
    if move:
        tag_folder = await _folder_for(ctx, folder, actor)
        folder_id = tag_folder.id if tag_folder else None
    await _check_unique(ctx.db, new_name, folder_id, exclude=tag.id)
    audit.record_changes(
        ctx,
        action="tag.updated",
        subject=f"tag {tag.id}",
        name=new_name,
        before={"name": tag.name, "folder": await _folder_name(ctx.db, tag.folder_id)},
        after={"name": new_name, "folder": await _folder_name(ctx.db, folder_id)},
    )
    tag.name, tag.folder_id = new_name, folder_id
    await ctx.commit(TagsChanged(tag_id=tag.id))
    return tag


async def delete_tag(ctx: Ctx, *, actor: Member | None, tag_id: int) -> None:
    _ensure_manager(actor)
    tag = await get_tag(ctx.db, tag_id=tag_id)
    audit.record(
        ctx,
        action="tag.deleted",
        subject=f"tag {tag.id}",
        name=tag.name,
        before={"name": tag.name, "folder": await _folder_name(ctx.db, tag.folder_id)},
    )
    await ctx.db.delete(tag)
    await ctx.commit(TagsChanged(tag_id=tag_id))


# Built once: a page of the list reads it for every request (issue 14).
_TAGS_OF: AnySelect = (
    select(ContactTag.contact_id, Tag)
    .join(Tag, Tag.id == ContactTag.tag_id)
    .where(in_ids(ContactTag.contact_id, "contact_ids"))
    .order_by(Tag.position, Tag.id)
)


_Column = ColumnElement[int] | InstrumentedAttribute[int]


def tags_json(contact_id: _Column) -> ColumnElement[str]:
    """A contact's tags as one JSON text, ``[[position, id, name], ...]`` in no order (read
    with ``tag_pairs``, which sorts them): a column of the inbox page's one statement, in place
    of a statement of its own for the page's tags (issue 14). SQLite's aggregate is
    ``json_group_array``, and gives ``[]`` for none; PostgreSQL's ``json_agg``, and NULL."""

    def of(aggregate: Any) -> Any:
        return (
            select(aggregate)
            .select_from(ContactTag)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id == contact_id)
            .scalar_subquery()
        )

    return per_dialect(
        sqlite=of(func.json_group_array(func.json_array(Tag.position, Tag.id, Tag.name))),
        postgresql=of(func.json_agg(func.json_build_array(Tag.position, Tag.id, Tag.name))),
    )


def tag_pairs(tags_json: str | list[Any] | None) -> list[tuple[int, str]]:
    """A ``tags_json`` column's tags as (id, name), in the workspace's tag order (the text, or
    the list the PostgreSQL driver decoded it to)."""
    if not tags_json:
        return []
    found = json.loads(tags_json) if isinstance(tags_json, str) else tags_json
    return [(ident, name) for _, ident, name in sorted(found)]


async def contact_tags(db: AsyncSession, *, contact_ids: list[int]) -> dict[int, list[Tag]]:
    """Each contact's tags, in the workspace's tag order."""
    tags: dict[int, list[Tag]] = {contact_id: [] for contact_id in contact_ids}
    for contact_id, tag in await db.execute(_TAGS_OF, {"contact_ids": contact_ids}):
        tags[contact_id].append(tag)
    return tags


async def tag_by_name(ctx: Ctx, name: str) -> Tag:
    """The tag of that name, made outside any folder if there is none (inside the caller's
    transaction: nothing committed here)."""
    found = list(await ctx.db.scalars(select(Tag).where(Tag.name == clean_name(name))))
    if len(found) > 1:
        raise Invalid("More than one tag is named %(name)s: use its id.", name=name)
    if found:
        return found[0]
    return await _new_tag(ctx, clean_name(name), None)


async def tag_in_folder(ctx: Ctx, name: str, folder: str) -> Tag:
    """The tag of that name in the top-level folder of that name, either made if new (inside the
    caller's transaction: nothing committed here; for an import already checked)."""
    tag_folder = await _folder_for(ctx, folder, None)
    assert tag_folder is not None
    name = clean_name(name)
    found = await ctx.db.scalar(select(Tag).where(Tag.folder_id == tag_folder.id, Tag.name == name))
    if found is not None:
        return found
    return await _new_tag(ctx, name, tag_folder)


async def attach(ctx: Ctx, *, contact_id: int, tag_ids: list[int]) -> list[int]:
    """Put these tags on a contact (nothing committed here); the ids that were new to them."""
    current = set(
        await ctx.db.scalars(select(ContactTag.tag_id).where(ContactTag.contact_id == contact_id))
    )
    added = [tag_id for tag_id in dict.fromkeys(tag_ids) if tag_id not in current]
    activity = await ctx.db.scalar(select(Contact.activity_at).where(Contact.id == contact_id))
    for tag_id in added:
        ctx.db.add(
            ContactTag(
                contact_id=contact_id, tag_id=tag_id, created_at=ctx.now(), activity_at=activity
            )
        )
    await triggers.note(
        ctx,
        *(triggers.Fact(triggers.TAG_ADDED, contact_id, subject_id=tag_id) for tag_id in added),
    )
    return added


async def _tag_names(db: AsyncSession, contact_id: int) -> list[str]:
    return list(
        await db.scalars(
            select(Tag.name)
            .join(ContactTag, ContactTag.tag_id == Tag.id)
            .where(ContactTag.contact_id == contact_id)
            .order_by(Tag.name)
        )
    )


async def _audit_tags(ctx: Ctx, contact: Contact, before: list[str]) -> None:
    await ctx.db.flush()
    audit.record_changes(
        ctx,
        action="contact.tags_changed",
        subject=f"contact {contact.id}",
        name=contact.display_name,
        before={"tags": before},
        after={"tags": await _tag_names(ctx.db, contact.id)},
    )


async def add_tag(ctx: Ctx, *, contact_id: int, tag_id: int) -> None:
    """Put a tag on a contact (already there: nothing changes)."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    await get_tag(ctx.db, tag_id=tag_id)
    before = await _tag_names(ctx.db, contact_id)
    if await attach(ctx, contact_id=contact_id, tag_ids=[tag_id]):
        await _audit_tags(ctx, contact, before)
        await ctx.commit(
            ContactUpdated(contact_id=contact_id, part="tags"),
            TagAdded(contact_id=contact_id, tag_id=tag_id),
        )


async def remove_tag(ctx: Ctx, *, contact_id: int, tag_id: int) -> None:
    contact = await get_contact(ctx.db, contact_id=contact_id)
    await get_tag(ctx.db, tag_id=tag_id)
    before = await _tag_names(ctx.db, contact_id)
    await ctx.db.execute(
        delete(ContactTag).where(ContactTag.contact_id == contact_id, ContactTag.tag_id == tag_id)
    )
    await _audit_tags(ctx, contact, before)
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="tags"))


async def set_tags(ctx: Ctx, *, contact_id: int, tag_ids: list[int]) -> list[Tag]:
    """Make a contact's tags exactly these (the chat's multi-select editor)."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    before = await _tag_names(ctx.db, contact_id)
    wanted = set(tag_ids)
    possible = [tag_id for tag_id in wanted if is_id(tag_id)]
    known = set(await ctx.db.scalars(select(Tag.id).where(Tag.id.in_(possible))))
    if wanted - known:
        raise NotFound("No tag with id %(id)s.", id=min(wanted - known))
    current = set(
        await ctx.db.scalars(select(ContactTag.tag_id).where(ContactTag.contact_id == contact_id))
    )
    if current - wanted:
        await ctx.db.execute(
            delete(ContactTag).where(
                ContactTag.contact_id == contact_id, ContactTag.tag_id.in_(current - wanted)
            )
        )
    added = [
        TagAdded(contact_id=contact_id, tag_id=tag_id)
        for tag_id in await attach(ctx, contact_id=contact_id, tag_ids=sorted(wanted - current))
    ]
    await _audit_tags(ctx, contact, before)
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="tags"), *added)
    return (await contact_tags(ctx.db, contact_ids=[contact_id]))[contact_id]
