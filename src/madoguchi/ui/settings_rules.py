"""Workspace settings: ルール (F28), written as a sentence: when … if … then ….

The editor is one form in three parts. **When** is what the rule starts on. **If** offers the
conditions a salon uses (words in the message, the channel, a tag the customer has, whether
someone is assigned, the time of day and the days of the week, and, folded away, the tag just
added, the form or record book, the status and a profile field), each left empty when it does
not matter. **Then** lists the actions in the order they are done (assign, follow, tag, status,
memo, send, close), each left empty when not wanted. The page shows each rule as a sentence and
its latest runs, with what was done or why it failed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from madoguchi.automation import rules, templates
from madoguchi.channels import service as channels
from madoguchi.conversations.workflow import MEMO_LIMIT
from madoguchi.crm import fields, records, statuses, tags
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members import service as members
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import N_, SettingsPage, act, add_page, as_id, as_ids, translated

router = APIRouter()

WHENS = (
    ("message.received", N_("When a customer's message arrives")),
    ("conversation.opened", N_("When a conversation opens (new, or reopened by the customer)")),
    ("first_message", N_("When a customer writes for the first time")),
    ("tag.added", N_("When a tag is put on a customer")),
    ("form.answered", N_("When a form is answered")),
    ("record.added", N_("When a record is added")),
)
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
FIELD_OPS = (
    ("eq", N_("is")),
    ("contains", N_("contains")),
    ("set", N_("is filled in")),
    ("not_set", N_("is empty")),
)
RUNS_SHOWN = 8


async def _rules(ctx: Ctx) -> dict[str, Any]:
    found = await rules.list_rules(ctx.db)
    runs = {
        rule.id: await rules.list_runs(ctx.db, rule_id=rule.id, limit=RUNS_SHOWN) for rule in found
    }
    tag_list = await tags.list_tags(ctx.db)
    return {
        "rules": found,
        "runs": runs,
        "forms": {rule.id: form_values(rule.when, rule.conditions, rule.actions) for rule in found},
        "whens": WHENS,
        "weekdays": WEEKDAYS,
        "field_ops": FIELD_OPS,
        "members": [m for m in await members.list_members(ctx.db) if m.active],
        "tags": tag_list,
        "statuses": await statuses.list_statuses(ctx.db),
        "templates": await templates.list_templates(ctx.db),
        "channels": await channels.list_channels(ctx.db),
        "form_list": await forms.list_forms(ctx.db),
        "books": await records.list_books(ctx.db),
        "fields": await fields.list_fields(ctx.db),
        "memo_limit": MEMO_LIMIT,
    }


RULES = SettingsPage("rules", _rules)

add_page(router, RULES)


# --- the form, both ways ------------------------------------------------------------------------


def _words(typed: str) -> list[str]:
    return [word.strip() for word in re.split(r"[、,，\n]", typed) if word.strip()]


def _ints(values: list[str]) -> list[int | str]:
    """Ids as chosen; anything else is kept as typed, for the service to refuse in a sentence."""
    return [int(v) if v.isdecimal() else v for v in values if v.strip()]


def conditions_from(form: FormData) -> list[dict[str, Any]]:
    """The rule's conditions from the editor: each part left empty is no condition."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def chosen(name: str) -> list[int | str]:
        return _ints([v for v in form.getlist(name) if isinstance(v, str)])

    conditions: list[dict[str, Any]] = []
    if words := _words(text("if_words")):
        exact = text("if_words_match") == "equals"
        conditions.append(
            {"field": "text", "op": "equals" if exact else "contains_any", "value": words}
        )
    for name, field, op in (
        ("if_channel", "channel", "in"),
        ("if_added_tag", "added_tag", "in"),
        ("if_form", "form", "in"),
        ("if_book", "book", "in"),
        ("if_status", "status", "in"),
    ):
        if values := chosen(name):
            conditions.append({"field": field, "op": op, "value": values})
    if tag := text("if_tag"):
        has = text("if_tag_has") or "has"
        conditions.append({"field": "tag", "op": has, "value": as_id(tag) or tag})
    if assignee := text("if_assignee"):
        conditions.append({"field": "assignee", "op": assignee})
    start, end = text("if_time_from"), text("if_time_to")
    if start or end:
        conditions.append({"field": "time", "op": "between", "value": [start, end]})
    if days := chosen("if_weekday"):
        conditions.append({"field": "weekday", "op": "in", "value": days})
    if key := text("if_field"):
        op = text("if_field_op") or "eq"
        condition: dict[str, Any] = {"field": f"field.{key}", "op": op}
        if op in ("eq", "contains"):
            condition["value"] = text("if_field_value")
        conditions.append(condition)
    return conditions


def actions_from(form: FormData) -> list[dict[str, Any]]:
    """The rule's actions from the editor, in the order they are done."""

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def an_id(name: str) -> int | str:
        typed = text(name)
        return as_id(typed) or typed

    actions: list[dict[str, Any]] = []
    assign = text("do_assign")
    if assign == "member":
        actions.append({"type": "assign", "member_id": an_id("do_assign_member")})
    elif assign == "round_robin":
        members_chosen = as_ids([v for v in form.getlist("do_round_robin") if isinstance(v, str)])
        actions.append({"type": "assign", "round_robin": members_chosen})
    if text("do_follower"):
        actions.append({"type": "add_follower", "member_id": an_id("do_follower")})
    if text("do_tag"):
        actions.append({"type": "add_tag", "tag_id": an_id("do_tag")})
    status = text("do_status")
    if status == "clear":
        actions.append({"type": "set_status", "status": None})
    elif status:
        actions.append({"type": "set_status", "status": an_id("do_status")})
    if memo := text("do_memo"):
        actions.append({"type": "set_memo", "text": memo})
    if text("do_template"):
        actions.append({"type": "send_template", "template_id": an_id("do_template")})
    if message := text("do_text"):
        actions.append({"type": "send_text", "text": message})
    if text("do_close"):
        actions.append({"type": "close"})
    return actions


def form_values(
    when: str, conditions: list[dict[str, Any]], actions: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the editor shows for a rule (or for what was typed, after a refusal)."""
    shown: dict[str, Any] = {"when": when}
    for condition in conditions:
        field, op, value = condition["field"], condition["op"], condition.get("value")
        if field == "text":
            shown["if_words"] = "、".join(value or [])
            shown["if_words_match"] = op
        elif field in ("channel", "added_tag", "form", "book", "status"):
            shown[f"if_{field}"] = value or []
        elif field == "tag":
            shown["if_tag"], shown["if_tag_has"] = value, op
        elif field == "assignee":
            shown["if_assignee"] = op
        elif field == "time":
            shown["if_time_from"], shown["if_time_to"] = (value or ["", ""])[:2]
        elif field == "weekday":
            shown["if_weekday"] = value or []
        elif field.startswith("field."):
            shown["if_field"] = field.removeprefix("field.")
            shown["if_field_op"], shown["if_field_value"] = op, value or ""
    for action in actions:
        kind = action["type"]
        if kind == "assign" and action.get("round_robin"):
            shown["do_assign"], shown["do_round_robin"] = "round_robin", action["round_robin"]
        elif kind == "assign":
            shown["do_assign"], shown["do_assign_member"] = "member", action.get("member_id")
        elif kind == "add_follower":
            shown["do_follower"] = action.get("member_id")
        elif kind == "add_tag":
            shown["do_tag"] = action.get("tag_id")
        elif kind == "set_status":
            shown["do_status"] = "clear" if action.get("status") is None else action["status"]
        elif kind == "set_memo":
            shown["do_memo"] = action.get("text", "")
        elif kind == "send_template":
            shown["do_template"] = action.get("template_id")
        elif kind == "send_text":
            shown["do_text"] = action.get("text", "")
        elif kind == "close":
            shown["do_close"] = True
    return shown


# --- saving ---------------------------------------------------------------------------------------


async def _save(request: Request, ctx: Ctx, member: Member, rule_id: int | None) -> Response:
    form = await request.form()
    name = str(form.get("name") or "")
    when = str(form.get("when") or "")
    enabled = form.get("enabled") is not None if rule_id is not None else True
    conditions, actions = conditions_from(form), actions_from(form)

    async def change() -> object:
        if rule_id is None:
            return await rules.create_rule(
                ctx, name=name, when=when, conditions=conditions, actions=actions
            )
        return await rules.update_rule(
            ctx,
            rule_id=rule_id,
            changes=rules.RuleChanges(
                name=name, when=when, conditions=conditions, actions=actions, enabled=enabled
            ),
        )

    typed: Mapping[str, Any] = {
        "name": name,
        "form": form_values(when, conditions, actions),
    }
    return await act(
        request,
        ctx,
        member,
        RULES,
        change,
        at="new-rule" if rule_id is None else f"rule-{rule_id}",
        notice=translated(member, N_("Added the rule %(name)s."), name=name.strip())
        if rule_id is None
        else None,
        draft=typed,
    )


@router.post("/settings/rules")
async def add_rule(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return await _save(request, ctx, member, None)


@router.post("/settings/rules/{rule_id}/update")
async def update_rule(rule_id: int, request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return await _save(request, ctx, member, rule_id)


NamedList(
    RULES,
    "/settings/rules",
    "rule",
    delete=lambda ctx, member, rule_id: rules.delete_rule(ctx, rule_id=rule_id, actor=member),
    deleted=N_("Deleted the rule %(name)s."),
).register(router)
