"""``/api/v1/templates``, ``/api/v1/template-folders`` and ``/api/v1/actions``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from madoguchi.automation import macros, templates
from madoguchi.automation.schemas import (
    ActionCreate,
    ActionOut,
    ActionRun,
    ActionUpdate,
    TemplateCreate,
    TemplateFolderOut,
    TemplateOut,
    TemplatePreview,
    TemplateUpdate,
)
from madoguchi.kit.schemas import Items
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager

router = APIRouter(prefix="/api/v1", tags=["automation"])


@router.get("/template-folders", response_model=Items[TemplateFolderOut])
async def list_template_folders(_member: MemberDep, ctx: CtxDep) -> Items[TemplateFolderOut]:
    found = await templates.list_folders(ctx.db)
    return Items(items=[TemplateFolderOut.model_validate(f) for f in found])


@router.get("/templates", response_model=Items[TemplateOut])
async def list_templates(_member: MemberDep, ctx: CtxDep) -> Items[TemplateOut]:
    found = await templates.list_templates(ctx.db)
    return Items(items=[TemplateOut.model_validate(t) for t in found])


@router.post("/templates", response_model=TemplateOut, status_code=201)
async def create_template(body: TemplateCreate, member: MemberDep, ctx: CtxDep) -> Any:
    """A template (≤ 1,000 characters; placeholders {name}, {channel_name}, {staff},
    {days_since_last_visit}); ``folder`` is an id or a name (made if new)."""
    ensure_manager(member)
    return await templates.create_template(
        ctx, name=body.name, text=body.text, folder=body.folder, image_ids=body.image_ids
    )


@router.patch("/templates/{template_id}", response_model=TemplateOut)
async def update_template(
    template_id: int, body: TemplateUpdate, member: MemberDep, ctx: CtxDep
) -> Any:
    ensure_manager(member)
    return await templates.update_template(
        ctx,
        template_id=template_id,
        changes=templates.TemplateChanges(
            name=body.name,
            text=body.text,
            folder=body.folder,
            move="folder" in body.model_fields_set,
            image_ids=body.image_ids,
        ),
    )


@router.delete("/templates/{template_id}", status_code=204)
async def delete_template(template_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await templates.delete_template(ctx, template_id=template_id, actor=member)
    return Response(status_code=204)


@router.get("/templates/{template_id}/preview", response_model=TemplatePreview)
async def preview_template(
    template_id: int, member: MemberDep, ctx: CtxDep, conversation_id: Annotated[int, Query()]
) -> TemplatePreview:
    """The text filled in for a conversation's contact, to insert into the composer."""
    filled = await templates.preview(
        ctx, template_id=template_id, conversation_id=conversation_id, member=member
    )
    return TemplatePreview(text=filled.text, image_ids=[image.id for image in filled.images])


@router.get("/actions", response_model=Items[ActionOut])
async def list_actions(_member: MemberDep, ctx: CtxDep) -> Items[ActionOut]:
    return Items(items=[ActionOut.model_validate(a) for a in await macros.list_actions(ctx.db)])


@router.post("/actions", response_model=ActionOut, status_code=201)
async def create_action(body: ActionCreate, member: MemberDep, ctx: CtxDep) -> Any:
    """An action: ``steps`` of ``send_template`` (template_id), ``send_text`` (text),
    ``add_tags`` / ``remove_tags`` (tag_ids), ``set_field`` (key, value), ``set_status``
    (status), ``assign`` (member_id), ``hide`` / ``block`` (value: true or false)."""
    ensure_manager(member)
    return await macros.create_action(ctx, name=body.name, steps=body.steps)


@router.patch("/actions/{action_id}", response_model=ActionOut)
async def update_action(action_id: int, body: ActionUpdate, member: MemberDep, ctx: CtxDep) -> Any:
    ensure_manager(member)
    return await macros.update_action(ctx, action_id=action_id, name=body.name, steps=body.steps)


@router.delete("/actions/{action_id}", status_code=204)
async def delete_action(action_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await macros.delete_action(ctx, action_id=action_id, actor=member)
    return Response(status_code=204)


@router.post("/actions/{action_id}/run", status_code=204)
async def run_action(action_id: int, body: ActionRun, member: MemberDep, ctx: CtxDep) -> Response:
    """Run every step on the contact, all or nothing (☆ in the chat)."""
    await macros.run_action(ctx, action_id=action_id, contact_id=body.contact_id, actor=member)
    return Response(status_code=204)
