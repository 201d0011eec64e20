"""Workspace settings: アンケート (F37), the forms customers answer on their phone.

The builder writes a form's questions row by row: the key, the question as the customer reads
it, its type, the choices (separated by 「、」), whether it must be answered, and where the
answer goes (a profile field, a tag, or the customer's name, e-mail or phone). Each form links
to its public page and to its answers, listed newest first and downloadable as CSV.
"""

from __future__ import annotations

import io
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from madoguchi.conversations import repository
from madoguchi.crm import fields, tags
from madoguchi.forms import links as form_links
from madoguchi.forms import service as forms
from madoguchi.kit import spreadsheet
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep, csv_download
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.render import render_for
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import (
    N_,
    FormText,
    SettingsPage,
    act,
    add_page,
    is_manager,
    refused,
    translated,
)

router = APIRouter()

# Blank rows offered under the questions a form has.
BLANK_ROWS = 3
ANSWERS_PAGE = 50
QUESTION_TYPES = (
    ("text", N_("Text")),
    ("choice", N_("Choice")),
    ("date", N_("Date")),
    ("number", N_("Number")),
    ("consent", N_("Consent (tick box)")),
)

Rows = Annotated[list[str], Form()]


async def _targets(ctx: Ctx) -> list[tuple[str, str, str]]:
    """Where an answer can go: (maps_to, the owner's own name of it, our words for it)."""
    targets = [
        ("name", "", N_("Name (of a new customer)")),
        ("email", "", N_("E-mail address")),
        ("phone", "", N_("Phone number")),
    ]
    for field in await fields.list_fields(ctx.db):
        targets.append((f"field:{field.key}", field.label, N_("profile field")))
    for tag in await tags.list_tags(ctx.db):
        targets.append((f"tag:{tag.id}", tag.name, N_("add the tag")))
    return targets


def shown_choices(choices: list[str]) -> str:
    return "、".join(choices)


def questions_of(
    key: list[str],
    label: list[str],
    type_: list[str],
    choices: list[str],
    required: list[str],
    maps_to: list[str],
) -> list[dict[str, Any]]:
    """The rows the builder sent, blank ones left out and a blank key made (the service checks
    the rest)."""
    width = max(len(key), len(label), len(type_), len(choices), len(required), len(maps_to))

    def padded(column: list[str]) -> list[str]:
        return column + [""] * (width - len(column))

    rows = zip(
        padded(key),
        padded(label),
        padded(type_),
        padded(choices),
        padded(required),
        padded(maps_to),
        strict=True,
    )
    given = [row for row in rows if row[0].strip() or row[1].strip()]
    taken = {row[0].strip() for row in given}
    questions = []
    for n, (k, lab, t, ch, r, m) in enumerate(given, start=1):
        made = k.strip()
        if not made:
            # An owner need not invent keys: q1, q2… unless one is taken.
            made = next(f"q{i}" for i in range(n, n + len(given) + 1) if f"q{i}" not in taken)
            taken.add(made)
        questions.append(
            {
                "key": made,
                "label": lab,
                "type": t,
                "choices": [c.strip() for c in re.split(r"[、,，\n]", ch) if c.strip()],
                "required": r == "yes",
                "maps_to": m or None,
            }
        )
    return questions


async def _forms(ctx: Ctx) -> dict[str, Any]:
    return {
        "forms": await forms.list_forms(ctx.db),
        "answer_counts": await forms.answer_counts(ctx.db),
        "public_url": lambda form: forms.public_url(ctx.settings.base_url, form),
        "form_placeholder": form_links.placeholder,
        "question_types": QUESTION_TYPES,
        "targets": await _targets(ctx),
        "blank_rows": BLANK_ROWS,
        "shown_choices": shown_choices,
    }


FORMS = SettingsPage("forms", _forms)

add_page(router, FORMS)


async def _question_rows(
    key: Rows = [],  # noqa: B006 (FastAPI copies the default)
    label: Rows = [],  # noqa: B006
    type: Rows = [],  # noqa: B006
    choices: Rows = [],  # noqa: B006
    required: Rows = [],  # noqa: B006
    maps_to: Rows = [],  # noqa: B006
) -> list[dict[str, Any]]:
    return questions_of(key, label, type, choices, required, maps_to)


Questions = Annotated[list[dict[str, Any]], Depends(_question_rows)]


async def _save(
    request: Request,
    ctx: Ctx,
    member: Member,
    form_id: int | None,
    name: str,
    questions: list[dict[str, Any]],
    closed: bool = False,
) -> Response:
    """A new form (``form_id`` None) or a change to one, from the builder."""

    async def change() -> object:
        if form_id is None:
            return await forms.create_form(ctx, name=name, fields=questions)
        return await forms.update_form(
            ctx, form_id=form_id, name=name, fields=questions, closed=closed
        )

    notice = None
    if form_id is None:
        notice = translated(member, N_("Added the form %(name)s."), name=name.strip())
    return await act(
        request,
        ctx,
        member,
        FORMS,
        change,
        at="new-form" if form_id is None else f"form-{form_id}",
        notice=notice,
        draft={"name": name, "questions": questions},
    )


@router.post("/settings/forms")
async def add_form(
    request: Request, member: MemberDep, ctx: CtxDep, questions: Questions, name: FormText = ""
) -> Response:
    return await _save(request, ctx, member, None, name, questions)


@router.post("/settings/forms/{form_id}/update")
async def update_form(
    form_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    questions: Questions,
    name: FormText = "",
    closed: FormText = "",
) -> Response:
    return await _save(request, ctx, member, form_id, name, questions, closed=closed == "1")


NamedList(
    FORMS,
    "/settings/forms",
    "form",
    delete=lambda ctx, member, form_id: forms.delete_form(ctx, form_id=form_id, actor=member),
    deleted=N_("Deleted the form %(name)s."),
).register(router)


@router.get("/settings/forms/{form_id}/answers")
async def answers_page(
    form_id: int, request: Request, member: MemberDep, ctx: CtxDep, before: int | None = None
) -> Response:
    """A form's answers, newest first, with who sent each and a CSV of all of them; the first
    page follows new answers live (``form.answered``: live.js fetches the list below)."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    return render_for(
        request,
        ctx,
        member,
        "settings/form_answers.html",
        **await _answers(ctx, form_id, before),
        page="forms",
        manager=True,
        unread_total=await repository.unread_total(ctx.db, member_id=member.id),
    )


@router.get("/settings/forms/{form_id}/answers/list")
async def answers_list(form_id: int, request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """The first page of the answers alone, fresh: what live.js places after ``form.answered``."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    return render_for(
        request, ctx, member, "settings/_form_answers_list.html", **await _answers(ctx, form_id)
    )


async def _answers(ctx: Ctx, form_id: int, before: int | None = None) -> dict[str, Any]:
    form = await forms.get_form(ctx.db, form_id=form_id)
    page = await forms.list_answers(ctx.db, form_id=form.id, limit=ANSWERS_PAGE, before_id=before)
    return {
        "form": form,
        "questions": forms.questions(form),
        "answers": page.answers,
        "next_cursor": page.next_cursor,
        "shown_answer": forms.shown_answer,
        "public_url": forms.public_url(ctx.settings.base_url, form),
        "live": before is None,
    }


@router.get("/settings/forms/{form_id}/answers.csv")
async def answers_csv(
    form_id: int, request: Request, member: MemberDep, ctx: CtxDep, encoding: str = "utf-8"
) -> Response:
    if not is_manager(member):
        return await refused(request, ctx, member)
    out = io.StringIO()
    await forms.write_csv(
        ctx.db, out, form_id=form_id, language=member.language, timezone=ctx.settings.timezone
    )
    shift_jis = encoding == "cp932"
    encoded = spreadsheet.encode_csv(out.getvalue(), "cp932" if shift_jis else "utf-8")
    suffix = "-sjis" if shift_jis else ""
    return csv_download(encoded, encoding=encoding, filename=f"form-{form_id}-answers{suffix}.csv")
