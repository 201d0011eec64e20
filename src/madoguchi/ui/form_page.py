"""The public page of a form (アンケート, F37): a customer answers it on their phone, without
signing in, in the workspace's language, under the staff pages' Content-Security-Policy.

``GET /f/{id}`` shows it and ``POST /f/{id}`` (form-encoded) answers it. The address may say
who answers: ``?c=`` a customer link's token, ``?v=`` a web chat visitor's token, ``?k=`` the
per-contact link a member sent on LINE or Instagram (forms.service). A refused answer shows the
form again with each reason beside its question and what was typed kept; a closed or deleted
form, or a link that names nobody any more, is a 404 page. Too many anonymous answers from one
address (forms.service's throttle) is a 429 with the form and what was typed kept.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, NotFound, TooManyAttempts
from madoguchi.kit.i18n import translate_error
from madoguchi.kit.web import CtxDep, client_address
from madoguchi.ui.render import render

router = APIRouter()

# The address may carry a token: it is not sent on to anyone.
HEADERS = {"Referrer-Policy": "no-referrer"}


def _identity(request: Request) -> forms.Identity:
    query = request.query_params
    return forms.Identity(
        customer_link=query.get("c", ""), visitor=query.get("v", ""), signed=query.get("k", "")
    )


def _action(form_id: int, identity: forms.Identity) -> str:
    carried = {
        name: value
        for name, value in (
            ("c", identity.customer_link),
            ("v", identity.visitor),
            ("k", identity.signed),
        )
        if value
    }
    return f"{forms.PUBLIC_PATH}{form_id}" + (f"?{urlencode(carried)}" if carried else "")


def _page(
    request: Request, ctx: Ctx, name: str, *, status_code: int = 200, **context: Any
) -> Response:
    return render(
        request,
        name,
        language=ctx.settings.default_language,
        settings=ctx.settings,
        now=ctx.now(),
        status_code=status_code,
        headers=HEADERS,
        **context,
    )


def _missing(request: Request, ctx: Ctx, error: DomainError) -> Response:
    reason = translate_error(error, ctx.settings.default_language)
    return _page(request, ctx, "forms/missing.html", status_code=404, reason=reason)


def _show(
    request: Request,
    ctx: Ctx,
    form: forms.Form,
    identity: forms.Identity,
    *,
    typed: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> Response:
    return _page(
        request,
        ctx,
        "forms/public.html",
        status_code=status_code,
        form=form,
        questions=forms.questions(form),
        action=_action(form.id, identity),
        typed=typed or {},
        problems=problems or {},
        notice=notice,
    )


@router.get("/f/{form_id}")
async def form_page(form_id: int, request: Request, ctx: CtxDep) -> Response:
    identity = _identity(request)
    try:
        form = await forms.open_form(ctx.db, form_id=form_id)
        await forms.identify(ctx.db, form, identity)
    except NotFound as error:
        return _missing(request, ctx, error)
    return _show(request, ctx, form, identity)


@router.post("/f/{form_id}")
async def answer_form(form_id: int, request: Request, ctx: CtxDep) -> Response:
    identity = _identity(request)
    posted = await request.form()
    given: dict[str, str] = {}
    for name, value in posted.multi_items():
        # A file is no answer; of a name sent twice, the first counts.
        if isinstance(value, str):
            given.setdefault(name, value)
    try:
        await forms.answer_form(
            ctx,
            form_id=form_id,
            given=given,
            identity=identity,
            address=client_address(request),
        )
    except NotFound as error:
        await ctx.db.rollback()
        return _missing(request, ctx, error)
    except TooManyAttempts as error:
        await ctx.db.rollback()
        form = await forms.open_form(ctx.db, form_id=form_id)
        notice = translate_error(error, ctx.settings.default_language)
        return _show(
            request, ctx, form, identity, typed=given, notice=notice, status_code=error.status_code
        )
    except forms.AnswerRefused as refused:
        await ctx.db.rollback()
        language = ctx.settings.default_language
        form = await forms.open_form(ctx.db, form_id=form_id)
        problems = {
            key: translate_error(error, language) for key, error in refused.problems.items()
        }
        return _show(
            request,
            ctx,
            form,
            identity,
            typed=given,
            problems=problems,
            status_code=refused.status_code,
        )
    return RedirectResponse(f"{forms.PUBLIC_PATH}{form_id}/thanks", status_code=303)


@router.get("/f/{form_id}/thanks")
async def thanks(form_id: int, request: Request, ctx: CtxDep) -> Response:
    try:
        form = await forms.get_form(ctx.db, form_id=form_id)
    except NotFound as error:
        return _missing(request, ctx, error)
    return _page(request, ctx, "forms/thanks.html", form=form)
