"""Workspace settings: 操作履歴 (the audit log, F40), filtered by member, kind and days, a page at
a time (newer and older), each change shown as its fields before → after in the member's
language."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.audit import service as audit
from madoguchi.audit.models import AuditEntry
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import gettext_for, translate_error
from madoguchi.kit.web import CtxDep
from madoguchi.members import service as members
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.settings_pages import N_, Outcome, SettingsPage, show

router = APIRouter()
PAGE_SIZE = 30
# A value longer than this is cut on the page (the API gives it whole).
SHOWN_LENGTH = 160


@dataclass(frozen=True)
class Change:
    """One field of an entry: its label, and its value before and after, as words."""

    label: str
    before: str
    after: str


@dataclass(frozen=True)
class Row:
    """One entry as the page shows it."""

    entry: AuditEntry
    who: str
    kind: str
    subject_type: str
    subject_name: str
    changes: list[Change]


@dataclass(frozen=True)
class Filters:
    """What the form asked for, as typed (given back to the form and to the paging links)."""

    member: str = ""
    kind: str = ""
    start: str = ""
    end: str = ""

    def query(self, **more: str) -> str:
        pairs = {
            "member": self.member,
            "kind": self.kind,
            "from": self.start,
            "to": self.end,
            **more,
        }
        return urlencode({k: v for k, v in pairs.items() if v})

    @property
    def active(self) -> bool:
        return bool(self.member or self.kind or self.start or self.end)


def _words(language: str, field: str, value: Any) -> str:
    """A stored value in words: none, yes/no, a list joined, a known value translated."""
    text = gettext_for(language).gettext
    if value is None or value == "" or value == []:
        return text(N_("(none)"))
    if isinstance(value, bool):
        return text(N_("Yes")) if value else text(N_("No"))
    if isinstance(value, str):
        label = audit.VALUE_LABELS.get((field, value))
        if label is not None:
            return text(label)
        if field.endswith("_at") or field in ("at", "snooze_until", "starts_at"):
            return value.replace("T", " ")[:16]
        return value if len(value) <= SHOWN_LENGTH else value[:SHOWN_LENGTH] + "…"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        joined = "、".join(str(v) for v in value)
        return joined if len(joined) <= SHOWN_LENGTH else joined[:SHOWN_LENGTH] + "…"
    shown = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return shown if len(shown) <= SHOWN_LENGTH else shown[:SHOWN_LENGTH] + "…"


def _who(language: str, entry: AuditEntry) -> str:
    text = gettext_for(language).gettext
    if entry.actor_kind == "member":
        return entry.member_name or text(N_("A member no longer here"))
    if entry.actor_kind == "rule":
        return text(N_("The rule %(name)s")) % {"name": entry.member_name}
    if entry.actor_kind == "form":
        return text(N_("The form %(name)s")) % {"name": entry.member_name}
    if entry.actor_kind == "channel":
        return text(N_("The channel %(name)s")) % {"name": entry.member_name}
    system_name = audit.SYSTEM_NAMES.get(entry.member_name)
    if system_name is not None:
        return text(system_name)
    return text(N_("Madoguchi itself (no member)"))


def row_of(language: str, entry: AuditEntry) -> Row:
    text = gettext_for(language).gettext
    subject = audit.subject_of(entry)
    type_label = audit.SUBJECT_TYPES.get(subject["type"])
    kind_label = audit.KINDS.get(entry.action)
    before, after = entry.before or {}, entry.after or {}
    changes = []
    for key in dict.fromkeys([*before, *after]):
        label = audit.FIELD_LABELS.get(key)
        changes.append(
            Change(
                label=text(label) if label else key,
                before=_words(language, key, before.get(key)) if entry.before is not None else "",
                after=_words(language, key, after.get(key)) if entry.after is not None else "",
            )
        )
    return Row(
        entry=entry,
        who=_who(language, entry),
        kind=text(kind_label) if kind_label else entry.action,
        subject_type=text(type_label) if type_label else subject["type"],
        subject_name=(
            text(audit.SETTING_NAMES[subject["name"]])
            if subject["type"] == "setting" and subject["name"] in audit.SETTING_NAMES
            else subject["name"]
        ),
        changes=changes,
    )


def _kind_choices(language: str) -> list[tuple[str, str]]:
    text = gettext_for(language).gettext
    return sorted(((kind, text(label)) for kind, label in audit.KINDS.items()), key=lambda c: c[1])


async def _nothing(ctx: Ctx) -> dict[str, Any]:
    return {}


AUDIT = SettingsPage("audit", _nothing)


@router.get("/settings/audit")
async def audit_page(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    cursor: str = "",
    newer: str = "",
) -> Response:
    """The log, newest first; ``member``, ``kind``, ``from`` and ``to`` filter it (a form that
    works without script, and swaps the panel in place with htmx)."""
    params = request.query_params
    filters = Filters(
        member=params.get("member", "")[:20],
        kind=params.get("kind", "")[:50],
        start=params.get("from", "")[:20],
        end=params.get("to", "")[:20],
    )
    page = audit.AuditPage(entries=[], next_cursor=None)
    outcome = Outcome()
    status_code = 200
    try:
        query = await audit.parse_query(
            ctx.db,
            member=filters.member,
            kind=filters.kind,
            start=filters.start,
            end=filters.end,
            zone=ctx.settings.timezone,
        )
        page = await audit.list_page(
            ctx.db, query, cursor=cursor[:20], newer=newer[:20], limit=PAGE_SIZE
        )
    except DomainError as error:
        outcome = Outcome(error=translate_error(error, member.language), at="audit-filter")
        status_code = error.status_code
    everyone: list[Member] = await members.list_members(ctx.db)
    return await show(
        request,
        ctx,
        member,
        AUDIT,
        outcome=outcome,
        status_code=status_code,
        rows=[row_of(member.language, entry) for entry in page.entries],
        filters=filters,
        members=everyone,
        kinds=_kind_choices(member.language),
        older_url=(
            "/settings/audit?" + filters.query(cursor=page.next_cursor)
            if page.next_cursor
            else None
        ),
        newer_url=(
            "/settings/audit?" + filters.query(newer=page.previous_cursor)
            if page.previous_cursor
            else None
        ),
        first_page=not cursor and not newer,
    )
