"""Workspace settings: セグメント, named selections of customers with their live count.

The editor writes the filter language's conditions row by row: which part of the customer
(a tag, the status, a profile field, a record book's newest or oldest date…), how it compares,
and the value as typed (several values separated by 「、」 or commas). While it is edited, the
count and the first customers it holds come back as the form changes.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from madoguchi.broadcasts import segments
from madoguchi.crm import fields, records
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import translate_error
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.render import render_for
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import N_, FormText, SettingsPage, act, add_page, translated

router = APIRouter()

# Blank rows offered under the conditions a segment has.
BLANK_ROWS = 2
PREVIEW_NAMES = 10
# The ops whose value is a list, and those that take none.
LIST_OPS = ("in", "all", "not_in", "between_days_ago")
NO_VALUE_OPS = ("empty", "not_empty")
FLAGS = ("mail_opt_in", "hidden", "blocked")
OPS = (
    ("eq", N_("is")),
    ("ne", N_("differs from")),
    ("in", N_("is one of")),
    ("all", N_("has all of")),
    ("not_in", N_("has none of")),
    ("contains", N_("contains")),
    ("gte", N_("is at least")),
    ("lte", N_("is at most")),
    ("days_ago", N_("was this many days ago")),
    ("between_days_ago", N_("was between these days ago")),
    ("before", N_("is before the date")),
    ("after", N_("is after the date")),
    ("empty", N_("is empty / none")),
    ("not_empty", N_("is not empty")),
)


async def field_choices(ctx: Ctx) -> list[tuple[str, str, str]]:
    """Every part of a customer a segment can use: (filter field, the owner's own name of it,
    our words for it, translated where shown)."""
    choices = [
        ("tag", "", N_("Tags")),
        ("status", "", N_("Support status")),
        ("mark", "", N_("Response mark")),
        ("channel", "", N_("Channel (id)")),
        ("mail_opt_in", "", N_("Agreed to e-mails (true / false)")),
        ("email", "", N_("E-mail address")),
        ("phone", "", N_("Phone number")),
    ]
    for field in await fields.list_fields(ctx.db):
        choices.append((f"field.{field.key}", field.label, ""))
    for book in await records.list_books(ctx.db):
        for part, label in (
            ("newest_at", N_("newest record")),
            ("oldest_at", N_("first record")),
            ("any_at", N_("any record")),
        ):
            choices.append((f"record.{book.name}.{part}", book.name, label))
    return choices


def _value(field: str, op: str, typed: str) -> Any:
    """The value as the filter language wants it, from what was typed."""
    if op in NO_VALUE_OPS:
        return None
    if op in LIST_OPS:
        return [_scalar(part) for part in re.split(r"[、,，]", typed) if part.strip()]
    if field in FLAGS:
        return typed.strip().lower() in ("true", "はい", "yes", "1")
    return _scalar(typed)


def _scalar(typed: str) -> Any:
    typed = typed.strip()
    return int(typed) if typed.isdecimal() else typed


def shown(value: Any) -> str:
    """A stored value as the form shows it."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def conditions_of(field: list[str], op: list[str], value: list[str]) -> list[dict[str, Any]]:
    rows = zip(field, op, value + [""] * (len(field) - len(value)), strict=False)
    return [{"field": f, "op": o, "value": _value(f, o, v)} for f, o, v in rows if f.strip() and o]


Rows = Annotated[list[str], Form()]


async def _segments(ctx: Ctx) -> dict[str, Any]:
    now, zone = ctx.now(), ctx.settings.timezone
    return {
        "segments": [
            (s, await segments.size(ctx.db, s, timezone=zone, now=now))
            for s in await segments.list_segments(ctx.db)
        ],
        "field_choices": await field_choices(ctx),
        "op_choices": OPS,
        "blank_rows": BLANK_ROWS,
        "shown": shown,
    }


SEGMENTS = SettingsPage("segments", _segments)

add_page(router, SEGMENTS)


async def _save(
    request: Request,
    ctx: Ctx,
    member: Member,
    segment_id: int | None,
    name: str,
    conditions: list[dict[str, Any]],
) -> Response:
    """A new segment (``segment_id`` None) or a change to one, from its form."""

    async def change() -> object:
        if segment_id is None:
            return await segments.create_segment(ctx, name=name, conditions=conditions)
        return await segments.update_segment(
            ctx, segment_id=segment_id, name=name, conditions=conditions
        )

    notice = None
    if segment_id is None:
        notice = translated(member, N_("Added the segment %(name)s."), name=name.strip())
    return await act(
        request,
        ctx,
        member,
        SEGMENTS,
        change,
        at="new-segment" if segment_id is None else f"segment-{segment_id}",
        notice=notice,
        draft={"name": name, "conditions": conditions},
    )


@router.post("/settings/segments")
async def add_segment(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    field: Rows = [],  # noqa: B006 (FastAPI copies the default)
    op: Rows = [],  # noqa: B006
    value: Rows = [],  # noqa: B006
) -> Response:
    return await _save(request, ctx, member, None, name, conditions_of(field, op, value))


@router.post("/settings/segments/{segment_id}/update")
async def update_segment(
    segment_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    field: Rows = [],  # noqa: B006
    op: Rows = [],  # noqa: B006
    value: Rows = [],  # noqa: B006
) -> Response:
    return await _save(request, ctx, member, segment_id, name, conditions_of(field, op, value))


@router.post("/settings/segments/preview")
async def preview(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    field: Rows = [],  # noqa: B006
    op: Rows = [],  # noqa: B006
    value: Rows = [],  # noqa: B006
) -> Response:
    """The count and the first customers of the conditions being edited (or why not)."""
    return await _preview(request, ctx, member, conditions_of(field, op, value))


async def _preview(
    request: Request, ctx: Ctx, member: Member, conditions: list[dict[str, Any]]
) -> Response:
    now, zone = ctx.now(), ctx.settings.timezone
    found: dict[str, Any] = {"conditions": conditions, "count": None, "names": [], "problem": None}
    if conditions:
        try:
            found["count"] = await segments.count(ctx.db, conditions, timezone=zone, now=now)
            page = await segments.members_of(
                ctx.db, conditions, timezone=zone, now=now, limit=PREVIEW_NAMES
            )
            found["names"] = [c.display_name for c in page.contacts]
        except DomainError as error:
            found["problem"] = translate_error(error, member.language)
    return render_for(request, ctx, member, "settings/_segment_preview.html", **found)


NamedList(
    SEGMENTS,
    "/settings/segments",
    "segment",
    delete=lambda ctx, member, segment_id: segments.delete_segment(
        ctx, segment_id=segment_id, actor=member
    ),
    deleted=N_("Deleted the segment %(name)s."),
).register(router)
