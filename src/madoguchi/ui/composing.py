"""What the composer adds to a reply (F7, F14): uploaded images, templates (テンプレート) filled
in for the customer, actions (アクション実行 ☆), and 再送 of a reply its channel refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from madoguchi.automation import macros, templates
from madoguchi.automation.models import Action, Template, TemplateFolder
from madoguchi.channels import outbox
from madoguchi.conversations import service as conversations
from madoguchi.crm import fields, statuses, tags
from madoguchi.files import service as files
from madoguchi.files.models import StoredFile
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui.panel import can_manage
from madoguchi.ui.render import render_for
from madoguchi.ui.threads import (
    conversation_changed,
    inbox_item,
    member_names,
    open_fragment,
    thread,
)

router = APIRouter()


# --- images -----------------------------------------------------------------------------------


def image_json(stored: StoredFile) -> dict[str, Any]:
    """What the composer's tray shows of an image waiting to be sent."""
    return {
        "id": stored.id,
        "thumbnail_url": f"/files/{stored.id}/thumbnail",
        "url": f"/files/{stored.id}",
        "name": stored.original_name,
    }


@router.post("/ui/files")
async def upload_image(file: UploadFile, member: MemberDep, ctx: CtxDep) -> Response:
    """One image for the composer or a scheduled message (JPEG, PNG, GIF or WebP by its
    content, at most 10 MB); a refused file answers the reason in the member's language."""
    data = await file.read(files.MAX_IMAGE_BYTES + 1)
    if not data:
        raise Invalid("The file is empty.")
    stored = await files.upload_image(ctx, data=data, name=file.filename or "")
    return JSONResponse(image_json(stored), status_code=201)


# --- templates (テンプレート) ------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateGroup:
    folder: TemplateFolder | None
    templates: list[Template] = field(default_factory=list)


async def template_groups(ctx: Ctx) -> list[TemplateGroup]:
    """Templates by folder, in the workspace's order; those in no folder last."""
    groups = [TemplateGroup(folder) for folder in await templates.list_folders(ctx.db)]
    loose = TemplateGroup(None)
    by_folder = {group.folder.id: group for group in groups if group.folder}
    for template in await templates.list_templates(ctx.db):
        by_folder.get(template.folder_id or 0, loose).templates.append(template)
    return [group for group in [*groups, loose] if group.templates]


@router.get("/ui/conversations/{conversation_id}/templates")
async def template_picker(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The picker: templates by folder, with a box that narrows them."""
    await conversations.get_conversation(ctx.db, conversation_id=conversation_id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_templates.html",
        conversation_id=conversation_id,
        groups=await template_groups(ctx),
        can_manage=can_manage(member),
    )


@router.get("/ui/conversations/{conversation_id}/templates/{template_id}")
async def template_filled(
    conversation_id: int, template_id: int, member: MemberDep, ctx: CtxDep
) -> Response:
    """「挿入」: the text filled in for this customer ({name}, {staff}…) and the images, for the
    composer to take in (the member may still change it before sending)."""
    filled = await templates.preview(
        ctx, template_id=template_id, conversation_id=conversation_id, member=member
    )
    return JSONResponse(
        {"text": filled.text, "images": [image_json(image) for image in filled.images]}
    )


@router.post("/ui/conversations/{conversation_id}/templates/{template_id}/send")
async def send_template(
    conversation_id: int, template_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「送信」: the template goes out at once, filled in, with its images."""
    message = await templates.send_template(
        ctx, conversation_id=conversation_id, template_id=template_id, member=member
    )
    conversation = await conversations.get_conversation(ctx.db, conversation_id=conversation_id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_messages.html",
        headers=conversation_changed(conversation_id, conversation.contact_id, "composer"),
        thread=await thread(ctx, conversation_id, [message]),
    )


# --- actions (アクション実行 ☆) ------------------------------------------------------------------


@dataclass(frozen=True)
class StepView:
    """One step of an action, with the names it refers to looked up."""

    type: str
    # What it names: a template, tags (joined with 、), a status, a field, a member, or a text.
    target: str = ""
    # hide / block: True does it, False undoes it; set_status / assign: False clears.
    on: bool = True


@dataclass(frozen=True)
class ActionView:
    """An action with its steps in words, so that the member knows what one click does."""

    action: Action
    steps: list[StepView]


def describe_step(step: dict[str, Any], names: dict[str, dict[Any, str]]) -> StepView:
    kind = str(step.get("type"))
    match kind:
        case "send_template":
            return StepView(kind, names["template"].get(step.get("template_id"), "?"))
        case "send_text":
            text = str(step.get("text") or "")
            return StepView(kind, text if len(text) <= 24 else text[:23] + "…")
        case "add_tags" | "remove_tags":
            tag_names = [names["tag"].get(i, "?") for i in step.get("tag_ids") or []]
            return StepView(kind, "、".join(tag_names))
        case "set_field":
            key = str(step.get("key") or "")
            return StepView(kind, names["field"].get(key, key))
        case "set_status":
            status = step.get("status")
            return StepView(kind, names["status"].get(status, "?"), on=status is not None)
        case "assign":
            chosen = step.get("member_id")
            return StepView(kind, names["member"].get(chosen, "?"), on=chosen is not None)
        case _:
            return StepView(kind, on=bool(step.get("value", True)))


async def _step_names(ctx: Ctx) -> dict[str, dict[Any, str]]:
    """The names steps refer to, by id (fields by key)."""
    return {
        "template": {t.id: t.name for t in await templates.list_templates(ctx.db)},
        "tag": {t.id: t.name for t in await tags.list_tags(ctx.db)},
        "status": {s.id: s.name for s in await statuses.list_statuses(ctx.db)},
        "field": {f.key: f.label for f in await fields.list_fields(ctx.db)},
        "member": await member_names(ctx),
    }


@router.get("/ui/conversations/{conversation_id}/actions")
async def action_list(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """☆: the workspace's actions, each with what it does."""
    names = await _step_names(ctx)
    found = [
        ActionView(action, [describe_step(step, names) for step in action.steps or []])
        for action in await macros.list_actions(ctx.db)
    ]
    return await open_fragment(
        request,
        ctx,
        member,
        conversation_id,
        "inbox/_actions.html",
        actions=found,
        can_manage=can_manage(member),
    )


@router.post("/ui/conversations/{conversation_id}/actions/{action_id}/run")
async def run_action(
    conversation_id: int, action_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Run an action on the conversation's customer: every step, or none with the reason."""
    item = await inbox_item(ctx, member, conversation_id)
    action = await macros.get_action(ctx.db, action_id=action_id)
    name = action.name
    await macros.run_action(ctx, action_id=action_id, contact_id=item.contact.id, actor=member)
    headers = conversation_changed(conversation_id, item.contact.id, "action", contact_part="all")
    return render_for(
        request, ctx, member, "inbox/_action_done.html", headers=headers, action_name=name
    )


# --- 再送 ---------------------------------------------------------------------------------------


@router.post("/ui/messages/{message_id}/resend")
async def resend(message_id: int, request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """再送: a reply its channel refused goes back in the outbox; the bubble says 送信中…"""
    message = await outbox.resend(ctx, message_id=message_id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_messages.html",
        thread=await thread(ctx, message.conversation_id, [message]),
    )
