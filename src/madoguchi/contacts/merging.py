"""Merging two contacts into one (F43), and the pairs that look like one person.

``merge_contacts`` is the one function that merges, in one transaction: every row about the
other contact (each table with a ``contact_id``) moves to the kept one, and the other stays as
a row "merged into" it: it holds its channel identity (a later message on it lands on the kept
contact: contacts.service.find_or_create_contact), keeps its old links working (the faces
redirect), and keeps the values the merge did not choose. It is out of every list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi import search
from madoguchi.audit import service as audit
from madoguchi.automation.models import RuleRun, Trigger
from madoguchi.broadcasts.models import BroadcastDelivery, EnrollmentState, SequenceEnrollment
from madoguchi.channels.models import VisitorSession
from madoguchi.contacts import service
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, ScheduledMessage
from madoguchi.crm.contact import get_contact
from madoguchi.crm.models import ContactTag, Field, FieldValue, Mark, Memo, Record, Status
from madoguchi.events.types import ContactMerged, ConversationUpdated
from madoguchi.forms.models import FormAnswer
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid
from madoguchi.kit.i18n import N_
from madoguchi.members.models import Member
from madoguchi.search import conversations as searching

Side = Literal["this", "other"]

# The contact's own fields a merge chooses between (profile fields go by their key).
BUILT_IN = ("display_name", "reading", "email", "phone", "status", "mark", "mail_opt_in")

# Every table with a contact_id, and what a merge does with its rows (tests/contacts check that
# this names them all). "stays": the row belongs to the merged-away contact's identity.
TABLES = {
    "conversations": "moves",
    "scheduled_messages": "moves",
    "contact_tags": "moves (a tag both have: one row)",
    "field_values": "moves, or stays when the kept contact's value is chosen",
    "memos": "moves (after the kept contact's)",
    "records": "moves",
    "form_answers": "moves",
    "automation_triggers": "moves",
    "rule_runs": "moves",
    "sequence_enrollments": "moves (both active in one sequence: the other's stops)",
    "broadcast_deliveries": "moves (both got one occurrence: the other's stays)",
    "visitor_sessions": "stays (a web visitor's token and a customer link name the identity)",
}


@dataclass(frozen=True)
class Difference:
    """A field both contacts have, with different values: the merge keeps one."""

    key: str
    label: str  # a msgid for built-in fields, the field's own label otherwise
    this: Any
    other: Any


def _shown(
    contact: Contact, key: str, statuses: Mapping[int, str], marks: Mapping[int, str]
) -> Any:
    if key == "status":
        return statuses.get(contact.status_id) if contact.status_id else None
    if key == "mark":
        return marks.get(contact.mark_id) if contact.mark_id else None
    return getattr(contact, key)


_LABELS = {
    "display_name": N_("Display name"),
    "reading": N_("Reading (フリガナ)"),
    "email": N_("E-mail address"),
    "phone": N_("Phone"),
    "status": N_("Support status"),
    "mark": N_("Mark"),
    "mail_opt_in": N_("Mail opt-in"),
}


async def differences(db: AsyncSession, this: Contact, other: Contact) -> list[Difference]:
    """The fields on which the two contacts disagree (both set, not equal), in page order."""
    statuses = {k: v for k, v in await db.execute(select(Status.id, Status.name))}
    marks = {k: v for k, v in await db.execute(select(Mark.id, Mark.name))}
    found: list[Difference] = []
    for key in BUILT_IN:
        mine, theirs = _shown(this, key, statuses, marks), _shown(other, key, statuses, marks)
        if key == "mail_opt_in":
            if mine != theirs:
                found.append(Difference(key, _LABELS[key], mine, theirs))
        elif mine not in (None, "") and theirs not in (None, "") and mine != theirs:
            found.append(Difference(key, _LABELS[key], mine, theirs))
    values = await _values(db, [this.id, other.id])
    for field in await db.scalars(select(Field).order_by(Field.position, Field.id)):
        mine, theirs = values.get((this.id, field.id)), values.get((other.id, field.id))
        if mine is not None and theirs is not None and _value(mine) != _value(theirs):
            found.append(Difference(field.key, field.label, _value(mine), _value(theirs)))
    return found


def _value(row: FieldValue) -> Any:
    if row.value_number is not None:
        return row.value_number
    if row.value_date is not None:
        return row.value_date.isoformat()
    return (row.value_text or "").strip("\n").replace("\n", ", ")


async def _values(db: AsyncSession, contact_ids: list[int]) -> dict[tuple[int, int], FieldValue]:
    rows = await db.scalars(select(FieldValue).where(FieldValue.contact_id.in_(contact_ids)))
    return {(row.contact_id, row.field_id): row for row in rows}


async def _check_keep(db: AsyncSession, keep: Mapping[str, str]) -> dict[str, Side]:
    field_keys = set(await db.scalars(select(Field.key)))
    unknown = sorted(k for k in keep if k not in BUILT_IN and k not in field_keys)
    if unknown:
        raise Invalid("Unknown field to keep: %(keys)s.", keys=", ".join(unknown))
    wrong = sorted(k for k, side in keep.items() if side not in ("this", "other"))
    if wrong:
        raise Invalid(
            'Say "this" or "other" for each field to keep: %(keys)s.', keys=", ".join(wrong)
        )
    return {k: "other" if side == "other" else "this" for k, side in keep.items()}


async def merge_contacts(
    ctx: Ctx,
    *,
    contact_id: int,
    other_id: int,
    keep: Mapping[str, str] | None = None,
    actor: Member | None,
) -> Contact:
    """Merge ``other_id`` into ``contact_id`` (F43): one contact with one history. Where both
    have a value for a field, ``keep`` says whose stays (the kept contact's by default); where
    one has it, it is kept. Everything is checked before anything is written."""
    if contact_id == other_id:
        raise Invalid("A contact cannot be merged with itself.")
    this = await get_contact(ctx.db, contact_id=contact_id)
    other = await get_contact(ctx.db, contact_id=other_id)
    for contact in (this, other):
        if contact.merged_into_id is not None:
            raise Conflict(
                "Contact %(id)s was merged into contact %(into)s already.",
                id=contact.id,
                into=contact.merged_into_id,
            )
    # Both rows locked for the merge (PostgreSQL): a concurrent merge of either waits.
    await ctx.db.execute(
        select(Contact.id).where(Contact.id.in_([this.id, other.id])).with_for_update()
    )
    chosen = await _check_keep(ctx.db, keep or {})
    differ = {d.key for d in await differences(ctx.db, this, other)}

    def takes_other(key: str, theirs: Any, mine: Any) -> bool:
        if key in differ:
            return chosen.get(key, "this") == "other"
        return mine in (None, "") and theirs not in (None, "")

    # The contact's own fields.
    names = {
        "display_name": this.display_name,
        "reading": this.reading,
    }
    for key in ("display_name", "reading"):
        if takes_other(key, getattr(other, key), getattr(this, key)):
            names[key] = getattr(other, key)
    for key, attribute in (("email", "email"), ("phone", "phone")):
        if takes_other(key, getattr(other, attribute), getattr(this, attribute)):
            setattr(this, attribute, getattr(other, attribute))
    if takes_other("status", other.status_id, this.status_id):
        this.status_id = other.status_id
    if takes_other("mark", other.mark_id, this.mark_id):
        this.mark_id = other.mark_id
    if "mail_opt_in" in differ and chosen.get("mail_opt_in") == "other":
        this.mail_opt_in = other.mail_opt_in
    this.blocked = this.blocked or other.blocked
    if other.activity_at and (this.activity_at is None or other.activity_at > this.activity_at):
        this.activity_at = other.activity_at
    this.created_at = min(this.created_at, other.created_at)

    moved = await _move_rows(ctx, this, other, chosen, differ)

    # The other stops being a contact of its own: out of the contact index and every list.
    await search.remove(ctx.db, search.CONTACTS, [(other.id, searching.names_text(other))])
    await ctx.db.execute(
        update(Contact).where(Contact.merged_into_id == other.id).values(merged_into_id=this.id)
    )
    other.merged_into_id = this.id
    other.merged_at = ctx.now()
    other.updated_at = ctx.now()
    await service.set_names(ctx, this, names["display_name"] or this.channel_name, names["reading"])
    # The moved conversations' entries hold the kept contact's names now.
    await searching.refresh_contact(ctx.db, this.id)
    this.updated_at = ctx.now()
    audit.record(
        ctx,
        actor=actor,
        action="contact.merged",
        subject=f"contact {this.id}",
        name=this.display_name,
        detail={
            "merged": other.id,
            "merged_name": other.display_name,
            "kept_name": this.display_name,
            "chosen": dict(sorted(chosen.items())),
            "moved": moved,
        },
    )
    conversations = await service.conversation_ids(ctx.db, contact_id=this.id)
    await ctx.commit(
        ContactMerged(contact_id=this.id, merged_id=other.id),
        *[ConversationUpdated(conversation_id=cid, contact_id=this.id) for cid in conversations],
    )
    return this


async def _move(ctx: Ctx, model: Any, this: Contact, other: Contact, *extra: Any) -> int:
    result = await ctx.db.execute(
        update(model)
        .where(model.contact_id == other.id, *extra)
        .values(contact_id=this.id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _move_rows(
    ctx: Ctx, this: Contact, other: Contact, chosen: Mapping[str, Side], differ: set[str]
) -> dict[str, int]:
    """Every row about ``other`` that moves to ``this``, and how many of each moved."""
    db = ctx.db
    moved: dict[str, int] = {}
    moved["conversations"] = await _move(ctx, Conversation, this, other)
    moved["scheduled_messages"] = await _move(ctx, ScheduledMessage, this, other)
    moved["form_answers"] = await _move(ctx, FormAnswer, this, other)
    moved["records"] = await _move(ctx, Record, this, other)
    moved["automation_triggers"] = await _move(ctx, Trigger, this, other)
    moved["rule_runs"] = await _move(ctx, RuleRun, this, other)

    # Memos: after the kept contact's own.
    last = await db.scalar(select(func.max(Memo.position)).where(Memo.contact_id == this.id))
    shift = (last if last is not None else -1) + 1
    result = await db.execute(
        update(Memo)
        .where(Memo.contact_id == other.id)
        .values(contact_id=this.id, position=Memo.position + shift)
        .execution_options(synchronize_session=False)
    )
    moved["memos"] = int(getattr(result, "rowcount", 0) or 0)

    # Tags: a tag both have stays one row; every tag row follows the contact's activity.
    mine = select(ContactTag.tag_id).where(ContactTag.contact_id == this.id).scalar_subquery()
    await db.execute(
        delete(ContactTag).where(ContactTag.contact_id == other.id, ContactTag.tag_id.in_(mine))
    )
    moved["contact_tags"] = await _move(ctx, ContactTag, this, other)
    await db.execute(
        update(ContactTag)
        .where(ContactTag.contact_id == this.id)
        .values(activity_at=this.activity_at)
        .execution_options(synchronize_session=False)
    )

    # Profile field values: where both have one, the chosen one is kept (the other's stays with
    # the merged-away contact, nothing is deleted).
    keys = {k: v for k, v in await db.execute(select(Field.id, Field.key))}
    values = await _values(db, [this.id, other.id])
    count = 0
    for (owner, field_id), row in values.items():
        if owner != other.id:
            continue
        mine_row = values.get((this.id, field_id))
        if mine_row is None:
            row.contact_id = this.id
            count += 1
        elif keys[field_id] in differ and chosen.get(keys[field_id], "this") == "other":
            # Their value is chosen: the two rows trade values (no key changes hands twice).
            for column in ("value_text", "value_number", "value_date", "updated_at"):
                mine, theirs = getattr(mine_row, column), getattr(row, column)
                setattr(mine_row, column, theirs)
                setattr(row, column, mine)
            count += 1
    await db.flush()
    moved["field_values"] = count

    # Step enrollments: one active per sequence and contact; a second one stops.
    active_mine = (
        select(SequenceEnrollment.sequence_id)
        .where(
            SequenceEnrollment.contact_id == this.id,
            SequenceEnrollment.state == EnrollmentState.active,
        )
        .scalar_subquery()
    )
    await db.execute(
        update(SequenceEnrollment)
        .where(
            SequenceEnrollment.contact_id == other.id,
            SequenceEnrollment.state == EnrollmentState.active,
            SequenceEnrollment.sequence_id.in_(active_mine),
        )
        .values(state=EnrollmentState.stopped, detail="Merged into another contact.")
        .execution_options(synchronize_session=False)
    )
    moved["sequence_enrollments"] = await _move(ctx, SequenceEnrollment, this, other)

    # Broadcast deliveries: one per occurrence and contact; a second one stays behind.
    got: ColumnElement[Any] = (
        select(BroadcastDelivery.occurrence_id)
        .where(BroadcastDelivery.contact_id == this.id)
        .scalar_subquery()
    )
    moved["broadcast_deliveries"] = await _move(
        ctx, BroadcastDelivery, this, other, BroadcastDelivery.occurrence_id.not_in(got)
    )
    # VisitorSession rows stay: they name the identity (see TABLES).
    assert VisitorSession.__tablename__ in TABLES
    return moved


# --- suggested duplicates ------------------------------------------------------------------------


Reason = Literal["phone", "email", "reading"]


@dataclass(frozen=True)
class DuplicatePair:
    contact_id: int
    other_id: int
    reasons: list[Reason]


def _digits(column: Any) -> Any:
    """A phone number without the separators people type (same SQL on both databases)."""
    for separator in ("-", " ", "(", ")", "+", "ー", "‐"):
        column = func.replace(column, separator, "")
    return column


# A key shared by more contacts than this is no sign of one person (a shop's own number).
MAX_GROUP = 10


async def duplicate_pairs(
    db: AsyncSession, *, contact_id: int | None = None, limit: int = 100
) -> list[DuplicatePair]:
    """Pairs of contacts that share a phone number, an e-mail address or a reading (spaces
    aside), newest first; with ``contact_id``, only that contact's. Grouped by the normalised
    keys in the database: one query per key, never each contact against each."""
    keys: list[tuple[Reason, Any]] = [
        ("phone", _digits(Contact.phone)),
        ("email", func.lower(Contact.email)),
        ("reading", func.replace(Contact.reading, " ", "")),
    ]
    found: dict[tuple[int, int], list[Reason]] = {}
    for reason, key in keys:
        live = [Contact.merged_into_id.is_(None), key.is_not(None), key != ""]
        shared = (
            select(key.label("key"))
            .where(*live)
            .group_by(key)
            .having(func.count() > 1, func.count() <= MAX_GROUP)
        )
        if contact_id is not None:
            mine = select(key).where(Contact.id == contact_id).scalar_subquery()
            shared = shared.where(key == mine)
        groups: dict[str, list[int]] = {}
        rows = await db.execute(
            select(key.label("key"), Contact.id)
            .where(*live, key.in_(shared.scalar_subquery()))
            .order_by(Contact.id.desc())
        )
        for value, ident in rows:
            groups.setdefault(value, []).append(ident)
        for ids in groups.values():
            for i, first in enumerate(ids):
                for second in ids[i + 1 :]:
                    if contact_id is not None and contact_id not in (first, second):
                        continue
                    found.setdefault((first, second), []).append(reason)
    pairs = [
        DuplicatePair(contact_id=a, other_id=b, reasons=reasons)
        for (a, b), reasons in sorted(found.items(), reverse=True)
    ]
    if contact_id is not None:
        pairs = [
            p if p.contact_id == contact_id else DuplicatePair(contact_id, p.contact_id, p.reasons)
            for p in pairs
        ]
    return pairs[:limit]


async def merged_target(db: AsyncSession, contact_id: int) -> int | None:
    """The contact this one was merged into, if it was (the faces redirect its links)."""
    return await db.scalar(select(Contact.merged_into_id).where(Contact.id == contact_id))
