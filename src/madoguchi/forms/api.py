"""``/api/v1/forms``: アンケート, their answers, and a contact's own link to one."""

from __future__ import annotations

import io
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response

from madoguchi.forms import service as forms
from madoguchi.forms.schemas import (
    AnswerOut,
    AnswerPageOut,
    FormIn,
    FormLinkOut,
    FormOut,
    FormUpdate,
)
from madoguchi.kit import spreadsheet
from madoguchi.kit.ids import MAX_ID
from madoguchi.kit.schemas import Items
from madoguchi.kit.web import CtxDep, csv_download
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager

router = APIRouter(prefix="/api/v1/forms", tags=["forms"])

MAX_PAGE = 500
CSV = "text/csv"


@router.get("", response_model=Items[FormOut])
async def list_forms(_member: MemberDep, ctx: CtxDep) -> Items[FormOut]:
    base = ctx.settings.base_url
    return Items(items=[FormOut.of(f, base) for f in await forms.list_forms(ctx.db)])


@router.post("", response_model=FormOut, status_code=201)
async def create_form(body: FormIn, member: MemberDep, ctx: CtxDep) -> FormOut:
    """A form and its questions (owners and admins). ``maps_to`` naming a profile field or a
    tag that does not exist, a choice question without choices, or a consent filling anything
    but a tag is 422; the same name twice 409. ``url`` is its public page."""
    ensure_manager(member)
    form = await forms.create_form(
        ctx, name=body.name, fields=[q.model_dump() for q in body.fields]
    )
    return FormOut.of(form, ctx.settings.base_url)


@router.get("/{form_id}", response_model=FormOut)
async def get_form(form_id: int, _member: MemberDep, ctx: CtxDep) -> FormOut:
    return FormOut.of(await forms.get_form(ctx.db, form_id=form_id), ctx.settings.base_url)


@router.patch("/{form_id}", response_model=FormOut)
async def update_form(form_id: int, body: FormUpdate, member: MemberDep, ctx: CtxDep) -> FormOut:
    """Rename it, change its questions, or close (``closed``: its page answers 404) and open it
    again. Answers already given stay as they were sent."""
    ensure_manager(member)
    form = await forms.update_form(
        ctx,
        form_id=form_id,
        name=body.name,
        fields=None if body.fields is None else [q.model_dump() for q in body.fields],
        closed=body.closed,
    )
    return FormOut.of(form, ctx.settings.base_url)


@router.delete("/{form_id}", status_code=204)
async def delete_form(form_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Delete it with its answers; what they filled in on contacts stays."""
    ensure_manager(member)
    await forms.delete_form(ctx, form_id=form_id, actor=member)
    return Response(status_code=204)


@router.get(
    "/{form_id}/answers",
    response_model=AnswerPageOut,
    responses={200: {"content": {CSV: {}}, "description": "JSON, or CSV with Accept: text/csv."}},
)
async def list_answers(
    form_id: int,
    member: MemberDep,
    ctx: CtxDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    accept: Annotated[str | None, Header()] = None,
    encoding: Literal["utf-8", "cp932"] = "utf-8",
) -> Response | AnswerPageOut:
    """The answers, newest first (page on with ``cursor``); with ``Accept: text/csv`` every
    answer as CSV (UTF-8 with a BOM, for Excel, or ``encoding=cp932``), one column per question."""
    if accept is not None and CSV in accept.lower():
        out = io.StringIO()
        await forms.write_csv(
            ctx.db,
            out,
            form_id=form_id,
            language=member.language,
            timezone=ctx.settings.timezone,
        )
        encoded = spreadsheet.encode_csv(out.getvalue(), encoding)
        return csv_download(encoded, encoding=encoding, filename=f"form-{form_id}-answers.csv")
    page = await forms.list_answers(ctx.db, form_id=form_id, limit=limit, before_id=cursor)
    return AnswerPageOut(
        items=[AnswerOut.of(answer, contact) for answer, contact in page.answers],
        next_cursor=page.next_cursor,
    )


@router.get("/{form_id}/link", response_model=FormLinkOut)
async def contact_link(
    form_id: int,
    _member: MemberDep,
    ctx: CtxDep,
    contact_id: Annotated[int, Query(ge=1, le=MAX_ID)],
) -> FormLinkOut:
    """The form's address for one contact, to send on LINE or Instagram: an answer through it
    fills that contact."""
    return FormLinkOut(url=await forms.contact_link(ctx, form_id=form_id, contact_id=contact_id))
