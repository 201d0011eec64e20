"""Workspace settings: 対応ステータス, 対応マーク and タグ (tags in folders)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from madoguchi.contacts.models import Contact
from madoguchi.crm import marks, statuses, tags
from madoguchi.crm.models import ContactTag, Tag, TagFolder
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep, MemberDep
from madoguchi.ui.settings_pages import (
    N_,
    PAGE,
    FormText,
    SettingsPage,
    act,
    add_page,
    as_id,
    as_ids,
    chosen_color,
    counts_by,
    moved,
    moved_notice,
    translated,
)

router = APIRouter()


# --- 対応ステータス -----------------------------------------------------------------------------


async def _statuses(ctx: Ctx) -> dict[str, Any]:
    return {
        "statuses": await statuses.list_statuses(ctx.db),
        "contacts_by_status": await counts_by(ctx.db, Contact.status_id),
    }


STATUSES = SettingsPage("statuses", _statuses)


add_page(router, STATUSES)


@router.post("/settings/statuses")
async def add_status(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    color: FormText = "",
    custom_color: FormText = "",
) -> Response:
    picked = chosen_color(color, custom_color)
    return await act(
        request,
        ctx,
        member,
        STATUSES,
        lambda: statuses.create_status(ctx, name=name, color=picked),
        at="new-status",
        notice=translated(member, N_("Added the status %(name)s."), name=name.strip()),
        draft={"name": name, "color": picked},
    )


@router.post("/settings/statuses/{status_id}/update")
async def update_status(
    status_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    color: FormText = "",
    custom_color: FormText = "",
) -> Response:
    picked = chosen_color(color, custom_color)
    return await act(
        request,
        ctx,
        member,
        STATUSES,
        lambda: statuses.update_status(ctx, status_id=status_id, name=name, color=picked),
        at=f"status-{status_id}",
        draft={"name": name, "color": picked},
    )


@router.post("/settings/statuses/{status_id}/move")
async def move_status(
    status_id: int, request: Request, member: MemberDep, ctx: CtxDep, direction: FormText = ""
) -> Response:
    async def change() -> None:
        order = [s.id for s in await statuses.list_statuses(ctx.db)]
        await statuses.reorder_statuses(ctx, ids=moved(order, status_id, direction))

    return await act(
        request,
        ctx,
        member,
        STATUSES,
        change,
        at=f"status-{status_id}",
        notice=moved_notice(member, direction),
        quiet=True,
    )


@router.post("/settings/statuses/order")
async def order_statuses(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies the default)
) -> Response:
    """The order after a drag (every status's id once)."""
    return await act(
        request,
        ctx,
        member,
        STATUSES,
        lambda: statuses.reorder_statuses(ctx, ids=as_ids(ids)),
        at=PAGE,
        notice=translated(member, N_("The new order is saved.")),
        quiet=True,
    )


@router.post("/settings/statuses/{status_id}/delete")
async def delete_status(
    status_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    return await act(
        request,
        ctx,
        member,
        STATUSES,
        lambda: statuses.delete_status(ctx, status_id=status_id),
        at=f"status-{status_id}",
        notice=translated(member, N_("Deleted the status %(name)s."), name=name),
        notice_at=PAGE,
    )


# --- 対応マーク ---------------------------------------------------------------------------------


async def _marks(ctx: Ctx) -> dict[str, Any]:
    return {"marks": await marks.list_marks(ctx.db)}


MARKS = SettingsPage("marks", _marks)


add_page(router, MARKS)


@router.post("/settings/marks/{mark_id}/update")
async def update_mark(
    mark_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: Annotated[str | None, Form()] = None,
    color: FormText = "",
    custom_color: FormText = "",
) -> Response:
    """Rename (the six renamable marks) and recolour (all eight)."""
    picked = chosen_color(color, custom_color)
    return await act(
        request,
        ctx,
        member,
        MARKS,
        lambda: marks.update_mark(ctx, mark_id=mark_id, name=name, color=picked),
        at=f"mark-{mark_id}",
        draft={"name": name, "color": picked},
    )


# --- タグ -----------------------------------------------------------------------------------


async def _tags(ctx: Ctx) -> dict[str, Any]:
    folders = await tags.list_folders(ctx.db)
    all_tags = await tags.list_tags(ctx.db)
    tags_in: dict[int | None, list[Tag]] = {}
    for tag in all_tags:
        tags_in.setdefault(tag.folder_id, []).append(tag)
    children: dict[int, list[TagFolder]] = {}
    for folder in folders:
        if folder.parent_id is not None:
            children.setdefault(folder.parent_id, []).append(folder)
    return {
        "top_folders": [f for f in folders if f.parent_id is None],
        "subfolders": children,
        "folders": folders,
        "folder_names": {f.id: f.name for f in folders},
        "tags_in": tags_in,
        "tag_count": len(all_tags),
        "contacts_by_tag": await counts_by(ctx.db, ContactTag.tag_id),
    }


TAGS = SettingsPage("tags", _tags)


add_page(router, TAGS)


@router.post("/settings/tags")
async def add_tag(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    folder_id: FormText = "",
) -> Response:
    return await act(
        request,
        ctx,
        member,
        TAGS,
        lambda: tags.create_tag(ctx, actor=member, name=name, folder=as_id(folder_id)),
        at="new-tag",
        notice=translated(member, N_("Added the tag %(name)s."), name=name.strip()),
        draft={"name": name, "folder_id": as_id(folder_id)},
    )


@router.post("/settings/tags/{tag_id}/update")
async def update_tag(
    tag_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    folder_id: FormText = "",
) -> Response:
    """Rename a tag and put it in a folder (or outside any)."""
    return await act(
        request,
        ctx,
        member,
        TAGS,
        lambda: tags.update_tag(
            ctx, actor=member, tag_id=tag_id, name=name, folder=as_id(folder_id), move=True
        ),
        at=f"tag-{tag_id}",
        draft={"name": name, "folder_id": as_id(folder_id)},
    )


@router.post("/settings/tags/{tag_id}/delete")
async def delete_tag(
    tag_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    return await act(
        request,
        ctx,
        member,
        TAGS,
        lambda: tags.delete_tag(ctx, actor=member, tag_id=tag_id),
        at=f"tag-{tag_id}",
        notice=translated(member, N_("Deleted the tag %(name)s."), name=name),
        notice_at=PAGE,
    )


@router.post("/settings/tag-folders")
async def add_tag_folder(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    parent_id: FormText = "",
) -> Response:
    return await act(
        request,
        ctx,
        member,
        TAGS,
        lambda: tags.create_folder(ctx, actor=member, name=name, parent_id=as_id(parent_id)),
        at="new-folder",
        notice=translated(member, N_("Added the folder %(name)s."), name=name.strip()),
        draft={"name": name, "parent_id": as_id(parent_id)},
    )


@router.post("/settings/tag-folders/{folder_id}/update")
async def rename_tag_folder(
    folder_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    return await act(
        request,
        ctx,
        member,
        TAGS,
        lambda: tags.rename_folder(ctx, actor=member, folder_id=folder_id, name=name),
        at=f"folder-{folder_id}",
        draft={"name": name},
    )


@router.post("/settings/tag-folders/{folder_id}/delete")
async def delete_tag_folder(
    folder_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    """Delete a folder (and its sub-folders); their tags stay, outside any folder."""
    return await act(
        request,
        ctx,
        member,
        TAGS,
        lambda: tags.delete_folder(ctx, actor=member, folder_id=folder_id),
        at=f"folder-{folder_id}",
        notice=translated(
            member,
            N_("Deleted the folder %(name)s; its tags are now outside any folder."),
            name=name,
        ),
        notice_at=PAGE,
    )
