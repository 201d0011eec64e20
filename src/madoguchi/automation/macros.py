"""Macros: what users call actions (アクション実行, F14; ``Action`` in the glossary), a named
bundle of steps run on a contact in one click (and later by rules). The steps run as one
transaction: all of them happen, or none. Named as help desks name such bundles, so the module
is not taken for a state-change action."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation import templates
from madoguchi.automation.models import Action
from madoguchi.contacts import service as contacts
from madoguchi.conversations import service as conversations
from madoguchi.conversations import workflow
from madoguchi.conversations.models import MAX_TEXT_LENGTH, Conversation
from madoguchi.crm import fields, statuses, tags, values
from madoguchi.crm.models import ContactTag
from madoguchi.events.types import ActionRan, ActionsChanged, ContactUpdated
from madoguchi.kit.clean import clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
from madoguchi.kit.ordering import next_position
from madoguchi.members.models import Member

MAX_STEPS = 20
STEP_TYPES = (
    "send_template",
    "send_text",
    "add_tags",
    "remove_tags",
    "set_field",
    "set_status",
    "assign",
    "hide",
    "block",
)


def _tag_ids(step: dict[str, Any]) -> list[int]:
    value = step.get("tag_ids")
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    ):
        raise Invalid("Choose at least one tag for this step.")
    return value


async def check_steps(db: AsyncSession, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps, checked: each known, with what it needs, naming things that exist."""
    if not steps:
        raise Invalid("An action needs at least one step.")
    if len(steps) > MAX_STEPS:
        raise Invalid("An action has at most %(n)d steps.", n=MAX_STEPS)
    cleaned = []
    for step in steps:
        if not isinstance(step, dict) or step.get("type") not in STEP_TYPES:
            raise Invalid("Each step has a type: %(types)s.", types=", ".join(STEP_TYPES))
        kind = step["type"]
        if kind == "send_template":
            template_id = step.get("template_id")
            if not isinstance(template_id, int):
                raise Invalid("Choose the template this step sends.")
            await templates.get_template(db, template_id=template_id)
            cleaned.append({"type": kind, "template_id": template_id})
        elif kind == "send_text":
            text = str(step.get("text") or "").strip()
            if not text or len(text) > MAX_TEXT_LENGTH:
                raise Invalid(
                    "Write the text this step sends (at most %(n)d characters).",
                    n=MAX_TEXT_LENGTH,
                )
            cleaned.append({"type": kind, "text": text})
        elif kind in ("add_tags", "remove_tags"):
            tag_ids = _tag_ids(step)
            for tag_id in tag_ids:
                await tags.get_tag(db, tag_id=tag_id)
            cleaned.append({"type": kind, "tag_ids": tag_ids})
        elif kind == "set_field":
            key = str(step.get("key") or "")
            if not key:
                raise Invalid("Choose the profile field this step sets.")
            field = await fields.field_by_key(db, key)
            # The value is checked now, not when the action runs on a customer.
            typed = values.coerce(
                field.type, step.get("value"), label=field.label, options=field.options
            )
            cleaned.append({"type": kind, "key": field.key, "value": values.to_json(typed)})
        elif kind == "set_status":
            status = step.get("status")
            if status is not None:
                status = (await statuses.find_status(db, status)).id
            cleaned.append({"type": kind, "status": status})
        elif kind == "assign":
            member_id = step.get("member_id")
            if member_id is not None:
                member = await db.get(Member, member_id) if isinstance(member_id, int) else None
                if member is None or not member.active:
                    raise NotFound("No member with id %(id)s.", id=member_id)
            cleaned.append({"type": kind, "member_id": member_id})
        else:
            cleaned.append({"type": kind, "value": bool(step.get("value", True))})
    return cleaned


async def list_actions(db: AsyncSession) -> list[Action]:
    return list(await db.scalars(select(Action).order_by(Action.position, Action.id)))


async def get_action(db: AsyncSession, *, action_id: int) -> Action:
    action = await db.get(Action, action_id)
    if action is None:
        raise NotFound("No action with id %(id)s.", id=action_id)
    return action


async def create_action(ctx: Ctx, *, name: str, steps: list[dict[str, Any]]) -> Action:
    name = clean_name(name, 100)
    if await ctx.db.scalar(select(Action.id).where(Action.name == name)):
        raise Conflict("An action named %(name)s already exists.", name=name)
    action = Action(
        name=name,
        steps=await check_steps(ctx.db, steps),
        position=await next_position(ctx.db, Action.position),
        created_at=ctx.now(),
    )
    ctx.db.add(action)
    await ctx.db.flush()
    audit.record(
        ctx,
        action="action.created",
        subject=f"action {action.id}",
        name=action.name,
        after={"name": action.name, "steps": action.steps},
    )
    await ctx.commit(ActionsChanged(action_id=action.id))
    return action


async def update_action(
    ctx: Ctx, *, action_id: int, name: str | None = None, steps: list[dict[str, Any]] | None = None
) -> Action:
    action = await get_action(ctx.db, action_id=action_id)
    before = {"name": action.name, "steps": list(action.steps)}
    if name is not None:
        name = clean_name(name, 100)
        if await ctx.db.scalar(
            select(Action.id).where(Action.name == name, Action.id != action.id)
        ):
            raise Conflict("An action named %(name)s already exists.", name=name)
        action.name = name
    if steps is not None:
        action.steps = await check_steps(ctx.db, steps)
    audit.record_changes(
        ctx,
        action="action.updated",
        subject=f"action {action.id}",
        name=action.name,
        before=before,
        after={"name": action.name, "steps": action.steps},
    )
    await ctx.commit(ActionsChanged(action_id=action.id))
    return action


async def delete_action(ctx: Ctx, *, action_id: int, actor: Member | None = None) -> None:
    action = await get_action(ctx.db, action_id=action_id)
    audit.record(
        ctx,
        actor=actor,
        action="action.deleted",
        subject=f"action {action.id}",
        name=action.name,
        before={"name": action.name, "steps": action.steps},
        detail={"name": action.name},
    )
    await ctx.db.delete(action)
    await ctx.commit(ActionsChanged(action_id=action_id))


async def _conversation(ctx: Ctx, contact_id: int) -> Conversation:
    conversation = await ctx.db.scalar(
        select(Conversation)
        .where(Conversation.contact_id == contact_id)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    if conversation is None:
        raise Invalid("This contact has no conversation to send through yet.")
    return conversation


async def run_action(ctx: Ctx, *, action_id: int, contact_id: int, actor: Member | None) -> None:
    """Run every step on the contact, all or nothing; a step that cannot run says why."""
    action = await get_action(ctx.db, action_id=action_id)
    await contacts.get_contact(ctx.db, contact_id=contact_id)
    steps = await check_steps(ctx.db, action.steps)
    async with ctx.atomic():
        for step in steps:
            await _run_step(ctx, step, contact_id=contact_id, actor=actor)
        await ctx.commit(ActionRan(action_id=action.id, contact_id=contact_id))


async def _run_step(
    ctx: Ctx, step: dict[str, Any], *, contact_id: int, actor: Member | None
) -> None:
    kind = step["type"]
    if kind == "send_template":
        conversation = await _conversation(ctx, contact_id)
        await templates.send_template(
            ctx, conversation_id=conversation.id, template_id=step["template_id"], member=actor
        )
    elif kind == "send_text":
        conversation = await _conversation(ctx, contact_id)
        await conversations.send_message(
            ctx, conversation_id=conversation.id, member=actor, text=step["text"], kind="reply"
        )
    elif kind == "add_tags":
        for tag_id in step["tag_ids"]:
            await tags.add_tag(ctx, contact_id=contact_id, tag_id=tag_id)
    elif kind == "remove_tags":
        await ctx.db.execute(
            delete(ContactTag).where(
                ContactTag.contact_id == contact_id, ContactTag.tag_id.in_(step["tag_ids"])
            )
        )
        await ctx.commit(ContactUpdated(contact_id=contact_id, part="tags"))
    elif kind == "set_field":
        await fields.set_value(ctx, contact_id=contact_id, key=step["key"], value=step["value"])
    elif kind == "set_status":
        await contacts.update_contact(
            ctx,
            contact_id=contact_id,
            changes=contacts.ContactChanges(status=step["status"], set_status=True),
        )
    elif kind == "assign":
        conversation = await _conversation(ctx, contact_id)
        if actor is None:
            raise Invalid("Assigning needs a member to act.")
        await workflow.assign(
            ctx, conversation_id=conversation.id, member_id=step["member_id"], actor=actor
        )
    elif kind in ("hide", "block"):
        changes = (
            contacts.ContactChanges(hidden=step["value"])
            if kind == "hide"
            else contacts.ContactChanges(blocked=step["value"])
        )
        await contacts.update_contact(ctx, contact_id=contact_id, changes=changes)
