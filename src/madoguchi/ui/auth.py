"""Signing in and out of the staff UI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from madoguchi.kit.errors import DomainError, TooManyAttempts
from madoguchi.kit.i18n import translate_error
from madoguchi.kit.web import SESSION_COOKIE, CtxDep, authenticate, client_address, same_origin
from madoguchi.members import service as members
from madoguchi.members.api import set_session_cookie
from madoguchi.ui.present import safe_next
from madoguchi.ui.render import render

router = APIRouter()


@router.get("/login")
async def login_page(request: Request, ctx: CtxDep, next: str | None = None) -> Response:
    if await authenticate(request, ctx, unsafe=False) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request,
        "auth/login.html",
        language=ctx.settings.default_language,
        settings=ctx.settings,
        now=ctx.now(),
        next=safe_next(next),
        email="",
        error=None,
    )


@router.post("/login")
async def login(
    request: Request,
    ctx: CtxDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    if not same_origin(request):
        raise HTTPException(403, "Cross-site request refused.")
    language = ctx.settings.default_language
    try:
        member = await members.authenticate(
            ctx, email=email, password=password, address=client_address(request)
        )
    except DomainError as error:
        return render(
            request,
            "auth/login.html",
            language=language,
            settings=ctx.settings,
            now=ctx.now(),
            status_code=error.status_code,
            next=safe_next(next),
            email=email,
            error=translate_error(error, language),
            locked=isinstance(error, TooManyAttempts),
        )
    secret = await members.start_session(ctx, member=member)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(
        response, secret=secret, days=ctx.settings.session_days, secure=ctx.settings.secure_cookies
    )
    return response


@router.post("/logout")
async def logout(request: Request, ctx: CtxDep) -> Response:
    if not same_origin(request):
        raise HTTPException(403, "Cross-site request refused.")
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await members.end_session(ctx, secret=secret)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
