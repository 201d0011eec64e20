"""Merging two contacts into one (F43), and the pairs that look like one person.

``merge_contacts`` is the one function that merges, in one transaction: every row about the
other contact (each table with a ``contact_id``) moves to the kept one, and the other stays as
a row "merged into" it: it holds its channel identity (a later message on it lands on the kept
contact: contacts.service.find_or_create_contact), keeps its old links working (the faces
redirect), and keeps the values the merge did not choose. It is out of every list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi import search
from madoguchi.audit import service as audit
from madoguchi.automation.models import RuleRun, Trigger
from madoguchi.broadcasts.models import BroadcastDelivery, EnrollmentState, SequenceEnrollment
from madoguchi.channels.models import VisitorSession
from madoguchi.contacts import service
from madoguchi.contacts.models import Contact, ContactMerge
from madoguchi.conversations.models import Conversation, ScheduledMessage
from madoguchi.crm import records
from madoguchi.crm.contact import get_contact
from madoguchi.crm.models import (
    ACTIVITY_COPIES,
    ContactTag,
    Field,
    FieldValue,
    Mark,
    Memo,
    Record,
    Status,
)
from madoguchi.events.types import ContactMerged, ContactUnmerged, ConversationUpdated
from madoguchi.forms.models import FormAnswer
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Conflict, Invalid, NotFound
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
    "record_spans": "worked out again for both from their records (crm.records.refresh_spans)",
    "form_answers": "moves",
    "automation_triggers": "moves",
    "rule_runs": "moves",
    "sequence_enrollments": "moves (both active in one sequence: the other's stops)",
    "broadcast_deliveries": "moves (both got one occurrence: the other's stays)",
    "visitor_sessions": "stays (a web visitor's token and a customer link name the identity)",
    "contact_merges": "the merge's own record (what it did, for undo_merge)",
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
    for definition in await db.scalars(select(Field).order_by(Field.position, Field.id)):
        mine, theirs = values.get((this.id, definition.id)), values.get((other.id, definition.id))
        if mine is not None and theirs is not None and _value(mine) != _value(theirs):
            found.append(Difference(definition.key, definition.label, _value(mine), _value(theirs)))
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
    one has it, it is kept. Everything is checked before anything is written. What the merge
    did is written down with it (a ``ContactMerge``), for ``undo_merge``."""
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

    before = _own_fields(this)
    kept_activity = this.activity_at
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

    journal = await _move_rows(ctx, this, other, chosen, differ)
    # Its records went to the kept contact (whose spans _move_rows worked out again).
    await records.refresh_spans(ctx.db, [other.id])

    # The other stops being a contact of its own: out of the contact index and every list.
    await search.remove(ctx.db, search.CONTACTS, [(other.id, searching.names_text(other))])
    journal.repointed = list(
        await ctx.db.scalars(select(Contact.id).where(Contact.merged_into_id == other.id))
    )
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
    after = _own_fields(this)
    journal.contact = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    journal.kept_activity_at = _plain(kept_activity)
    ctx.db.add(
        ContactMerge(
            kept_id=this.id,
            merged_id=other.id,
            at=ctx.now(),
            member_id=actor.id if actor else ctx.actor.member_id,
            actor_name=(actor.name if actor else ctx.actor.name)[:100],
            journal=journal.plain(),
        )
    )
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
            "moved": journal.counts(),
        },
    )
    conversations = await service.conversation_ids(ctx.db, contact_id=this.id)
    await ctx.commit(
        ContactMerged(contact_id=this.id, merged_id=other.id),
        *[ConversationUpdated(conversation_id=cid, contact_id=this.id) for cid in conversations],
    )
    return this


# --- what a merge did, for its undoing ---------------------------------------------------------

# Tables whose moved rows are named by their id (memos too: with their positions, below).
BY_ID: dict[str, Any] = {
    "conversations": Conversation,
    "scheduled_messages": ScheduledMessage,
    "form_answers": FormAnswer,
    "records": Record,
    "automation_triggers": Trigger,
    "rule_runs": RuleRun,
    "sequence_enrollments": SequenceEnrollment,
    "broadcast_deliveries": BroadcastDelivery,
}
# Rows about one conversation: they follow it back (one written after the merge as well).
FOLLOW_CONVERSATION = ("scheduled_messages", "automation_triggers", "rule_runs")
# The contact's own columns a merge may change, as the journal keeps them (activity_at apart:
# messages after the merge move it, see _activity_since).
OWN_FIELDS = (
    "display_name",
    "reading",
    "email",
    "phone",
    "status_id",
    "mark_id",
    "mail_opt_in",
    "blocked",
    "created_at",
)
VALUE_COLUMNS = ("value_text", "value_number", "value_date", "updated_at")
STOPPED_BY_MERGE = "Merged into another contact."
# How long a merge can be undone (F43: "undoable for a while").
UNDO_WINDOW = timedelta(days=30)


def _plain(value: Any) -> Any:
    """A value as the journal (JSON) keeps it, and as it is compared with one read back."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _own_fields(contact: Contact) -> dict[str, Any]:
    return {key: _plain(getattr(contact, key)) for key in OWN_FIELDS}


def _values_of(row: FieldValue) -> dict[str, Any]:
    return {column: _plain(getattr(row, column)) for column in VALUE_COLUMNS}


def _set_values(row: FieldValue, values: Mapping[str, Any]) -> None:
    date_text, at_text = values.get("value_date"), values["updated_at"]
    row.value_text = values.get("value_text")
    row.value_number = values.get("value_number")
    row.value_date = date.fromisoformat(date_text) if date_text else None
    row.updated_at = datetime.fromisoformat(at_text)


@dataclass
class Journal:
    """Exactly what one merge did (``ContactMerge.journal``), as ids and old values: what
    ``undo_merge`` moves back and restores, and nothing else."""

    # Table → the ids of the rows that moved to the kept contact.
    rows: dict[str, list[int]] = field(default_factory=dict)
    # Moved memo → its position on the merged-away contact.
    memos: dict[int, int] = field(default_factory=dict)
    # Tags whose row moved; tags both had (the merged-away contact's row was deleted: its
    # created_at).
    tags_moved: list[int] = field(default_factory=list)
    tags_shared: dict[int, str] = field(default_factory=dict)
    # Profile fields whose value moved; those both had where theirs was chosen (the two rows
    # traded values: each one's values before).
    fields_moved: list[int] = field(default_factory=list)
    fields_traded: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # Enrollments the merge stopped (a second active one in a sequence) → their detail before.
    enrollments_stopped: dict[int, str | None] = field(default_factory=dict)
    # The kept contact's own fields the merge changed: [before, after].
    contact: dict[str, list[Any]] = field(default_factory=dict)
    kept_activity_at: str | None = None
    # Contacts merged into the merged-away one earlier, now pointing at the kept one.
    repointed: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many rows of each kind moved (the audit entry's ``moved``)."""
        found = {name: len(ids) for name, ids in self.rows.items()}
        found["memos"] = len(self.memos)
        found["contact_tags"] = len(self.tags_moved)
        found["field_values"] = len(self.fields_moved) + len(self.fields_traded)
        return found

    def plain(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "memos": {str(k): v for k, v in self.memos.items()},
            "tags_moved": self.tags_moved,
            "tags_shared": {str(k): v for k, v in self.tags_shared.items()},
            "fields_moved": self.fields_moved,
            "fields_traded": {str(k): v for k, v in self.fields_traded.items()},
            "enrollments_stopped": {str(k): v for k, v in self.enrollments_stopped.items()},
            "contact": self.contact,
            "kept_activity_at": self.kept_activity_at,
            "repointed": self.repointed,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Journal:
        return cls(
            rows={name: list(ids) for name, ids in data.get("rows", {}).items()},
            memos={int(k): v for k, v in data.get("memos", {}).items()},
            tags_moved=list(data.get("tags_moved", [])),
            tags_shared={int(k): v for k, v in data.get("tags_shared", {}).items()},
            fields_moved=list(data.get("fields_moved", [])),
            fields_traded={int(k): v for k, v in data.get("fields_traded", {}).items()},
            enrollments_stopped={int(k): v for k, v in data.get("enrollments_stopped", {}).items()},
            contact=dict(data.get("contact", {})),
            kept_activity_at=data.get("kept_activity_at"),
            repointed=list(data.get("repointed", [])),
        )


async def _move(ctx: Ctx, model: Any, this: Contact, other: Contact, *extra: Any) -> list[int]:
    """Move ``other``'s rows (those ``extra`` allows) to ``this``: the ids of those moved."""
    where = (model.contact_id == other.id, *extra)
    ids = list(await ctx.db.scalars(select(model.id).where(*where)))
    if ids:
        await ctx.db.execute(
            update(model)
            .where(*where)
            .values(contact_id=this.id)
            .execution_options(synchronize_session=False)
        )
    return ids


def _chunks(ids: list[int]) -> list[list[int]]:
    """An IN list at a time (SQLite allows 32,766 parameters)."""
    return [ids[start : start + 5000] for start in range(0, len(ids), 5000)]


async def _give_back(ctx: Ctx, model: Any, ids: list[int], kept: int, merged: int) -> int:
    """Rows ``ids`` still on the kept contact go back to the merged-away one: how many did."""
    count = 0
    for chunk in _chunks(sorted(set(ids))):
        result = await ctx.db.execute(
            update(model)
            .where(model.id.in_(chunk), model.contact_id == kept)
            .values(contact_id=merged)
            .execution_options(synchronize_session=False)
        )
        count += int(getattr(result, "rowcount", 0) or 0)
    return count


async def _follow_activity(ctx: Ctx, contact: Contact) -> None:
    """Every row of the contact that keeps a copy of its activity (ACTIVITY_COPIES: the lists
    filtered by a tag, a field or a visit walk them) holds it, and its record spans sum its
    records up again: after a merge and after its undoing."""
    for model in ACTIVITY_COPIES:
        await ctx.db.execute(
            update(model)
            .where(model.contact_id == contact.id)
            .values(activity_at=contact.activity_at)
            .execution_options(synchronize_session=False)
        )
    await records.refresh_spans(ctx.db, [contact.id])


async def _move_rows(
    ctx: Ctx, this: Contact, other: Contact, chosen: Mapping[str, Side], differ: set[str]
) -> Journal:
    """Every row about ``other`` that moves to ``this``, written down as it moves."""
    db = ctx.db
    journal = Journal()
    for name in ("conversations", "scheduled_messages", "form_answers", "records"):
        journal.rows[name] = await _move(ctx, BY_ID[name], this, other)
    for name in ("automation_triggers", "rule_runs"):
        journal.rows[name] = await _move(ctx, BY_ID[name], this, other)

    # Memos: after the kept contact's own.
    last = await db.scalar(select(func.max(Memo.position)).where(Memo.contact_id == this.id))
    shift = (last if last is not None else -1) + 1
    journal.memos = {
        ident: position
        for ident, position in await db.execute(
            select(Memo.id, Memo.position).where(Memo.contact_id == other.id)
        )
    }
    await db.execute(
        update(Memo)
        .where(Memo.contact_id == other.id)
        .values(contact_id=this.id, position=Memo.position + shift)
        .execution_options(synchronize_session=False)
    )

    # Tags: a tag both have stays one row; every tag row follows the contact's activity.
    mine = select(ContactTag.tag_id).where(ContactTag.contact_id == this.id).scalar_subquery()
    shared = ContactTag.contact_id == other.id, ContactTag.tag_id.in_(mine)
    journal.tags_shared = {
        tag_id: created_at.isoformat()
        for tag_id, created_at in await db.execute(
            select(ContactTag.tag_id, ContactTag.created_at).where(*shared)
        )
    }
    await db.execute(delete(ContactTag).where(*shared))
    journal.tags_moved = list(
        await db.scalars(select(ContactTag.tag_id).where(ContactTag.contact_id == other.id))
    )
    await db.execute(
        update(ContactTag)
        .where(ContactTag.contact_id == other.id)
        .values(contact_id=this.id)
        .execution_options(synchronize_session=False)
    )

    # Profile field values: where both have one, the chosen one is kept (the other's stays with
    # the merged-away contact, nothing is deleted).
    keys = {k: v for k, v in await db.execute(select(Field.id, Field.key))}
    values = await _values(db, [this.id, other.id])
    for (owner, field_id), row in values.items():
        if owner != other.id:
            continue
        mine_row = values.get((this.id, field_id))
        if mine_row is None:
            row.contact_id = this.id
            journal.fields_moved.append(field_id)
        elif keys[field_id] in differ and chosen.get(keys[field_id], "this") == "other":
            # Their value is chosen: the two rows trade values (no key changes hands twice).
            journal.fields_traded[field_id] = {
                "kept": _values_of(mine_row),
                "merged": _values_of(row),
            }
            for column in VALUE_COLUMNS:
                mine, theirs = getattr(mine_row, column), getattr(row, column)
                setattr(mine_row, column, theirs)
                setattr(row, column, mine)
    await db.flush()
    await _follow_activity(ctx, this)

    # Step enrollments: one active per sequence and contact; a second one stops.
    active_mine = (
        select(SequenceEnrollment.sequence_id)
        .where(
            SequenceEnrollment.contact_id == this.id,
            SequenceEnrollment.state == EnrollmentState.active,
        )
        .scalar_subquery()
    )
    second = (
        SequenceEnrollment.contact_id == other.id,
        SequenceEnrollment.state == EnrollmentState.active,
        SequenceEnrollment.sequence_id.in_(active_mine),
    )
    journal.enrollments_stopped = {
        ident: detail
        for ident, detail in await db.execute(
            select(SequenceEnrollment.id, SequenceEnrollment.detail).where(*second)
        )
    }
    await db.execute(
        update(SequenceEnrollment)
        .where(*second)
        .values(state=EnrollmentState.stopped, detail=STOPPED_BY_MERGE)
        .execution_options(synchronize_session=False)
    )
    journal.rows["sequence_enrollments"] = await _move(ctx, SequenceEnrollment, this, other)

    # Broadcast deliveries: one per occurrence and contact; a second one stays behind.
    got: ColumnElement[Any] = (
        select(BroadcastDelivery.occurrence_id)
        .where(BroadcastDelivery.contact_id == this.id)
        .scalar_subquery()
    )
    journal.rows["broadcast_deliveries"] = await _move(
        ctx, BroadcastDelivery, this, other, BroadcastDelivery.occurrence_id.not_in(got)
    )
    # VisitorSession rows stay: they name the identity (see TABLES).
    assert VisitorSession.__tablename__ in TABLES
    return journal


# --- undoing a merge ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MergeEntry:
    """A merge into a contact that may still be undone: with whom, and until when; ``undoable``
    is False while a later merge of either contact comes first."""

    merge: ContactMerge
    other: Contact
    until: datetime
    undoable: bool


def undo_until(merge: ContactMerge) -> datetime:
    return merge.at + UNDO_WINDOW


def _involving(ids: list[int]) -> ColumnElement[bool]:
    return or_(ContactMerge.kept_id.in_(ids), ContactMerge.merged_id.in_(ids))


async def _later_merge(db: AsyncSession, merge: ContactMerge) -> int | None:
    """A merge made after this one, not undone, of either of its contacts."""
    return await db.scalar(
        select(ContactMerge.id)
        .where(
            ContactMerge.id > merge.id,
            ContactMerge.undone_at.is_(None),
            _involving([merge.kept_id, merge.merged_id]),
        )
        .limit(1)
    )


async def merges_into(ctx: Ctx, *, contact_id: int) -> list[MergeEntry]:
    """The merges into this contact that are not undone and not too old, newest first."""
    rows = list(
        await ctx.db.scalars(
            select(ContactMerge)
            .where(
                ContactMerge.kept_id == contact_id,
                ContactMerge.undone_at.is_(None),
                ContactMerge.at > ctx.now() - UNDO_WINDOW,
            )
            .order_by(ContactMerge.id.desc())
        )
    )
    found = []
    for merge in rows:
        other = await ctx.db.get(Contact, merge.merged_id)
        assert other is not None  # merged_id cascades
        undoable = await _later_merge(ctx.db, merge) is None
        found.append(MergeEntry(merge, other, undo_until(merge), undoable))
    return found


async def _check_undo(
    ctx: Ctx, merge_id: int, contact_id: int | None, *, lock: bool = True
) -> ContactMerge:
    """The merge, if it may be undone now; else why not."""
    query = select(ContactMerge).where(ContactMerge.id == merge_id)
    merge = await ctx.db.scalar(query.with_for_update() if lock else query)
    if merge is None or contact_id not in (None, merge.kept_id, merge.merged_id):
        raise NotFound(
            "No merge with id %(id)s for this customer (deleting a customer deletes its merges).",
            id=merge_id,
        )
    if merge.undone_at is not None:
        raise Conflict("This merge was undone already.")
    if ctx.now() > undo_until(merge):
        raise Conflict(
            "This merge is more than %(days)s days old: it can no longer be undone.",
            days=UNDO_WINDOW.days,
        )
    later = await _later_merge(ctx.db, merge)
    if later is not None:
        raise Conflict(
            "One of these customers was merged again later (merge %(id)s): undo that one first.",
            id=later,
        )
    return merge


async def merge_to_undo(ctx: Ctx, *, merge_id: int, contact_id: int) -> MergeEntry:
    """A merge of this contact that may be undone now (what a confirmation shows), or the
    refusal ``undo_merge`` would give."""
    merge = await _check_undo(ctx, merge_id, contact_id, lock=False)
    other = await get_contact(ctx.db, contact_id=merge.merged_id)
    return MergeEntry(merge, other, undo_until(merge), undoable=True)


async def undo_merge(
    ctx: Ctx, *, merge_id: int, contact_id: int | None = None, actor: Member | None
) -> tuple[Contact, Contact]:
    """Undo a merge (F43), in one transaction: the kept contact and the restored one.

    Allowed for ``UNDO_WINDOW`` after the merge, and only for the newest merge (not undone) of
    either contact; ``contact_id``, when given, must be one of the two. What the merge moved
    (its journal) goes back, as it is now: a memo edited since goes back edited, one deleted
    since stays deleted. The merged-away contact's channel identities take back the
    conversations of their channels, those started after the merge too (a later message on
    its channel landed on the kept contact), with the scheduled messages, rule triggers and
    runs of those conversations. The kept contact's fields the merge overwrote get their old
    values back, unless they were changed since (that later change stays); so do profile
    values. Everything else written on the kept contact after the merge stays with it: memos,
    records, tags, form answers, scheduled messages without a conversation. The activity
    copies and search entries follow, through the helpers the merge used.
    """
    merge = await _check_undo(ctx, merge_id, contact_id)
    await ctx.db.execute(
        select(Contact.id).where(Contact.id.in_([merge.kept_id, merge.merged_id])).with_for_update()
    )
    kept = await get_contact(ctx.db, contact_id=merge.kept_id)
    merged = await get_contact(ctx.db, contact_id=merge.merged_id)
    if merged.merged_into_id != kept.id:
        raise Conflict(
            "Contact %(id)s is not merged into contact %(into)s any more.",
            id=merged.id,
            into=kept.id,
        )
    journal = Journal.of(merge.journal)
    before = await service.audited(ctx.db, kept)
    moved_back = await _move_back(ctx, merge, journal, kept, merged)

    # The kept contact's own fields: those the merge set and nobody changed since.
    now = _own_fields(kept)
    restored = {
        key: old for key, (old, new) in journal.contact.items() if key in now and now[key] == new
    }
    # A status or mark deleted since is not brought back (the contact keeps what it has).
    for key, model in (("status_id", Status), ("mark_id", Mark)):
        if restored.get(key) is not None and await ctx.db.get(model, restored[key]) is None:
            del restored[key]
    for key in ("email", "phone", "status_id", "mark_id", "mail_opt_in", "blocked"):
        if key in restored:
            setattr(kept, key, restored[key])
    if "created_at" in restored:
        kept.created_at = datetime.fromisoformat(restored["created_at"])

    # The merged-away contact is one of its own again: in the index, lists and search.
    await ctx.db.execute(
        update(Contact)
        .where(Contact.id.in_(journal.repointed), Contact.merged_into_id == kept.id)
        .values(merged_into_id=merged.id)
    )
    merged.merged_into_id = None
    merged.merged_at = None
    merged.updated_at = ctx.now()
    await search.add(ctx.db, search.CONTACTS, [(merged.id, searching.names_text(merged))])
    await service.set_names(
        ctx,
        kept,
        restored.get("display_name", kept.display_name),
        restored.get("reading", kept.reading),
    )
    await searching.refresh_contact(ctx.db, merged.id)
    floor = journal.kept_activity_at
    kept.activity_at = await _activity_since(
        ctx, kept, merge.at, datetime.fromisoformat(floor) if floor else None
    )
    merged.activity_at = await _activity_since(ctx, merged, merge.at, merged.activity_at)
    for contact in (kept, merged):
        await _follow_activity(ctx, contact)
    kept.updated_at = ctx.now()
    merge.undone_at = ctx.now()
    after = await service.audited(ctx.db, kept)
    old, new = audit.changed(before, after)
    audit.record(
        ctx,
        actor=actor,
        action="contact.unmerged",
        subject=f"contact {kept.id}",
        name=kept.display_name,
        before=old,
        after=new,
        detail={
            "merge": merge.id,
            "restored": merged.id,
            "restored_name": merged.display_name,
            "kept_name": kept.display_name,
            "moved_back": moved_back,
        },
    )
    conversations = {
        contact.id: await service.conversation_ids(ctx.db, contact_id=contact.id)
        for contact in (kept, merged)
    }
    await ctx.commit(
        ContactUnmerged(contact_id=kept.id, restored_id=merged.id),
        *[
            ConversationUpdated(conversation_id=cid, contact_id=owner)
            for owner, ids in conversations.items()
            for cid in ids
        ],
    )
    return kept, merged


async def _returning_conversations(
    ctx: Ctx, merge: ContactMerge, journal: Journal, kept: Contact, merged: Contact
) -> list[int]:
    """The conversations that go back: those the merge moved, and those begun since on a channel
    that is the merged-away contact's (or one merged into it before) and not the kept one's."""
    theirs = {merged.id, *journal.repointed}
    identities = await ctx.db.execute(
        select(Contact.id, Contact.channel_id).where(
            or_(Contact.id.in_([kept.id, *theirs]), Contact.merged_into_id == kept.id)
        )
    )
    channels: dict[bool, set[int]] = {True: set(), False: set()}
    for ident, channel_id in identities:
        if channel_id is not None:
            channels[ident in theirs].add(channel_id)
    back = channels[True] - channels[False]
    later: list[int] = []
    if back:
        later = list(
            await ctx.db.scalars(
                select(Conversation.id).where(
                    Conversation.contact_id == kept.id,
                    Conversation.channel_id.in_(back),
                    Conversation.created_at >= merge.at,
                )
            )
        )
    return sorted(set(journal.rows.get("conversations", [])) | set(later))


async def _move_back(
    ctx: Ctx, merge: ContactMerge, journal: Journal, kept: Contact, merged: Contact
) -> dict[str, int]:
    """Every row the merge moved (and those that follow a returning conversation) back to the
    merged-away contact; how many of each went back."""
    db = ctx.db
    counts: dict[str, int] = {}
    conversations = await _returning_conversations(ctx, merge, journal, kept, merged)
    counts["conversations"] = await _give_back(ctx, Conversation, conversations, kept.id, merged.id)
    for name, model in BY_ID.items():
        if name == "conversations":
            continue
        ids = list(journal.rows.get(name, []))
        if name in FOLLOW_CONVERSATION and conversations:
            for chunk in _chunks(conversations):
                ids += await db.scalars(
                    select(model.id).where(
                        model.contact_id == kept.id, model.conversation_id.in_(chunk)
                    )
                )
        counts[name] = await _give_back(ctx, model, ids, kept.id, merged.id)

    # Memos: back, in their old places.
    count = 0
    for ident, position in journal.memos.items():
        result = await db.execute(
            update(Memo)
            .where(Memo.id == ident, Memo.contact_id == kept.id)
            .values(contact_id=merged.id, position=position)
            .execution_options(synchronize_session=False)
        )
        count += int(getattr(result, "rowcount", 0) or 0)
    counts["memos"] = count

    # Tags: the rows that moved go back; a tag both had is theirs again while ours still has it.
    result = await db.execute(
        update(ContactTag)
        .where(ContactTag.contact_id == kept.id, ContactTag.tag_id.in_(journal.tags_moved))
        .values(contact_id=merged.id)
        .execution_options(synchronize_session=False)
    )
    counts["contact_tags"] = int(getattr(result, "rowcount", 0) or 0)
    still = set(
        await db.scalars(
            select(ContactTag.tag_id).where(
                ContactTag.contact_id == kept.id,
                ContactTag.tag_id.in_(list(journal.tags_shared)),
            )
        )
    )
    db.add_all(
        ContactTag(
            contact_id=merged.id, tag_id=tag_id, created_at=datetime.fromisoformat(created_at)
        )
        for tag_id, created_at in journal.tags_shared.items()
        if tag_id in still
    )

    # Profile values: moved rows go back; traded ones trade back (ours only if unchanged since).
    result = await db.execute(
        update(FieldValue)
        .where(FieldValue.contact_id == kept.id, FieldValue.field_id.in_(journal.fields_moved))
        .values(contact_id=merged.id)
        .execution_options(synchronize_session=False)
    )
    counts["field_values"] = int(getattr(result, "rowcount", 0) or 0)
    for field_id, values in journal.fields_traded.items():
        theirs = await db.get(FieldValue, (merged.id, field_id))
        ours = await db.get(FieldValue, (kept.id, field_id))
        if theirs is not None:
            _set_values(theirs, values["merged"])
            counts["field_values"] += 1
        if ours is not None and _values_of(ours) == values["merged"]:
            _set_values(ours, values["kept"])
    await db.flush()

    # Enrollments the merge stopped go on, if nothing else stopped them since.
    for ident, detail in journal.enrollments_stopped.items():
        await db.execute(
            update(SequenceEnrollment)
            .where(
                SequenceEnrollment.id == ident,
                SequenceEnrollment.contact_id == merged.id,
                SequenceEnrollment.state == EnrollmentState.stopped,
                SequenceEnrollment.detail == STOPPED_BY_MERGE,
            )
            .values(state=EnrollmentState.active, detail=detail)
            .execution_options(synchronize_session=False)
        )
    return counts


async def _activity_since(
    ctx: Ctx, contact: Contact, since: datetime, floor: datetime | None
) -> datetime | None:
    """A contact's activity after an undo: what it was (``floor``), or a later message in one
    of the conversations it holds now."""
    latest = await ctx.db.scalar(
        select(func.max(Conversation.last_activity_at)).where(
            Conversation.contact_id == contact.id, Conversation.last_activity_at > since
        )
    )
    candidates = [at for at in (floor, latest) if at is not None]
    return max(candidates) if candidates else None


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
