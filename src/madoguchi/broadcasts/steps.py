"""ステップ配信 (F32): when a tag is put on a contact, a form is answered, a contact writes for
the first time or a record is added, send message 1 after N seconds, message 2 after M more…;
stop when the contact replies (``stop_on_reply``) or is no longer in a chosen segment
(``stop_unless_segment``, checked when each step is due).

Enrolling rides on the automation triggers (``automation.triggers``): the worker's runner hands
each trigger to ``on_trigger`` in the trigger's own transaction, so a fact enrolls a contact
once. A contact has at most one active enrollment per sequence (a partial unique index); one
who finished may be enrolled again by a new trigger.

Sending (``send_due``, the worker's): each due enrollment is claimed in a transaction of its
own (SKIP LOCKED on PostgreSQL; on SQLite the one writer), its step moved on by a conditional
UPDATE (``step`` still what was read) and its message recorded through the one writer of
replies in the same transaction: a restart or a second worker cannot send a step twice. The
outbox then delivers the message with its retries.

A step that cannot be sent (no chat channel, the channel turned off, outside its reply window,
a message the channel refuses) is recorded with its reason on the enrollment (``detail``) and
the enrollment goes on to the next step: a later step may still reach the contact. A blocked
or deleted contact stops the enrollment. A sequence whose tag, form, record book, segment or
template was deleted is switched off with the reason (``off_reason``); while a sequence is
off, its enrollments wait, and go on when it is switched on again.

Texts are filled in by the broadcasts' renderer (``{{name}}``, ``{{channel_name}}``,
``{{days_since_last_visit}}``, profile fields' keys), checked when saved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.automation import triggers
from madoguchi.automation.models import Template, Trigger
from madoguchi.broadcasts import segments, sending
from madoguchi.broadcasts.models import (
    EnrollmentState,
    Segment,
    SequenceEnrollment,
    StepSequence,
)
from madoguchi.broadcasts.service import SKIP_BLOCKED, check_placeholders
from madoguchi.channels.models import Channel
from madoguchi.channels.outbox import CtxFactory
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import MAX_TEXT_LENGTH, MessageKind
from madoguchi.crm.models import RecordBook, Tag
from madoguchi.events.types import SequencesChanged
from madoguchi.forms.models import Form
from madoguchi.kit.clean import clean_name
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, DomainError, Invalid, NotFound
from madoguchi.kit.i18n import N_
from madoguchi.kit.ids import is_id
from madoguchi.kit.text import storable
from madoguchi.members.models import Member

log = logging.getLogger(__name__)

MAX_NAME: Final = 100
MAX_STEPS: Final = 20
# A step waits at most a year after the one before it.
MAX_DELAY: Final = 365 * 24 * 3600
MAX_ENROLLMENTS_SHOWN: Final = 500
BATCH: Final = 200
# What a sequence may start on, and what its subject is (None: none).
TRIGGER_SUBJECTS: Final[dict[str, str | None]] = {
    triggers.TAG_ADDED: "tag",
    triggers.FIRST_MESSAGE: None,
    triggers.FORM_ANSWERED: "form",
    triggers.RECORD_ADDED: "book",
}
_SUBJECT_MODELS: Final[dict[str, Any]] = {"tag": Tag, "form": Form, "book": RecordBook}
# What is said when one is missing (the msgids the services of each already use).
_MISSING: Final[dict[Any, str]] = {
    Tag: N_("No tag with id %(id)s."),
    Form: N_("No form with id %(id)s."),
    RecordBook: N_("No record book with id %(id)s."),
    Segment: N_("No segment with id %(id)s."),
    Template: N_("No template with id %(id)s."),
}

STOPPED_REPLIED: Final = N_("The contact replied.")
STOPPED_LEFT_SEGMENT: Final = N_("The contact is no longer in the segment.")
NO_CHAT_CHANNEL: Final = N_("The contact has no chat channel.")
CHANNEL_OFF: Final = N_("The channel is turned off or deleted.")


# --- checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TriggerSpec:
    kind: str
    subject_id: int | None = None


def parse_trigger(raw: Any) -> TriggerSpec:
    """``{"type": "tag.added", "tag": id}`` and the like, as the API takes it."""
    if not isinstance(raw, dict) or raw.get("type") not in TRIGGER_SUBJECTS:
        raise Invalid("A sequence starts on one of: %(types)s.", types=", ".join(TRIGGER_SUBJECTS))
    kind = str(raw["type"])
    key = TRIGGER_SUBJECTS[kind]
    if key is None:
        return TriggerSpec(kind=kind)
    subject = raw.get(key)
    if not is_id(subject):
        raise Invalid("A sequence on %(type)s names the %(what)s.", type=kind, what=key)
    return TriggerSpec(kind=kind, subject_id=int(subject))


def trigger_of(sequence: StepSequence) -> dict[str, Any]:
    """The trigger as the API answers it."""
    key = TRIGGER_SUBJECTS.get(sequence.trigger_kind)
    found: dict[str, Any] = {"type": sequence.trigger_kind}
    if key is not None:
        found[key] = sequence.trigger_subject_id
    return found


async def _exists(db: AsyncSession, model: Any, row_id: int) -> None:
    if await db.scalar(select(model.id).where(model.id == row_id)) is None:
        raise NotFound(_MISSING[model], id=row_id)


async def _check_step(db: AsyncSession, number: int, raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise Invalid("Each step has delay_seconds and a text or a template.")
    delay = raw.get("delay_seconds")
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY:
        raise Invalid(
            "Step %(n)d: the delay is 0 seconds to 365 days (%(max)d seconds).",
            n=number,
            max=MAX_DELAY,
        )
    has_text = raw.get("text") is not None
    has_template = raw.get("template") is not None
    if has_text == has_template:
        raise Invalid("Step %(n)d: give a text or a template, one of them.", n=number)
    if has_template:
        template_id = raw["template"]
        if not is_id(template_id):
            raise Invalid("Step %(n)d: choose the template to send.", n=number)
        template = await db.get(Template, template_id)
        if template is None:
            raise NotFound("No template with id %(id)s.", id=template_id)
        if not template.text.strip():
            raise Invalid("Step %(n)d: the template has no text.", n=number)
        await check_placeholders(db, template.text)
        return {"delay_seconds": delay, "template": int(template_id)}
    if not isinstance(raw["text"], str):
        raise Invalid("Step %(n)d: the message is empty.", n=number)
    text = storable(raw["text"]).strip()
    if not text:
        raise Invalid("Step %(n)d: the message is empty.", n=number)
    if len(text) > MAX_TEXT_LENGTH:
        raise Invalid("A message can be at most %(n)d characters.", n=MAX_TEXT_LENGTH)
    await check_placeholders(db, text)
    return {"delay_seconds": delay, "text": text}


async def check_steps(db: AsyncSession, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise Invalid("A sequence needs at least one step.")
    if len(raw) > MAX_STEPS:
        raise Invalid("A sequence has at most %(n)d steps.", n=MAX_STEPS)
    return [await _check_step(db, number, step) for number, step in enumerate(raw, start=1)]


async def _check_targets(
    db: AsyncSession, trigger: TriggerSpec, stop_segment_id: int | None
) -> None:
    key = TRIGGER_SUBJECTS[trigger.kind]
    if key is not None and trigger.subject_id is not None:
        await _exists(db, _SUBJECT_MODELS[key], trigger.subject_id)
    if stop_segment_id is not None:
        await _exists(db, Segment, stop_segment_id)


async def gone_target(db: AsyncSession, sequence: StepSequence) -> DomainError | None:
    """Why the sequence cannot go on (its tag, form, record book, segment or a step's template
    was deleted), or None."""
    try:
        await _check_targets(
            db,
            TriggerSpec(sequence.trigger_kind, sequence.trigger_subject_id),
            sequence.stop_segment_id,
        )
        for step in sequence.steps:
            if step.get("template") is not None:
                await _exists(db, Template, int(step["template"]))
    except DomainError as error:
        return error
    return None


async def _switch_off(ctx: Ctx, sequence: StepSequence, error: DomainError) -> None:
    """Off, with the reason; inside ``atomic()`` the event waits for the outer commit."""
    log.warning("step sequence %s switched off: %s", sequence.id, error)
    sequence.enabled = False
    sequence.off_reason = str(error)
    sequence.updated_at = ctx.now()
    await ctx.commit(SequencesChanged(sequence_id=sequence.id))


# --- the sequences ------------------------------------------------------------------------------


async def list_sequences(db: AsyncSession) -> list[StepSequence]:
    return list(await db.scalars(select(StepSequence).order_by(StepSequence.id)))


async def get_sequence(db: AsyncSession, *, sequence_id: int) -> StepSequence:
    sequence = await db.get(StepSequence, sequence_id)
    if sequence is None:
        raise NotFound("No sequence with id %(id)s.", id=sequence_id)
    return sequence


async def _refuse_twin(db: AsyncSession, name: str, sequence_id: int | None = None) -> None:
    twin = select(StepSequence.id).where(StepSequence.name == name)
    if sequence_id is not None:
        twin = twin.where(StepSequence.id != sequence_id)
    if await db.scalar(twin) is not None:
        raise Conflict("A sequence named %(name)s already exists.", name=name)


def _segment_id(value: Any) -> int | None:
    if value is None:
        return None
    if not is_id(value):
        raise Invalid("stop_unless_segment is a segment's id.")
    return int(value)


async def create_sequence(
    ctx: Ctx,
    *,
    name: str,
    trigger: Any,
    steps: Any,
    stop_on_reply: bool = False,
    stop_unless_segment: Any = None,
    enabled: bool = True,
    actor: Member | None = None,
) -> StepSequence:
    """A sequence, everything it names checked first: nothing half-stored."""
    name = clean_name(name, MAX_NAME)
    await _refuse_twin(ctx.db, name)
    spec = parse_trigger(trigger)
    segment_id = _segment_id(stop_unless_segment)
    await _check_targets(ctx.db, spec, segment_id)
    checked = await check_steps(ctx.db, steps)
    sequence = StepSequence(
        name=name,
        trigger_kind=spec.kind,
        trigger_subject_id=spec.subject_id,
        steps=checked,
        stop_on_reply=bool(stop_on_reply),
        stop_segment_id=segment_id,
        enabled=enabled,
        off_reason="",
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(sequence)
    try:
        await ctx.db.flush()
    except IntegrityError:
        await ctx.db.rollback()
        raise Conflict("A sequence named %(name)s already exists.", name=name) from None
    audit.record(
        ctx,
        actor=actor,
        action="sequence.created",
        subject=f"sequence {sequence.id}",
        name=name,
        after=_audited(sequence),
        detail={"name": name},
    )
    await ctx.commit(SequencesChanged(sequence_id=sequence.id))
    return sequence


def _audited(sequence: StepSequence) -> dict[str, Any]:
    return {
        "name": sequence.name,
        "trigger": [sequence.trigger_kind, sequence.trigger_subject_id],
        "steps": list(sequence.steps),
        "stop_on_reply": sequence.stop_on_reply,
        "enabled": sequence.enabled,
    }


# ``stop_unless_segment`` left as it is (a PATCH without it).
KEEP: Final = object()


@dataclass(frozen=True)
class SequenceChanges:
    """What a PATCH changes; None (KEEP for the segment): left as it is."""

    name: str | None = None
    trigger: Any = None
    steps: Any = None
    stop_on_reply: bool | None = None
    stop_unless_segment: Any = KEEP
    enabled: bool | None = None


async def update_sequence(
    ctx: Ctx, *, sequence_id: int, changes: SequenceChanges, actor: Member | None = None
) -> StepSequence:
    """Change a sequence; everything it names is checked again (switching it on too). Who is
    enrolled stays at their step; changed steps apply to what is still to be sent."""
    sequence = await get_sequence(ctx.db, sequence_id=sequence_id)
    before = _audited(sequence)
    if changes.name is not None:
        name = clean_name(changes.name, MAX_NAME)
        await _refuse_twin(ctx.db, name, sequence.id)
        sequence.name = name
    spec = (
        parse_trigger(changes.trigger)
        if changes.trigger is not None
        else TriggerSpec(sequence.trigger_kind, sequence.trigger_subject_id)
    )
    segment_id = (
        sequence.stop_segment_id
        if changes.stop_unless_segment is KEEP
        else _segment_id(changes.stop_unless_segment)
    )
    await _check_targets(ctx.db, spec, segment_id)
    checked = await check_steps(
        ctx.db, changes.steps if changes.steps is not None else sequence.steps
    )
    sequence.trigger_kind, sequence.trigger_subject_id = spec.kind, spec.subject_id
    sequence.stop_segment_id = segment_id
    sequence.steps = checked
    if changes.stop_on_reply is not None:
        sequence.stop_on_reply = changes.stop_on_reply
    if changes.enabled is not None:
        sequence.enabled = changes.enabled
    if sequence.enabled:
        sequence.off_reason = ""
    sequence.updated_at = ctx.now()
    audit.record_changes(
        ctx,
        actor=actor,
        action="sequence.updated",
        subject=f"sequence {sequence.id}",
        name=sequence.name,
        before=before,
        after=_audited(sequence),
        detail={"name": sequence.name},
    )
    await ctx.commit(SequencesChanged(sequence_id=sequence.id))
    return sequence


async def delete_sequence(ctx: Ctx, *, sequence_id: int, actor: Member | None = None) -> None:
    sequence = await get_sequence(ctx.db, sequence_id=sequence_id)
    audit.record(
        ctx,
        actor=actor,
        action="sequence.deleted",
        subject=f"sequence {sequence.id}",
        name=sequence.name,
        before=_audited(sequence),
        detail={"name": sequence.name},
    )
    await ctx.db.delete(sequence)
    await ctx.commit(SequencesChanged(sequence_id=sequence_id))


@dataclass(frozen=True)
class EnrollmentRow:
    """One contact's place in a sequence, with their name for the screens."""

    enrollment: SequenceEnrollment
    contact_name: str


async def list_enrollments(
    db: AsyncSession, *, sequence_id: int, limit: int = MAX_ENROLLMENTS_SHOWN
) -> list[EnrollmentRow]:
    """Who is at which step: the active first (soonest next step first), then the latest
    finished."""
    await get_sequence(db, sequence_id=sequence_id)
    rows = await db.execute(
        select(SequenceEnrollment, Contact.display_name)
        .join(Contact, Contact.id == SequenceEnrollment.contact_id)
        .where(SequenceEnrollment.sequence_id == sequence_id)
        .order_by(
            (SequenceEnrollment.state != EnrollmentState.active),
            SequenceEnrollment.next_at,
            SequenceEnrollment.id.desc(),
        )
        .limit(limit)
    )
    return [EnrollmentRow(enrollment, name) for enrollment, name in rows]


async def active_counts(db: AsyncSession) -> dict[int, int]:
    """How many contacts are going through each sequence now."""
    rows = await db.execute(
        select(SequenceEnrollment.sequence_id, func.count())
        .where(SequenceEnrollment.state == EnrollmentState.active)
        .group_by(SequenceEnrollment.sequence_id)
    )
    return {sequence_id: int(count) for sequence_id, count in rows}


# --- enrolling (the runner's part) --------------------------------------------------------------


def _matches(sequence: StepSequence, trigger: Trigger) -> bool:
    if sequence.trigger_kind != trigger.kind:
        return False
    return TRIGGER_SUBJECTS[trigger.kind] is None or sequence.trigger_subject_id == (
        trigger.subject_id
    )


async def on_trigger(
    ctx: Ctx, trigger: Trigger, sequences: Sequence[StepSequence] | None = None
) -> int:
    """Act on one trigger inside the runner's ``atomic()`` block: a customer's message stops
    the enrollments that stop on a reply; a sequence's trigger enrolls the contact (unless they
    are going through it already). ``sequences``: every sequence, read once for a batch of
    triggers (read here when not given). How many were enrolled."""
    if sequences is None:
        sequences = await list_sequences(ctx.db)
    if trigger.kind == triggers.MESSAGE_RECEIVED:
        if any(s.stop_on_reply for s in sequences):
            await _stop_on_reply(ctx, trigger)
        return 0
    if trigger.kind not in TRIGGER_SUBJECTS:
        return 0
    now = ctx.now()
    enrolled = 0
    for sequence in sequences:
        if not sequence.enabled or not _matches(sequence, trigger):
            continue
        gone = await gone_target(ctx.db, sequence)
        if gone is not None:
            await _switch_off(ctx, sequence, gone)
            continue
        already = await ctx.db.scalar(
            select(SequenceEnrollment.id).where(
                SequenceEnrollment.sequence_id == sequence.id,
                SequenceEnrollment.contact_id == trigger.contact_id,
                SequenceEnrollment.state == EnrollmentState.active,
            )
        )
        if already is not None:
            continue
        try:
            # Another process enrolling the same contact at the same moment meets the unique
            # index: only this part is undone.
            async with ctx.savepoint():
                ctx.db.add(
                    SequenceEnrollment(
                        sequence_id=sequence.id,
                        contact_id=trigger.contact_id,
                        step=0,
                        state=EnrollmentState.active,
                        next_at=now + timedelta(seconds=sequence.steps[0]["delay_seconds"]),
                        detail="",
                        message_id=trigger.message_id,
                        started_at=now,
                        updated_at=now,
                    )
                )
                await ctx.db.flush()
        except IntegrityError:
            continue
        enrolled += 1
    return enrolled


async def _stop_on_reply(ctx: Ctx, trigger: Trigger) -> None:
    mine = select(StepSequence.id).where(StepSequence.stop_on_reply)
    query = (
        update(SequenceEnrollment)
        .where(
            SequenceEnrollment.contact_id == trigger.contact_id,
            SequenceEnrollment.state == EnrollmentState.active,
            SequenceEnrollment.sequence_id.in_(mine),
        )
        .values(
            state=EnrollmentState.stopped,
            next_at=None,
            detail=STOPPED_REPLIED,
            updated_at=ctx.now(),
        )
        .execution_options(synchronize_session=False)
    )
    if trigger.message_id is not None:
        # The message that started an enrollment (a first message) is not a reply to it.
        query = query.where(
            (SequenceEnrollment.message_id.is_(None))
            | (SequenceEnrollment.message_id != trigger.message_id)
        )
    await ctx.db.execute(query)


# --- sending (the worker's part) ----------------------------------------------------------------


async def check_all(ctx: Ctx) -> int:
    """Switch off the enabled sequences whose tag, form, book, segment or template was deleted.
    How many were switched off."""
    off = 0
    async with ctx.atomic():  # one commit, then the events
        enabled = list(await ctx.db.scalars(select(StepSequence).where(StepSequence.enabled)))
        for sequence in enabled:
            gone = await gone_target(ctx.db, sequence)
            if gone is not None:
                await _switch_off(ctx, sequence, gone)
                off += 1
    return off


async def send_due(make_ctx: CtxFactory, *, now: datetime, limit: int = BATCH) -> int:
    """Send the steps due at ``now`` (the worker calls this), each enrollment in a transaction
    of its own. How many steps were handled (sent, failed or stopped)."""
    async with make_ctx() as ctx:
        await check_all(ctx)
    done = 0
    while done < limit:
        async with make_ctx() as ctx:
            try:
                handled = await _send_next(ctx, now)
            except Exception:
                log.exception("step sequence sending failed")
                await ctx.db.rollback()
                break
        if not handled:
            break
        done += 1
    return done


async def _send_next(ctx: Ctx, now: datetime) -> bool:
    async with ctx.atomic():
        enrollment = await ctx.db.scalar(
            select(SequenceEnrollment)
            .join(StepSequence, StepSequence.id == SequenceEnrollment.sequence_id)
            .where(
                SequenceEnrollment.state == EnrollmentState.active,
                SequenceEnrollment.next_at <= now,
                StepSequence.enabled,
            )
            .order_by(SequenceEnrollment.next_at, SequenceEnrollment.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=SequenceEnrollment)
        )
        if enrollment is None:
            return False
        sequence = await ctx.db.get(StepSequence, enrollment.sequence_id)
        assert sequence is not None
        await _advance(ctx, sequence, enrollment, now)
    return True


async def _advance(
    ctx: Ctx, sequence: StepSequence, enrollment: SequenceEnrollment, now: datetime
) -> None:
    """Claim the enrollment's step (the UPDATE finds it unchanged, or another process has it),
    send it, and move on to the next one."""
    step = enrollment.step
    claimed = await ctx.db.execute(
        update(SequenceEnrollment)
        .where(
            SequenceEnrollment.id == enrollment.id,
            SequenceEnrollment.step == step,
            SequenceEnrollment.state == EnrollmentState.active,
        )
        .values(step=step + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not int(getattr(claimed, "rowcount", 0) or 0):
        return
    await ctx.db.refresh(enrollment)
    if step >= len(sequence.steps):  # steps were removed since: nothing left
        _finish(enrollment, EnrollmentState.done, "", now, step=len(sequence.steps))
        return
    contact = await ctx.db.get(Contact, enrollment.contact_id)
    if contact is None or contact.blocked:
        _finish(enrollment, EnrollmentState.stopped, SKIP_BLOCKED, now, step=step)
        return
    if sequence.stop_segment_id is not None and not await _in_segment(
        ctx, sequence.stop_segment_id, contact.id, now
    ):
        _finish(enrollment, EnrollmentState.stopped, STOPPED_LEFT_SEGMENT, now, step=step)
        return
    detail = ""
    try:
        async with ctx.savepoint():
            await send_step(ctx, contact, sequence.steps[step], now=now)
    except DomainError as error:
        detail = _said(error)
        log.info("step %d of sequence %s not sent: %s", step + 1, sequence.id, detail)
    if step + 1 >= len(sequence.steps):
        _finish(enrollment, EnrollmentState.done, detail, now, step=step + 1)
        return
    enrollment.detail = detail
    enrollment.next_at = now + timedelta(seconds=sequence.steps[step + 1]["delay_seconds"])


def _said(error: DomainError) -> str:
    text = error.message % error.params if error.params else error.message
    return text[:500]


def _finish(
    enrollment: SequenceEnrollment, state: str, detail: str, now: datetime, *, step: int
) -> None:
    enrollment.state = state
    enrollment.step = step
    enrollment.detail = detail[:500]
    enrollment.next_at = None
    enrollment.updated_at = now


async def _in_segment(ctx: Ctx, segment_id: int, contact_id: int, now: datetime) -> bool:
    segment = await ctx.db.get(Segment, segment_id)
    if segment is None:
        return False
    where = await segments.where_of(
        ctx.db, segment.conditions, timezone=ctx.settings.timezone, now=now
    )
    found = await ctx.db.scalar(select(Contact.id).where(Contact.id == contact_id, *where))
    return found is not None


async def send_step(ctx: Ctx, contact: Contact, step: dict[str, Any], *, now: datetime) -> None:
    """One step's message to the contact, through their chat channel (their latest
    conversation on it, or a new one), filled in as a broadcast's."""
    if contact.channel_id is None:
        raise Invalid(NO_CHAT_CHANNEL)
    wording: str = step.get("text") or ""
    image_ids: Sequence[int] = ()
    if step.get("template") is not None:
        template = await ctx.db.get(Template, step["template"])
        if template is None:
            raise NotFound("No template with id %(id)s.", id=step["template"])
        wording, image_ids = template.text, template.image_ids
    channel = await ctx.db.get(Channel, contact.channel_id)
    if channel is None or channel.removed or not channel.enabled:
        raise Invalid(CHANNEL_OFF)
    text = await sending.fill_one(
        ctx.db,
        wording,
        contact,
        zone=ZoneInfo(ctx.settings.timezone),
        now=now,
        base_url=ctx.settings.base_url,
    )
    conversation = await conversations.conversation_for(
        ctx, contact=contact, channel_id=contact.channel_id
    )
    await conversations.send_message(
        ctx,
        conversation_id=conversation.id,
        member=None,
        text=text,
        kind=MessageKind.reply,
        image_ids=image_ids,
    )
