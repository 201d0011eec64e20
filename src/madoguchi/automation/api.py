"""``/api/v1/templates``, ``/api/v1/template-folders``, ``/api/v1/actions``,
``/api/v1/message-filters``, ``/api/v1/rules`` and ``/api/v1/auto-close``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from madoguchi.automation import autoclose, filters, macros, rules, templates
from madoguchi.automation.schemas import (
    ActionCreate,
    ActionOut,
    ActionRun,
    ActionUpdate,
    AutoCloseIn,
    AutoCloseOut,
    AutoCloseSettings,
    MessageFilterCreate,
    MessageFilterOut,
    MessageFilterUpdate,
    RuleCreate,
    RuleOut,
    RuleRunOut,
    RuleUpdate,
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


@router.get("/message-filters", response_model=Items[MessageFilterOut])
async def list_message_filters(_member: MemberDep, ctx: CtxDep) -> Items[MessageFilterOut]:
    """メッセージフィルター: customer messages they match arrive read for every member."""
    found = await filters.list_filters(ctx.db)
    return Items(items=[MessageFilterOut.model_validate(f) for f in found])


@router.post("/message-filters", response_model=MessageFilterOut, status_code=201)
async def create_message_filter(body: MessageFilterCreate, member: MemberDep, ctx: CtxDep) -> Any:
    """A filter: a customer's message that is ``text`` (``exact``) or holds it (``contains``),
    compared without regard to width, case or kana, arrives read: no unread count, no
    notification. 409 when the same filter exists."""
    ensure_manager(member)
    return await filters.create_filter(ctx, match=body.match, text=body.text)


@router.patch("/message-filters/{filter_id}", response_model=MessageFilterOut)
async def update_message_filter(
    filter_id: int, body: MessageFilterUpdate, member: MemberDep, ctx: CtxDep
) -> Any:
    ensure_manager(member)
    return await filters.update_filter(ctx, filter_id=filter_id, match=body.match, text=body.text)


@router.delete("/message-filters/{filter_id}", status_code=204)
async def delete_message_filter(filter_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await filters.delete_filter(ctx, filter_id=filter_id, actor=member)
    return Response(status_code=204)


@router.get("/auto-close", response_model=AutoCloseSettings)
async def get_auto_close(_member: MemberDep, ctx: CtxDep) -> AutoCloseSettings:
    """自動クローズ: the workspace's (``after_hours`` null: off, the default) and the channels
    that have their own."""
    workspace, channels = await autoclose.settings(ctx.db)
    return AutoCloseSettings(
        after_hours=workspace.after_hours,
        message=workspace.message,
        channels=[AutoCloseOut(**vars(setting)) for setting in channels],
    )


@router.put("/auto-close", response_model=AutoCloseOut)
async def set_auto_close(body: AutoCloseIn, member: MemberDep, ctx: CtxDep) -> AutoCloseOut:
    """Close open conversations without a message for ``after_hours`` (null: off), sending
    ``message`` first where the channel still lets us answer; with ``channel_id``, that
    channel's own setting instead of the workspace's."""
    ensure_manager(member)
    setting = await autoclose.set_auto_close(
        ctx, after_hours=body.after_hours, message=body.message, channel_id=body.channel_id
    )
    return AutoCloseOut(**vars(setting))


@router.delete("/auto-close/channels/{channel_id}", status_code=204)
async def follow_workspace_auto_close(channel_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """The channel follows the workspace's auto-close again (404 when it has none of its own)."""
    ensure_manager(member)
    await autoclose.follow_workspace(ctx, channel_id=channel_id)
    return Response(status_code=204)


@router.get("/rules", response_model=Items[RuleOut])
async def list_rules(_member: MemberDep, ctx: CtxDep) -> Items[RuleOut]:
    """ルール, in their order; one switched off because what it names was deleted says why in
    ``off_reason``."""
    return Items(items=[RuleOut.model_validate(r) for r in await rules.list_rules(ctx.db)])


@router.post("/rules", response_model=RuleOut, status_code=201)
async def create_rule(body: RuleCreate, member: MemberDep, ctx: CtxDep) -> Any:
    """A rule: ``when`` it starts, ``conditions`` that must all hold, ``actions`` done in one
    transaction: ``assign`` (member_id, or round_robin: [member ids]), ``add_follower``
    (member_id), ``add_tag`` (tag_id), ``set_status`` (status: id or null), ``set_memo``
    (text), ``send_template`` (template_id), ``send_text`` (text), ``close``. The worker runs
    it within seconds of what it starts on; a rule never starts on its own change."""
    ensure_manager(member)
    return await rules.create_rule(
        ctx,
        name=body.name,
        when=body.when,
        conditions=[c.model_dump() for c in body.conditions],
        actions=body.actions,
        enabled=body.enabled,
    )


@router.get("/rules/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: int, _member: MemberDep, ctx: CtxDep) -> Any:
    return await rules.get_rule(ctx.db, rule_id=rule_id)


@router.patch("/rules/{rule_id}", response_model=RuleOut)
async def update_rule(rule_id: int, body: RuleUpdate, member: MemberDep, ctx: CtxDep) -> Any:
    """Change a rule; everything it names is checked again (switching it back on too)."""
    ensure_manager(member)
    return await rules.update_rule(
        ctx,
        rule_id=rule_id,
        changes=rules.RuleChanges(
            name=body.name,
            when=body.when,
            conditions=None
            if body.conditions is None
            else [c.model_dump() for c in body.conditions],
            actions=body.actions,
            enabled=body.enabled,
        ),
    )


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    ensure_manager(member)
    await rules.delete_rule(ctx, rule_id=rule_id, actor=member)
    return Response(status_code=204)


@router.get("/rules/{rule_id}/runs", response_model=Items[RuleRunOut])
async def list_rule_runs(rule_id: int, _member: MemberDep, ctx: CtxDep) -> Items[RuleRunOut]:
    """The rule's latest 100 runs, newest first: when, on which conversation, ``done`` (what
    it did) or ``failed`` (why; nothing of it was kept)."""
    runs = await rules.list_runs(ctx.db, rule_id=rule_id)
    return Items(items=[RuleRunOut.model_validate(run) for run in runs])
