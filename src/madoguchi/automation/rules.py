"""ルール (F28): when something happens, and its conditions hold, do these actions.

A rule names what it starts on (``when``: a customer's message, a conversation opened, a tag
put on a contact…, the kinds of ``automation.triggers``), conditions that must all hold (the
message's text contains 返品 or 交換, the channel, a tag, a profile field, the time of day…)
and the actions, done through the services a member's click goes through (assign, or
round-robin among chosen members; add a follower; add a tag; set the status; write the
conversation memo; send a template or a text; close). A rule's actions are one transaction:
all of them, or none and a failed run saying why. Every run is kept on the rule's page.

A rule never starts on what its own actions caused, and what one rule causes can start
another only a few rules deep (``triggers.MAX_CHAIN``): two rules cannot set each other off
for ever. A rule whose tag, member, status or template was deleted is switched off with the
reason, not left failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation import templates, triggers
from madoguchi.automation.models import Rule, RuleRun, Trigger
from madoguchi.broadcasts import sending
from madoguchi.broadcasts.service import check_placeholders
from madoguchi.channels.models import Channel
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations import workflow
from madoguchi.conversations.models import MAX_TEXT_LENGTH, Conversation, Message
from madoguchi.crm import fields, tags
from madoguchi.crm.models import ContactTag, RecordBook, Status, Tag
from madoguchi.events.types import RulesChanged
from madoguchi.forms.models import Form
from madoguchi.kit.clean import clean_name
from madoguchi.kit.context import Actor, Ctx
from madoguchi.kit.errors import Conflict, DomainError, Invalid, NotFound
from madoguchi.kit.i18n import N_
from madoguchi.kit.ids import is_id
from madoguchi.kit.ordering import next_position
from madoguchi.kit.text import normalize
from madoguchi.members.models import Member

WHENS = triggers.KINDS
# What happens to a message: the conditions on its text apply to these.
MESSAGE_WHENS = (triggers.MESSAGE_RECEIVED, triggers.CONVERSATION_OPENED, triggers.FIRST_MESSAGE)
MAX_CONDITIONS = 10
MAX_ACTIONS = 10
MAX_WORDS = 20
MAX_RUNS_SHOWN = 100
ACTION_TYPES = (
    "assign",
    "add_follower",
    "add_tag",
    "set_status",
    "set_memo",
    "send_template",
    "send_text",
    "close",
)
# field -> the ops it takes
CONDITION_OPS: dict[str, tuple[str, ...]] = {
    "text": ("contains_any", "equals"),
    "channel": ("in",),
    "tag": ("has", "has_not"),
    "added_tag": ("in",),
    "form": ("in",),
    "book": ("in",),
    "status": ("in",),
    "assignee": ("set", "not_set"),
    "time": ("between",),
    "weekday": ("in",),
}
FIELD_OPS = ("eq", "contains", "set", "not_set")

NO_CONVERSATION = N_("This contact has no conversation to act on.")
# One line of a run, for the API in English and for the UI in the member's language.
Said = tuple[str, dict[str, Any]]


def _ids(value: Any, missing: str) -> list[int]:
    if not isinstance(value, list) or not value or not all(is_id(i) for i in value):
        raise Invalid(missing)
    return list(dict.fromkeys(value))


def _words(value: Any) -> list[str]:
    words = value if isinstance(value, list) else [value]
    cleaned = [str(word).strip() for word in words if isinstance(word, str) and word.strip()]
    if not cleaned or len(cleaned) > MAX_WORDS or any(len(word) > 200 for word in cleaned):
        raise Invalid(
            "Write 1 to %(n)d words to look for, each at most 200 characters.", n=MAX_WORDS
        )
    return list(dict.fromkeys(cleaned))


def _clock(value: Any) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise Invalid("Write times of day as HH:MM (for example 09:00).") from None


async def _exist(db: AsyncSession, model: Any, ids: Sequence[int], gone: str) -> None:
    found = set(await db.scalars(select(model.id).where(model.id.in_(ids))))
    missing = sorted(set(ids) - found)
    if missing:
        raise NotFound(gone, id=missing[0])


# What each condition on ids names: its table, "not there", "none chosen", the trigger it needs.
_NAMED: dict[str, tuple[Any, str, str, str | None]] = {
    "channel": (
        Channel,
        N_("No channel with id %(id)s."),
        N_("Choose at least one channel."),
        None,
    ),
    "tag": (Tag, N_("No tag with id %(id)s."), N_("Choose the tag."), None),
    "added_tag": (
        Tag,
        N_("No tag with id %(id)s."),
        N_("Choose at least one tag."),
        triggers.TAG_ADDED,
    ),
    "form": (
        Form,
        N_("No form with id %(id)s."),
        N_("Choose at least one form."),
        triggers.FORM_ANSWERED,
    ),
    "book": (
        RecordBook,
        N_("No record book with id %(id)s."),
        N_("Choose at least one record book."),
        triggers.RECORD_ADDED,
    ),
    "status": (
        Status,
        N_("No status with id %(id)s."),
        N_("Choose at least one status."),
        None,
    ),
}


async def _check_condition(db: AsyncSession, when: str, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid("Each condition has a field, an op and a value.")
    name = str(raw.get("field") or "")
    op = str(raw.get("op") or "")
    value = raw.get("value")
    if name.startswith("field."):
        found = await fields.field_by_key(db, name.removeprefix("field."))
        if op not in FIELD_OPS:
            raise Invalid(
                "A profile field's condition is one of: %(ops)s.", ops=", ".join(FIELD_OPS)
            )
        if op in ("eq", "contains"):
            text = str(value if value is not None else "").strip()
            if not text or len(text) > 200:
                raise Invalid("Write the value to compare (at most 200 characters).")
            return {"field": f"field.{found.key}", "op": op, "value": text}
        return {"field": f"field.{found.key}", "op": op}
    if name not in CONDITION_OPS:
        raise Invalid(
            "A condition's field is one of: %(fields)s, or field.<key>.",
            fields=", ".join(CONDITION_OPS),
        )
    if op not in CONDITION_OPS[name]:
        raise Invalid(
            "A condition on %(field)s takes the op %(ops)s.",
            field=name,
            ops=", ".join(CONDITION_OPS[name]),
        )
    if name == "text":
        if when not in MESSAGE_WHENS:
            raise Invalid("Conditions on the message's text need a rule that starts on a message.")
        words = _words(value)
        if op == "equals" and len(words) != 1:
            raise Invalid("“Is exactly” compares with one text.")
        return {"field": name, "op": op, "value": words}
    if name in ("assignee",):
        return {"field": name, "op": op}
    if name == "time":
        if not isinstance(value, list) or len(value) != 2:
            raise Invalid("A time of day condition has a start and an end (HH:MM).")
        start, end = (_clock(v).strftime("%H:%M") for v in value)
        if start == end:
            raise Invalid("The start and the end of the time of day must differ.")
        return {"field": name, "op": op, "value": [start, end]}
    if name == "weekday":
        if (
            not isinstance(value, list)
            or not value
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in value
            )
        ):
            raise Invalid("Choose the days of the week (0 is Monday, 6 is Sunday).")
        return {"field": name, "op": op, "value": sorted(set(value))}
    model, gone, none_chosen, needs = _NAMED[name]
    if needs is not None and when != needs:
        raise Invalid("This condition needs a rule that starts on %(when)s.", when=needs)
    if name == "tag":
        if not is_id(value):
            raise Invalid(none_chosen)
        await _exist(db, Tag, [value], gone)
        return {"field": name, "op": op, "value": value}
    ids = _ids(value, none_chosen)
    await _exist(db, model, ids, gone)
    return {"field": name, "op": op, "value": ids}


async def _check_action(db: AsyncSession, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("type") not in ACTION_TYPES:
        raise Invalid("Each action has a type: %(types)s.", types=", ".join(ACTION_TYPES))
    kind = raw["type"]
    if kind == "assign":
        if raw.get("round_robin") is not None:
            members = _ids(raw.get("round_robin"), N_("Choose the members who take turns."))
            if len(members) < 2:
                raise Invalid("Round-robin shares among two members or more.")
            await _active_members(db, members)
            return {"type": kind, "round_robin": members}
        member_id = raw.get("member_id")
        if not is_id(member_id):
            raise Invalid("Choose the member to assign, or members to share in turn.")
        await _active_members(db, [member_id])
        return {"type": kind, "member_id": member_id}
    if kind == "add_follower":
        member_id = raw.get("member_id")
        if not is_id(member_id):
            raise Invalid("Choose the member who follows.")
        await _active_members(db, [member_id])
        return {"type": kind, "member_id": member_id}
    if kind == "add_tag":
        tag_id = raw.get("tag_id")
        if not is_id(tag_id):
            raise Invalid("Choose the tag to add.")
        await _exist(db, Tag, [tag_id], N_("No tag with id %(id)s."))
        return {"type": kind, "tag_id": tag_id}
    if kind == "set_status":
        status = raw.get("status")
        if status is not None:
            if not is_id(status):
                raise Invalid("Choose the status to set.")
            await _exist(db, Status, [status], N_("No status with id %(id)s."))
        return {"type": kind, "status": status}
    if kind == "set_memo":
        memo = str(raw.get("text") or "").strip()
        if not memo or len(memo) > workflow.MEMO_LIMIT:
            raise Invalid(
                "Write the conversation memo (at most %(n)d characters).", n=workflow.MEMO_LIMIT
            )
        return {"type": kind, "text": memo}
    if kind == "send_template":
        template_id = raw.get("template_id")
        if not is_id(template_id):
            raise Invalid("Choose the template to send.")
        await templates.get_template(db, template_id=template_id)
        return {"type": kind, "template_id": template_id}
    if kind == "send_text":
        text = str(raw.get("text") or "").strip()
        if not text or len(text) > MAX_TEXT_LENGTH:
            raise Invalid("Write the text to send (at most %(n)d characters).", n=MAX_TEXT_LENGTH)
        # Filled in for the contact as a broadcast's or a step's text is: the same names.
        await check_placeholders(db, text)
        return {"type": kind, "text": text}
    return {"type": kind}


async def _active_members(db: AsyncSession, ids: list[int]) -> None:
    active = set(await db.scalars(select(Member.id).where(Member.id.in_(ids), Member.active)))
    missing = [member_id for member_id in ids if member_id not in active]
    if missing:
        raise NotFound("No member with id %(id)s.", id=missing[0])


async def check_rule(
    db: AsyncSession, *, when: str, conditions: Any, actions: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The conditions and actions, checked: known, complete, naming things that exist."""
    if when not in WHENS:
        raise Invalid("when is one of: %(whens)s.", whens=", ".join(WHENS))
    if not isinstance(conditions, list) or len(conditions) > MAX_CONDITIONS:
        raise Invalid("A rule has at most %(n)d conditions.", n=MAX_CONDITIONS)
    if not isinstance(actions, list) or not actions:
        raise Invalid("A rule needs at least one action.")
    if len(actions) > MAX_ACTIONS:
        raise Invalid("A rule has at most %(n)d actions.", n=MAX_ACTIONS)
    checked_conditions = [await _check_condition(db, when, raw) for raw in conditions]
    checked_actions = [await _check_action(db, raw) for raw in actions]
    return checked_conditions, checked_actions


# --- the rules ----------------------------------------------------------------------------------


async def list_rules(db: AsyncSession) -> list[Rule]:
    return list(await db.scalars(select(Rule).order_by(Rule.position, Rule.id)))


async def get_rule(db: AsyncSession, *, rule_id: int) -> Rule:
    rule = await db.get(Rule, rule_id)
    if rule is None:
        raise NotFound("No rule with id %(id)s.", id=rule_id)
    return rule


async def _refuse_twin(db: AsyncSession, name: str, rule_id: int | None = None) -> None:
    twin = select(Rule.id).where(Rule.name == name)
    if rule_id is not None:
        twin = twin.where(Rule.id != rule_id)
    if await db.scalar(twin):
        raise Conflict("A rule named %(name)s already exists.", name=name)


async def create_rule(
    ctx: Ctx,
    *,
    name: str,
    when: str,
    conditions: Any,
    actions: Any,
    enabled: bool = True,
) -> Rule:
    name = clean_name(name, 100)
    await _refuse_twin(ctx.db, name)
    checked_conditions, checked_actions = await check_rule(
        ctx.db, when=when, conditions=conditions, actions=actions
    )
    rule = Rule(
        name=name,
        when=when,
        conditions=checked_conditions,
        actions=checked_actions,
        enabled=enabled,
        off_reason="",
        turns=0,
        position=await next_position(ctx.db, Rule.position),
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(rule)
    try:
        await ctx.db.flush()
    except IntegrityError:
        await ctx.db.rollback()
        raise Conflict("A rule named %(name)s already exists.", name=name) from None
    audit.record(
        ctx,
        action="rule.created",
        subject=f"rule {rule.id}",
        name=rule.name,
        after=_audited(rule),
    )
    await ctx.commit(RulesChanged(rule_id=rule.id))
    return rule


def _audited(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "when": rule.when,
        "conditions": rule.conditions,
        "actions": rule.actions,
        "enabled": rule.enabled,
    }


@dataclass(frozen=True)
class RuleChanges:
    """What a PATCH changes; None: left as it is."""

    name: str | None = None
    when: str | None = None
    conditions: list[Any] | None = None
    actions: list[Any] | None = None
    enabled: bool | None = None


async def update_rule(ctx: Ctx, *, rule_id: int, changes: RuleChanges) -> Rule:
    """Change a rule; everything it names is checked again (switching a rule back on too)."""
    rule = await get_rule(ctx.db, rule_id=rule_id)
    before = _audited(rule)
    if changes.name is not None:
        name = clean_name(changes.name, 100)
        await _refuse_twin(ctx.db, name, rule.id)
        rule.name = name
    when = changes.when if changes.when is not None else rule.when
    checked_conditions, checked_actions = await check_rule(
        ctx.db,
        when=when,
        conditions=changes.conditions if changes.conditions is not None else rule.conditions,
        actions=changes.actions if changes.actions is not None else rule.actions,
    )
    rule.when = when
    rule.conditions = checked_conditions
    rule.actions = checked_actions
    if changes.enabled is not None:
        rule.enabled = changes.enabled
    if rule.enabled:
        rule.off_reason = ""
    rule.updated_at = ctx.now()
    audit.record_changes(
        ctx,
        action="rule.updated",
        subject=f"rule {rule.id}",
        name=rule.name,
        before=before,
        after=_audited(rule),
    )
    await ctx.commit(RulesChanged(rule_id=rule.id))
    return rule


async def delete_rule(ctx: Ctx, *, rule_id: int, actor: Member | None = None) -> None:
    rule = await get_rule(ctx.db, rule_id=rule_id)
    audit.record(
        ctx,
        actor=actor,
        action="rule.deleted",
        subject=f"rule {rule.id}",
        name=rule.name,
        before=_audited(rule),
        detail={"name": rule.name},
    )
    await ctx.db.delete(rule)
    await ctx.commit(RulesChanged(rule_id=rule_id))


async def list_runs(
    db: AsyncSession, *, rule_id: int, limit: int = MAX_RUNS_SHOWN
) -> list[RuleRun]:
    """The rule's latest runs, newest first."""
    await get_rule(db, rule_id=rule_id)
    return list(
        await db.scalars(
            select(RuleRun)
            .where(RuleRun.rule_id == rule_id)
            .order_by(RuleRun.id.desc())
            .limit(limit)
        )
    )


# --- running them -------------------------------------------------------------------------------


@dataclass
class Facts:
    """What the conditions and actions read of one trigger, each read once, when first needed."""

    ctx: Ctx
    trigger: Trigger
    _contact: Contact | None = None
    _conversation: Conversation | None = None
    _conversation_read: bool = False
    _text: str | None = None
    _tags: set[int] | None = None
    _values: dict[str, Any] | None = None

    async def contact(self) -> Contact:
        if self._contact is None:
            self._contact = await self.ctx.db.get(Contact, self.trigger.contact_id)
            if self._contact is None:
                raise NotFound("No contact with id %(id)s.", id=self.trigger.contact_id)
        return self._contact

    async def conversation(self) -> Conversation | None:
        """The trigger's conversation, or the contact's latest (a tag added, a form answered)."""
        if not self._conversation_read:
            self._conversation_read = True
            if self.trigger.conversation_id is not None:
                self._conversation = await self.ctx.db.get(
                    Conversation, self.trigger.conversation_id
                )
            else:
                self._conversation = await self.ctx.db.scalar(
                    select(Conversation)
                    .where(Conversation.contact_id == self.trigger.contact_id)
                    .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
                    .limit(1)
                )
        return self._conversation

    async def needed_conversation(self) -> Conversation:
        conversation = await self.conversation()
        if conversation is None:
            raise Invalid(NO_CONVERSATION)
        return conversation

    async def text(self) -> str:
        if self._text is None:
            text = None
            if self.trigger.message_id is not None:
                text = await self.ctx.db.scalar(
                    select(Message.text).where(Message.id == self.trigger.message_id)
                )
            self._text = normalize(text or "").strip()
        return self._text

    async def tags(self) -> set[int]:
        if self._tags is None:
            self._tags = set(
                await self.ctx.db.scalars(
                    select(ContactTag.tag_id).where(
                        ContactTag.contact_id == self.trigger.contact_id
                    )
                )
            )
        return self._tags

    async def values(self) -> dict[str, Any]:
        if self._values is None:
            found = await fields.contact_values(self.ctx.db, contact_ids=[self.trigger.contact_id])
            self._values = found[self.trigger.contact_id]
        return self._values


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


async def holds(facts: Facts, condition: dict[str, Any], *, now: datetime, zone: ZoneInfo) -> bool:
    """Whether one condition holds for the trigger."""
    name: str = condition["field"]
    op: str = condition["op"]
    value: Any = condition.get("value")
    if name == "text":
        text = await facts.text()
        words = [normalize(word).strip() for word in value]
        if op == "equals":
            return text == words[0]
        return any(word in text for word in words)
    if name == "channel":
        conversation = await facts.conversation()
        channel_id = conversation.channel_id if conversation else (await facts.contact()).channel_id
        return channel_id in value
    if name == "tag":
        has = value in await facts.tags()
        return has if op == "has" else not has
    if name in ("added_tag", "form", "book"):
        return facts.trigger.subject_id in value
    if name == "status":
        return (await facts.contact()).status_id in value
    if name == "assignee":
        conversation = await facts.conversation()
        assigned = conversation is not None and conversation.assignee_id is not None
        return assigned if op == "set" else not assigned
    local = now.astimezone(zone)
    if name == "time":
        start, end = time.fromisoformat(value[0]), time.fromisoformat(value[1])
        moment = local.time().replace(second=0, microsecond=0)
        if start < end:
            return start <= moment < end
        return moment >= start or moment < end  # across midnight: 22:00–06:00
    if name == "weekday":
        return local.weekday() in value
    # field.<key>
    found = (await facts.values()).get(name.removeprefix("field."))
    is_set: bool = found not in (None, "", [])
    if op in ("set", "not_set"):
        return is_set == (op == "set")
    if not is_set:
        return False
    if op == "eq":
        return bool(normalize(_as_text(found)).strip() == normalize(str(value)).strip())
    return normalize(str(value)).strip() in normalize(_as_text(found))


async def _name(db: AsyncSession, model: Any, row_id: int) -> str:
    return str(await db.scalar(select(model.name).where(model.id == row_id)) or row_id)


async def _act(ctx: Ctx, rule: Rule, action: dict[str, Any], facts: Facts) -> Said:
    """Do one action through the service a member's click goes through; what was done."""
    kind = action["type"]
    contact_id = facts.trigger.contact_id
    if kind == "assign":
        conversation = await facts.needed_conversation()
        members = action.get("round_robin")
        if members:
            # Counted in the database: two processes running the rule take turns too.
            turn = await ctx.db.scalar(
                update(Rule)
                .where(Rule.id == rule.id)
                .values(turns=Rule.turns + 1)
                .returning(Rule.turns)
                .execution_options(synchronize_session=False)
            )
            member_id = members[((turn or 1) - 1) % len(members)]
        else:
            member_id = action["member_id"]
        await workflow.assign(
            ctx, conversation_id=conversation.id, member_id=member_id, actor=None, rule=rule.name
        )
        return N_("assigned %(member)s"), {"member": await _name(ctx.db, Member, member_id)}
    if kind == "add_follower":
        conversation = await facts.needed_conversation()
        await workflow.follow(
            ctx, conversation_id=conversation.id, member_id=action["member_id"], actor=None
        )
        member = await _name(ctx.db, Member, action["member_id"])
        return N_("%(member)s follows"), {"member": member}
    if kind == "add_tag":
        await tags.add_tag(ctx, contact_id=contact_id, tag_id=action["tag_id"])
        facts._tags = None
        return N_("added the tag %(tag)s"), {"tag": await _name(ctx.db, Tag, action["tag_id"])}
    if kind == "set_status":
        await contacts.update_contact(
            ctx,
            contact_id=contact_id,
            changes=contacts.ContactChanges(status=action["status"], set_status=True),
        )
        if action["status"] is None:
            return N_("cleared the status"), {}
        return N_("set the status %(status)s"), {
            "status": await _name(ctx.db, Status, action["status"])
        }
    if kind == "set_memo":
        conversation = await facts.needed_conversation()
        await workflow.set_memo(ctx, conversation_id=conversation.id, memo=action["text"])
        return N_("wrote the conversation memo"), {}
    if kind == "send_template":
        conversation = await facts.needed_conversation()
        template = await templates.get_template(ctx.db, template_id=action["template_id"])
        await templates.send_template(
            ctx, conversation_id=conversation.id, template_id=template.id, member=None
        )
        return N_("sent the template %(template)s"), {"template": template.name}
    if kind == "send_text":
        conversation = await facts.needed_conversation()
        contact = await ctx.db.get(Contact, conversation.contact_id)
        if contact is None:
            raise NotFound("No contact with id %(id)s.", id=conversation.contact_id)
        text = await sending.fill_one(
            ctx.db,
            action["text"],
            contact,
            zone=ZoneInfo(ctx.settings.timezone),
            now=ctx.now(),
            base_url=ctx.settings.base_url,
        )
        await conversations.send_message(
            ctx, conversation_id=conversation.id, member=None, text=text, kind="reply"
        )
        return N_("sent a message"), {}
    conversation = await facts.needed_conversation()
    await workflow.close(ctx, conversation_id=conversation.id, actor=None, rule=rule.name)
    return N_("closed the conversation"), {}


async def gone_target(db: AsyncSession, rule: Rule) -> DomainError | None:
    """Why the rule cannot run any more (a tag, member, status, template, field, form or book
    it names was deleted), or None."""
    try:
        await check_rule(db, when=rule.when, conditions=rule.conditions, actions=rule.actions)
    except DomainError as error:
        return error
    return None


async def _all_hold(facts: Facts, rule: Rule, *, now: datetime, zone: ZoneInfo) -> bool:
    try:
        for condition in rule.conditions:
            if not await holds(facts, condition, now=now, zone=zone):
                return False
    except DomainError:
        return False  # the contact went meanwhile
    return True


async def message_texts(
    db: AsyncSession, batch: Sequence[Trigger], rules: Sequence[Rule]
) -> dict[int, str]:
    """The texts of the batch's messages, in one statement, when a rule looks at texts."""
    if not any(c["field"] == "text" for rule in rules if rule.enabled for c in rule.conditions):
        return {}
    ids = {trigger.message_id for trigger in batch if trigger.message_id is not None}
    if not ids:
        return {}
    rows = await db.execute(select(Message.id, Message.text).where(Message.id.in_(ids)))
    return {message_id: text for message_id, text in rows}


async def run_rules(
    ctx: Ctx, trigger: Trigger, rules: Sequence[Rule], *, text: str | None = None
) -> int:
    """Run the rules that start on this trigger, inside the caller's ``atomic()`` block: each
    rule in a savepoint of its own, so one failing undoes only itself. ``text``: the trigger's
    message, when read already. How many ran."""
    zone = ZoneInfo(ctx.settings.timezone)
    ran = 0
    for rule in rules:
        if rule.when != trigger.kind or not rule.enabled or rule.id in trigger.chain:
            continue
        facts = Facts(ctx=ctx, trigger=trigger)
        if text is not None:
            facts._text = normalize(text).strip()
        now = ctx.now()
        if not await _all_hold(facts, rule, now=now, zone=zone):
            continue
        ran += 1
        gone = await gone_target(ctx.db, rule)
        if gone is not None:
            rule.enabled = False
            rule.off_reason = str(gone)
            audit.record(
                ctx,
                action="rule.updated",
                subject=f"rule {rule.id}",
                name=rule.name,
                before={"enabled": True},
                after={"enabled": False},
                detail={"reason": str(gone)},
                actor=Actor(kind="system"),
            )
            said: list[Said] = [(gone.message, gone.params)]
            ctx.db.add(_run(rule, trigger, now, "failed", said))
            await ctx.commit(RulesChanged(rule_id=rule.id))
            continue
        done: list[Said] = []
        try:
            async with ctx.savepoint():
                with (
                    triggers.caused_by((*trigger.chain, rule.id)),
                    ctx.acting(Actor(kind="rule", name=rule.name)),
                ):
                    for action in rule.actions:
                        done.append(await _act(ctx, rule, action, facts))
        except DomainError as error:
            ctx.db.add(_run(rule, trigger, now, "failed", [(error.message, error.params)]))
            continue
        conversation = await facts.conversation()
        ctx.db.add(
            _run(rule, trigger, now, "done", done, conversation.id if conversation else None)
        )
    return ran


def _run(
    rule: Rule,
    trigger: Trigger,
    at: datetime,
    result: str,
    said: list[Said],
    conversation_id: int | None = None,
) -> RuleRun:
    detail = "; ".join(message % params if params else message for message, params in said)
    return RuleRun(
        rule_id=rule.id,
        at=at,
        contact_id=trigger.contact_id,
        conversation_id=conversation_id or trigger.conversation_id,
        result=result,
        detail=detail[:1000],
        said=[[message, params] for message, params in said],
    )
