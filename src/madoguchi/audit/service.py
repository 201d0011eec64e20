"""Writing and reading the audit log (F40).

Every service function that changes something calls ``record`` (or ``record_changes``) in the
same transaction as the change: an entry is kept exactly when the change is. Who made it comes
from the context (``ctx.actor``: the signed-in member, a rule while it runs, else the system).
Customers' own messages and answers are not entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit.models import AuditEntry
from madoguchi.kit.context import Actor, Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.i18n import N_
from madoguchi.members.models import Member

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# Every kind of entry, with what it says (translated on the page), grouped by what it is made to.
KINDS: dict[str, str] = {
    "member.created": N_("Added a member"),
    "member.renamed": N_("Renamed a member"),
    "member.role_changed": N_("Changed a member's role"),
    "member.deactivated": N_("Deactivated a member"),
    "member.reactivated": N_("Reactivated a member"),
    "member.password_reset": N_("Reset a member's password"),
    "member.password_changed": N_("Changed their own password"),
    "member.settings_changed": N_("Changed their own settings"),
    "token.created": N_("Made an API token"),
    "token.revoked": N_("Revoked an API token"),
    "channel.created": N_("Added a channel"),
    "channel.updated": N_("Changed a channel"),
    "channel.removed": N_("Deleted a channel"),
    "settings.changed": N_("Changed a workspace setting"),
    "status.created": N_("Added a support status"),
    "status.updated": N_("Changed a support status"),
    "status.deleted": N_("Deleted a support status"),
    "status.reordered": N_("Reordered the support statuses"),
    "mark.updated": N_("Changed a response mark"),
    "message.marked": N_("Marked a message"),
    "tag_folder.created": N_("Added a tag folder"),
    "tag_folder.renamed": N_("Renamed a tag folder"),
    "tag_folder.deleted": N_("Deleted a tag folder"),
    "tag.created": N_("Added a tag"),
    "tag.updated": N_("Changed a tag"),
    "tag.deleted": N_("Deleted a tag"),
    "field_folder.created": N_("Added a field folder"),
    "field_folder.deleted": N_("Deleted a field folder"),
    "field.created": N_("Added a customer field"),
    "field.updated": N_("Changed a customer field"),
    "field.deleted": N_("Deleted a customer field"),
    "field.reordered": N_("Reordered the customer fields"),
    "book.created": N_("Added a record book"),
    "book.updated": N_("Changed a record book"),
    "book.deleted": N_("Deleted a record book"),
    "contact.created": N_("Added a customer"),
    "contact.updated": N_("Changed a customer"),
    "contact.tags_changed": N_("Changed a customer's tags"),
    "contact.field_changed": N_("Changed a customer's field"),
    "contact.deleted": N_("Deleted a customer"),
    # Written by the merge (issue 12, F43): the kept contact is the subject.
    "contact.merged": N_("Merged two customers"),
    "contact.unmerged": N_("Undid a merge of two customers"),
    "contacts.imported": N_("Imported customers"),
    "memo.created": N_("Added a customer memo"),
    "memo.updated": N_("Changed a customer memo"),
    "memo.deleted": N_("Deleted a customer memo"),
    "record.created": N_("Added a record"),
    "record.updated": N_("Changed a record"),
    "record.deleted": N_("Deleted a record"),
    "conversation.assigned": N_("Changed the assignee"),
    "conversation.state_changed": N_("Changed a conversation's state"),
    "conversation.memo_changed": N_("Changed a conversation memo"),
    "conversation.tags_changed": N_("Changed a conversation's tags"),
    "conversation.deleted": N_("Deleted a conversation permanently"),
    "conversation_tag.created": N_("Added a conversation tag"),
    "conversation_tag.deleted": N_("Deleted a conversation tag"),
    "template.created": N_("Added a template"),
    "template.updated": N_("Changed a template"),
    "template.deleted": N_("Deleted a template"),
    "action.created": N_("Added an action"),
    "action.updated": N_("Changed an action"),
    "action.deleted": N_("Deleted an action"),
    "message_filter.created": N_("Added a message filter"),
    "message_filter.updated": N_("Changed a message filter"),
    "message_filter.deleted": N_("Deleted a message filter"),
    "rule.created": N_("Added a rule"),
    "rule.updated": N_("Changed a rule"),
    "rule.deleted": N_("Deleted a rule"),
    "segment.created": N_("Added a segment"),
    "segment.updated": N_("Changed a segment"),
    "segment.deleted": N_("Deleted a segment"),
    "broadcast.created": N_("Made a broadcast"),
    "broadcast.paused": N_("Paused a broadcast"),
    "broadcast.resumed": N_("Resumed a broadcast"),
    "broadcast.cancelled": N_("Cancelled a broadcast"),
    "sequence.created": N_("Added a step sequence"),
    "sequence.updated": N_("Changed a step sequence"),
    "sequence.deleted": N_("Deleted a step sequence"),
    "form.created": N_("Added a form"),
    "form.updated": N_("Changed a form"),
    "form.deleted": N_("Deleted a form"),
}

# What an entry's subject is, by the type in "<type> <id>".
SUBJECT_TYPES: dict[str, str] = {
    "member": N_("Member"),
    "token": N_("API token"),
    "channel": N_("Channel"),
    "setting": N_("Setting"),
    "status": N_("Support status"),
    "mark": N_("Response mark"),
    "message": N_("Message"),
    "tag_folder": N_("Tag folder"),
    "tag": N_("Tag"),
    "field_folder": N_("Field folder"),
    "field": N_("Customer field"),
    "book": N_("Record book"),
    "contact": N_("A customer"),
    "contacts": N_("Customers"),
    "memo": N_("Customer memo"),
    "record": N_("Record"),
    "conversation": N_("Conversation"),
    "conversation_tag": N_("Conversation tag"),
    "template": N_("Template"),
    "action": N_("Action"),
    "message filter": N_("Message filter"),
    "message_filter": N_("Message filter"),
    "rule": N_("Rule"),
    "segment": N_("Segment"),
    "broadcast": N_("Broadcast"),
    "sequence": N_("Step sequence"),
    "form": N_("Form"),
}

# What a field in before/after is called on the page.
FIELD_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "display_name": N_("Display name"),
    "reading": N_("Reading (furigana)"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "status": N_("Support status"),
    "mark": N_("Response mark"),
    "mail_opt_in": N_("Receives mail"),
    "hidden": N_("Hidden"),
    "blocked": N_("Blocked"),
    "color": N_("Colour"),
    "role": N_("Role"),
    "active": N_("Active"),
    "order": N_("Order"),
    "folder": N_("Folder"),
    "parent": N_("Parent folder"),
    "tags": N_("Tags"),
    "label": N_("Label"),
    "type": N_("Type"),
    "options": N_("Choices"),
    "show_in_chat": N_("Shown beside the chat"),
    "value": N_("Value"),
    "title": N_("Title"),
    "body": N_("Text"),
    "text": N_("Text"),
    "fields": N_("Fields"),
    "values": N_("Values"),
    "at": N_("Date and time"),
    "assignee": N_("Assignee"),
    "state": N_("State"),
    "memo": N_("Memo"),
    "enabled": N_("On"),
    "settings": N_("Settings"),
    "kind": N_("Kind"),
    "match": N_("Match"),
    "when": N_("When"),
    "conditions": N_("Conditions"),
    "actions": N_("Steps"),
    "steps": N_("Steps"),
    "images": N_("Images"),
    "closed": N_("Closed to answers"),
    "unread": N_("Unread is kept"),
    "after_hours": N_("Close after (hours)"),
    "message": N_("Closing message"),
    "language": N_("Language"),
    "send_shortcut": N_("Send shortcut"),
    "notify_assigned": N_("Notify when assigned"),
    "notify_mentions": N_("Notify when mentioned"),
    "created": N_("Customers added"),
    "updated": N_("Customers updated"),
    "skipped": N_("Rows skipped"),
    "rows": N_("Rows in the file"),
    "recipients": N_("Recipients"),
    "trigger": N_("Starts when"),
    "stop_on_reply": N_("Stops on a reply"),
    "starts_at": N_("Sends at"),
    "book": N_("Record book"),
    "key": N_("Key"),
    "via": N_("Sent by"),
    "cron": N_("Repeats"),
    "template_id": N_("Template"),
    "snooze_until": N_("Snoozed until"),
    "status_name": N_("Status"),
}

# Stored values shown in words: (field, value) → label.
VALUE_LABELS: dict[tuple[str, str], str] = {
    ("state", "open"): N_("Open"),
    ("state", "closed"): N_("Closed"),
    ("state", "snoozed"): N_("Snoozed"),
    ("role", "owner"): N_("Owner"),
    ("role", "admin"): N_("Admin"),
    ("role", "agent"): N_("Agent"),
    ("unread", "team"): N_("One for the whole team"),
    ("unread", "member"): N_("Each member's own"),
    ("via", "chat"): N_("Chat"),
    ("via", "email"): N_("E-mail"),
    ("status", "scheduled"): N_("Scheduled"),
    ("status", "sending"): N_("Sending"),
    ("status", "done"): N_("Sent"),
    ("status", "paused"): N_("Paused"),
    ("status", "cancelled"): N_("Cancelled"),
}

# A workspace setting's name (the subject "setting", named by its key).
SETTING_NAMES: dict[str, str] = {
    "unread": N_("Unread handling"),
    "auto_close": N_("Auto-close"),
}

# Who made an entry, by kind, as the page names them.
ACTOR_KINDS: dict[str, str] = {
    "member": N_("Member"),
    "rule": N_("Rule"),
    "form": N_("Form"),
    "channel": N_("Channel"),
    "system": N_("Madoguchi itself"),
}
# The system's own names for itself (ctx.acting(Actor("system", name))).
SYSTEM_NAMES: dict[str, str] = {
    "auto_close": N_("Auto-close"),
    "scheduler": N_("Scheduled work"),
    "cli": N_("Command line"),
}


def _plain(value: Any) -> Any:
    """A value as JSON keeps it: dates as ISO text, enums as their value, tuples as lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return value


def changed(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields whose value differs, on both sides."""
    plain_before, plain_after = _plain(before), _plain(after)
    keys = [k for k in plain_after if plain_before.get(k) != plain_after.get(k)]
    keys += [k for k in plain_before if k not in plain_after and plain_before[k] is not None]
    return (
        {k: plain_before.get(k) for k in keys},
        {k: plain_after.get(k) for k in keys},
    )


def record(
    ctx: Ctx,
    *,
    action: str,
    subject: str,
    name: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    detail: Mapping[str, Any] | None = None,
    actor: Member | Actor | None = None,
) -> AuditEntry:
    """Add an entry to the caller's transaction: it is kept exactly when the change is.

    ``action`` is one of KINDS; ``subject`` is "<type> <id>"; ``name`` the subject's name now;
    ``before``/``after`` the changed fields only (None for a thing created or deleted). Made by
    ``actor`` when given, else by whoever ``ctx`` acts as.
    """
    if action not in KINDS:
        raise ValueError(f"unknown audit kind {action!r}")
    if isinstance(actor, Member):
        who = Actor(kind="member", name=actor.name, member_id=actor.id)
    else:
        who = actor or ctx.actor
    entry = AuditEntry(
        actor_kind=who.kind,
        member_id=who.member_id,
        member_name=who.name[:100],
        action=action,
        subject=subject[:100],
        subject_name=name[:200],
        before=None if before is None else _plain(before),
        after=None if after is None else _plain(after),
        detail=_plain(detail or {}),
        at=ctx.now(),
    )
    ctx.db.add(entry)
    return entry


def record_changes(
    ctx: Ctx,
    *,
    action: str,
    subject: str,
    name: str = "",
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    detail: Mapping[str, Any] | None = None,
    actor: Member | Actor | None = None,
) -> AuditEntry | None:
    """An entry of the fields that differ between ``before`` and ``after`` (none: no entry)."""
    old, new = changed(before, after)
    if not new:
        return None
    return record(
        ctx,
        action=action,
        subject=subject,
        name=name,
        before=old,
        after=new,
        detail=detail,
        actor=actor,
    )


# --- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditQuery:
    """A filter on the log, checked: a member's id, a kind, and a period of days (inclusive)."""

    member_id: int | None = None
    kind: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    # Older entries: list_page(cursor=next_cursor); newer ones: list_page(newer=previous_cursor).
    next_cursor: str | None
    previous_cursor: str | None = None


def _day(value: str, label: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(
            "%(name)s must be a date as YYYY-MM-DD, not %(value)s.", name=label, value=value
        ) from None


async def parse_query(
    db: AsyncSession,
    *,
    member: str | None,
    kind: str | None,
    start: str | None,
    end: str | None,
    zone: str,
) -> AuditQuery:
    """The filter as asked (query text), or Invalid saying what is wrong with it."""
    member_id = None
    if member not in (None, ""):
        assert member is not None
        try:
            member_id = int(member)
        except ValueError:
            raise Invalid("member must be a member's id, not %(value)s.", value=member) from None
        if member_id < 1 or member_id > 2**31 - 1 or await db.get(Member, member_id) is None:
            raise Invalid("No member with id %(id)s.", id=member)
    if kind in ("",):
        kind = None
    if kind is not None and kind not in KINDS:
        raise Invalid("Unknown kind of change: %(kind)s.", kind=kind)
    tz = ZoneInfo(zone)
    first = _day(start, "from") if start else None
    last = _day(end, "to") if end else None
    if first and last and first > last:
        raise Invalid("from must not be after to.")
    return AuditQuery(
        member_id=member_id,
        kind=kind,
        start=datetime.combine(first, time(), tz) if first else None,
        end=datetime.combine(last + timedelta(days=1), time(), tz) if last else None,
    )


def _cursor(value: str | None) -> int | None:
    if value in (None, ""):
        return None
    assert value is not None
    if not value.isdigit() or len(value) > 12:
        raise Invalid("The cursor is not one this list gave.")
    return int(value)


async def list_page(
    db: AsyncSession,
    query: AuditQuery,
    *,
    cursor: str | None = None,
    newer: str | None = None,
    limit: int = PAGE_SIZE,
) -> AuditPage:
    """Newest first, ``limit`` at a time; ``next_cursor`` asks for the older ones (``cursor``),
    ``previous_cursor`` for the newer ones (``newer``: the page just before, going back)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise Invalid("limit must be 1 to %(n)d.", n=MAX_PAGE_SIZE)
    below = _cursor(cursor)
    above = _cursor(newer)
    statement = _filtered(query)
    if above is not None and below is None:
        # Going back: the ``limit`` entries just newer than ``above``, shown newest first.
        rows = list(
            await db.scalars(
                statement.where(AuditEntry.id > above)
                .order_by(AuditEntry.id.asc())
                .limit(limit + 1)
            )
        )
        more = len(rows) > limit
        rows = list(reversed(rows[:limit]))
        return AuditPage(
            entries=rows,
            next_cursor=str(rows[-1].id) if rows else None,
            previous_cursor=str(rows[0].id) if more and rows else None,
        )
    if below is not None:
        statement = statement.where(AuditEntry.id < below)
    rows = list(await db.scalars(statement.order_by(AuditEntry.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(
        entries=rows,
        next_cursor=str(rows[-1].id) if more and rows else None,
        previous_cursor=str(rows[0].id) if below is not None and rows else None,
    )


def _filtered(query: AuditQuery) -> Select[AuditEntry]:
    statement = select(AuditEntry)
    if query.member_id is not None:
        statement = statement.where(AuditEntry.member_id == query.member_id)
    if query.kind is not None:
        statement = statement.where(AuditEntry.action == query.kind)
    if query.start is not None:
        statement = statement.where(AuditEntry.at >= query.start)
    if query.end is not None:
        statement = statement.where(AuditEntry.at < query.end)
    return statement


async def list_entries(db: AsyncSession, *, limit: int = 100) -> list[AuditEntry]:
    return list(await db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))


def subject_of(entry: AuditEntry) -> dict[str, Any]:
    """ "contact 12" → {"type": "contact", "id": 12, "name": …} (older entries: same shape)."""
    kind, _, rest = entry.subject.rpartition(" ")
    if not kind or not rest.isdigit():
        kind, rest = entry.subject, ""
    return {
        "type": kind,
        "id": int(rest) if rest else None,
        "name": entry.subject_name or str(entry.detail.get("name") or ""),
    }


def actor_of(entry: AuditEntry) -> dict[str, Any]:
    return {"kind": entry.actor_kind, "id": entry.member_id, "name": entry.member_name}


def as_json(entry: AuditEntry) -> dict[str, Any]:
    """One entry as the API gives it."""
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor": actor_of(entry),
        "kind": entry.action,
        "subject": subject_of(entry),
        "before": entry.before,
        "after": entry.after,
        "detail": entry.detail,
    }
