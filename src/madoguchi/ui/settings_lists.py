"""Workspace settings: 対応ステータス, 対応マーク and タグ (tags in folders)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from madoguchi.contacts.models import Contact
from madoguchi.crm import marks, statuses, tags
from madoguchi.crm.models import ContactTag, TagFolder
from madoguchi.kit.context import Ctx
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import N_, SettingsPage, add_page, by_folder, counts_by

router = APIRouter()


# --- 対応ステータス -----------------------------------------------------------------------------


async def _statuses(ctx: Ctx) -> dict[str, Any]:
    return {
        "statuses": await statuses.list_statuses(ctx.db),
        "contacts_by_status": await counts_by(ctx.db, Contact.status_id),
    }


STATUSES = SettingsPage("statuses", _statuses)


add_page(router, STATUSES)


async def _status_ids(ctx: Ctx) -> list[int]:
    return [status.id for status in await statuses.list_statuses(ctx.db)]


NamedList(
    STATUSES,
    "/settings/statuses",
    "status",
    colored=True,
    create=lambda ctx, _, item: statuses.create_status(ctx, name=item.name, color=item.color),
    added=N_("Added the status %(name)s."),
    rename=lambda ctx, _, status_id, item: statuses.update_status(
        ctx, status_id=status_id, name=item.name, color=item.color
    ),
    ids=_status_ids,
    order=lambda ctx, ids: statuses.reorder_statuses(ctx, ids=ids),
    delete=lambda ctx, _, status_id: statuses.delete_status(ctx, status_id=status_id),
    deleted=N_("Deleted the status %(name)s."),
).register(router)


# --- 対応マーク ---------------------------------------------------------------------------------


async def _marks(ctx: Ctx) -> dict[str, Any]:
    return {"marks": await marks.list_marks(ctx.db)}


MARKS = SettingsPage("marks", _marks)


add_page(router, MARKS)


NamedList(
    MARKS,
    "/settings/marks",
    "mark",
    colored=True,
    # Renamed (the six renamable marks) and recoloured (all eight: a fixed one sends no name).
    rename=lambda ctx, _, mark_id, item: marks.update_mark(
        ctx, mark_id=mark_id, name=item.name if item.name_sent else None, color=item.color
    ),
).register(router)


# --- タグ -----------------------------------------------------------------------------------


async def _tags(ctx: Ctx) -> dict[str, Any]:
    folders = await tags.list_folders(ctx.db)
    all_tags = await tags.list_tags(ctx.db)
    children: dict[int, list[TagFolder]] = {}
    for folder in folders:
        if folder.parent_id is not None:
            children.setdefault(folder.parent_id, []).append(folder)
    return {
        "top_folders": [f for f in folders if f.parent_id is None],
        "subfolders": children,
        "folders": folders,
        "folder_names": {f.id: f.name for f in folders},
        "tags_in": by_folder(all_tags),
        "tag_count": len(all_tags),
        "contacts_by_tag": await counts_by(ctx.db, ContactTag.tag_id),
    }


TAGS = SettingsPage("tags", _tags)


add_page(router, TAGS)


NamedList(
    TAGS,
    "/settings/tags",
    "tag",
    folder_field="folder_id",
    create=lambda ctx, member, item: tags.create_tag(
        ctx, actor=member, name=item.name, folder=item.folder
    ),
    added=N_("Added the tag %(name)s."),
    # Renamed, and put in a folder (or outside any).
    rename=lambda ctx, member, tag_id, item: tags.update_tag(
        ctx, actor=member, tag_id=tag_id, name=item.name, folder=item.folder, move=True
    ),
    delete=lambda ctx, member, tag_id: tags.delete_tag(ctx, actor=member, tag_id=tag_id),
    deleted=N_("Deleted the tag %(name)s."),
).register(router)


NamedList(
    TAGS,
    "/settings/tag-folders",
    "folder",
    folder_field="parent_id",
    create=lambda ctx, member, item: tags.create_folder(
        ctx, actor=member, name=item.name, parent_id=item.folder
    ),
    added=N_("Added the folder %(name)s."),
    rename=lambda ctx, member, folder_id, item: tags.rename_folder(
        ctx, actor=member, folder_id=folder_id, name=item.name
    ),
    # Its sub-folders go with it; their tags stay, outside any folder.
    delete=lambda ctx, member, folder_id: tags.delete_folder(
        ctx, actor=member, folder_id=folder_id
    ),
    deleted=N_("Deleted the folder %(name)s; its tags are now outside any folder."),
).register(router)
