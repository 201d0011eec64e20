"""Workspace settings: アクション (☆: named bundles of steps run on a customer in one click).

The step editor is one form. Adding, moving and removing a step post the form with ``edit``
(``add``, ``up:N``, ``down:N``, ``remove:N``): the page comes back with the steps changed and
nothing saved, so it works without script too. 「保存」 sends the steps to the service, which
checks them (macros.check_steps); a refused step shows why next to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from madoguchi.automation import macros, templates
from madoguchi.automation.models import Action
from madoguchi.conversations.models import MAX_TEXT_LENGTH
from madoguchi.crm import fields, statuses, tags
from madoguchi.crm.models import Tag, TagFolder
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, NotFound
from madoguchi.kit.web import CtxDep
from madoguchi.members import service as members
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.settings_pages import (
    N_,
    PAGE,
    FormText,
    Outcome,
    SettingsPage,
    act,
    as_id,
    as_ids,
    form_text,
    moved,
    saved_outcome,
    show,
    translated,
)

router = APIRouter()

STEP_TYPES: tuple[tuple[str, str], ...] = (
    ("send_template", N_("Send a template")),
    ("send_text", N_("Send a text")),
    ("add_tags", N_("Add tags")),
    ("remove_tags", N_("Remove tags")),
    ("set_field", N_("Set a profile field")),
    ("set_status", N_("Set the support status")),
    ("assign", N_("Make a member the assignee")),
    ("hide", N_("Hide the customer")),
    ("block", N_("Block the customer")),
)
STEP_LABELS = dict(STEP_TYPES)
# What each type's step is given (hide and block: whether to, or to undo it).
STEP_NEEDS: dict[str, tuple[str, ...]] = {
    "send_template": ("template_id",),
    "send_text": ("text",),
    "add_tags": ("tag_ids",),
    "remove_tags": ("tag_ids",),
    "set_field": ("key", "value"),
    "set_status": ("status",),
    "assign": ("member_id",),
}
FLAG_TYPES = ("hide", "block")
NEW_ACTION = "new-action"
_STEP_FIELD = re.compile(r"^step-(\d+)-type$")


def blank_step(step_type: str) -> dict[str, Any]:
    """A step as the editor holds it: every type's input, the chosen type's in use."""
    return {
        "type": step_type,
        "template_id": None,
        "text": "",
        "tag_ids": [],
        "key": "",
        "value": "",
        "status": None,
        "member_id": None,
        "flag": True,
    }


def editable(step: dict[str, Any]) -> dict[str, Any]:
    """A stored step in the editor's shape."""
    shown = blank_step(str(step.get("type") or ""))
    for name in ("template_id", "text", "tag_ids", "key", "status", "member_id"):
        if step.get(name) is not None:
            shown[name] = step[name]
    value = step.get("value")
    if shown["type"] in FLAG_TYPES:
        shown["flag"] = bool(value if value is not None else True)
    elif value is not None:
        shown["value"] = "、".join(value) if isinstance(value, list) else str(value)
    return shown


def editable_steps(action: Action) -> list[dict[str, Any]]:
    return [editable(step) for step in action.steps]


def steps_from_form(form: FormData) -> list[dict[str, Any]]:
    """The steps as the form holds them, in their order."""
    indexes = sorted(int(m.group(1)) for key in form if (m := _STEP_FIELD.match(key)))
    steps = []
    for index in indexes:
        prefix = f"step-{index}-"
        step = blank_step(str(form.get(prefix + "type") or ""))
        step.update(
            template_id=as_id(str(form.get(prefix + "template_id") or "")),
            text=form_text(form.get(prefix + "text")),
            tag_ids=as_ids([str(v) for v in form.getlist(prefix + "tag_ids")]),
            key=str(form.get(prefix + "key") or ""),
            value=str(form.get(prefix + "value") or ""),
            status=as_id(str(form.get(prefix + "status") or "")),
            member_id=as_id(str(form.get(prefix + "member_id") or "")),
        )
        if step["type"] in FLAG_TYPES:
            step["flag"] = form.get(prefix + step["type"]) != "0"
        steps.append(step)
    return steps


def service_step(step: dict[str, Any]) -> dict[str, Any]:
    """What the service takes for a step: only what its type needs."""
    kind = step["type"]
    if kind in FLAG_TYPES:
        return {"type": kind, "value": step["flag"]}
    return {"type": kind, **{name: step[name] for name in STEP_NEEDS.get(kind, ())}}


def edited(
    steps: list[dict[str, Any]], edit: str, new_type: str, editor: str
) -> tuple[list[dict[str, Any]], str, str]:
    """The steps after one edit, where the focus goes next, and what to say about it."""
    command, _, number = edit.partition(":")
    index = int(number) if number.isdigit() else -1
    if command == "add":
        steps = [*steps, blank_step(new_type if new_type in STEP_LABELS else "send_text")]
        return steps, f"{editor}-step-{len(steps) - 1}-type", N_("Added a step (not saved yet).")
    if not 0 <= index < len(steps):
        return steps, f"{editor}-name", ""
    if command == "remove":
        del steps[index]
        focus = f"{editor}-step-{min(index, len(steps) - 1)}-type" if steps else f"{editor}-add"
        return steps, focus, N_("Removed the step (not saved yet).")
    if command in ("up", "down"):
        order = moved(list(range(len(steps))), index, command)
        steps = [steps[i] for i in order]
        to = order.index(index)
        message = N_("Moved the step up.") if command == "up" else N_("Moved the step down.")
        return steps, f"{editor}-step-{to}-{command}", message
    return steps, f"{editor}-name", ""


async def _refused_step(ctx: Ctx, steps: Sequence[dict[str, Any]]) -> int | None:
    """Which step the service refuses, to show why next to it."""
    for index, step in enumerate(steps):
        try:
            await macros.check_steps(ctx.db, [step])
        except DomainError:
            return index
    return None


# --- the page -----------------------------------------------------------------------------------


def _tag_groups(
    folders: Sequence[TagFolder], all_tags: Sequence[Tag]
) -> list[tuple[str, list[Tag]]]:
    """The tags to tick, by folder (「診断 / 肌タイプ」), those in no folder last."""
    names = {f.id: f.name for f in folders}
    full = {
        f.id: f"{names[f.parent_id]} / {f.name}" if f.parent_id in names else f.name
        for f in folders
    }
    groups: dict[int | None, list[Tag]] = {}
    for tag in all_tags:
        groups.setdefault(tag.folder_id, []).append(tag)
    ordered = [(full[f.id], groups[f.id]) for f in folders if f.id in groups]
    if None in groups:
        ordered.append(("", groups[None]))
    return ordered


async def _actions(ctx: Ctx) -> dict[str, Any]:
    all_templates = await templates.list_templates(ctx.db)
    template_folders: dict[int | None, str] = {
        f.id: f.name for f in await templates.list_folders(ctx.db)
    }
    all_tags = await tags.list_tags(ctx.db)
    all_fields = await fields.list_fields(ctx.db)
    all_statuses = await statuses.list_statuses(ctx.db)
    team = [m for m in await members.list_members(ctx.db) if m.active]
    return {
        "actions": await macros.list_actions(ctx.db),
        "step_types": STEP_TYPES,
        "max_steps": macros.MAX_STEPS,
        "text_limit": MAX_TEXT_LENGTH,
        # What each step can choose from: (value, as shown).
        "template_choices": [
            (
                t.id,
                f"{folder} / {t.name}" if (folder := template_folders.get(t.folder_id)) else t.name,
            )
            for t in all_templates
        ],
        "field_choices": [
            (f.key, f"{f.label}（{'・'.join(f.options)}）" if f.options else f.label)
            for f in all_fields
        ],
        "status_choices": [(s.id, s.name) for s in all_statuses],
        "member_choices": [(m.id, m.name) for m in team],
        "tag_groups": _tag_groups(await tags.list_folders(ctx.db), all_tags),
        # For the steps in words (a thing deleted since shows as such).
        "template_names": {t.id: t.name for t in all_templates},
        "tag_names": {t.id: t.name for t in all_tags},
        "field_labels": {f.key: f.label for f in all_fields},
        "status_names": {s.id: s.name for s in all_statuses},
        "member_names": {m.id: m.name for m in team},
        "editable": editable,
        "editable_steps": editable_steps,
    }


ACTIONS = SettingsPage("actions", _actions)


@router.get("/settings/actions")
async def actions_page(
    request: Request, member: MemberDep, ctx: CtxDep, saved: bool = False, edit: int = 0
) -> Response:
    """The actions; ``?edit=ID`` opens one in the step editor."""
    return await show(
        request, ctx, member, ACTIONS, outcome=saved_outcome(member, saved), editing=edit
    )


async def _save_or_edit(
    request: Request, member: Member, ctx: Ctx, *, action_id: int | None
) -> Response:
    form = await request.form()
    editor = NEW_ACTION if action_id is None else f"action-{action_id}"
    name = str(form.get("name") or "")
    steps = steps_from_form(form)
    edit = str(form.get("edit") or "")
    if edit:
        # Only the editor changes: nothing is saved.
        steps, focus, message = edited(steps, edit, str(form.get("new_step_type") or ""), editor)
        draft = {"editor": editor, "open": True, "name": name, "steps": steps, "focus": focus}
        outcome = Outcome(
            notice=translated(member, message) if message else None,
            at=editor,
            draft=draft,
            quiet=True,
        )
        return await show(request, ctx, member, ACTIONS, outcome=outcome, editing=action_id or 0)

    sent = [service_step(step) for step in steps]
    where = {"at": editor}

    async def change() -> Action:
        try:
            if action_id is None:
                return await macros.create_action(ctx, name=name, steps=sent)
            return await macros.update_action(ctx, action_id=action_id, name=name, steps=sent)
        except DomainError as error:
            refused = await _refused_step(ctx, sent)
            if refused is not None:
                where["at"] = f"{editor}-step-{refused}"
            elif isinstance(error, NotFound):
                where["at"] = PAGE  # the action itself is gone
            raise

    return await act(
        request,
        ctx,
        member,
        ACTIONS,
        change,
        at=editor,
        notice=lambda action: translated(
            member, N_("Saved the action %(name)s."), name=action.name
        ),
        draft={"editor": editor, "name": name, "steps": steps},
        done_at=lambda action: f"action-{action.id}",
        failed_at=lambda _error: where["at"],
    )


@router.post("/settings/actions")
async def add_action(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return await _save_or_edit(request, member, ctx, action_id=None)


@router.post("/settings/actions/{action_id}/update")
async def update_action(
    action_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    return await _save_or_edit(request, member, ctx, action_id=action_id)


@router.post("/settings/actions/{action_id}/delete")
async def delete_action(
    action_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    return await act(
        request,
        ctx,
        member,
        ACTIONS,
        lambda: macros.delete_action(ctx, action_id=action_id, actor=member),
        at=f"action-{action_id}",
        notice=translated(member, N_("Deleted the action %(name)s."), name=name),
        notice_at=PAGE,
    )
