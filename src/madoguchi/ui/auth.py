"""Signing in and out of the staff UI, and changing one's own password (which a member whose
password was reset must do before anything else)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from madoguchi.conversations import repository
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, TooManyAttempts
from madoguchi.kit.i18n import gettext_for, translate_error
from madoguchi.kit.web import CtxDep, client_address
from madoguchi.members import service as members
from madoguchi.members.api import set_session_cookie
from madoguchi.members.dependencies import SESSION_COOKIE, MemberDep, authenticate, same_origin
from madoguchi.members.models import Member
from madoguchi.ui.present import safe_next
from madoguchi.ui.render import render, render_for
from madoguchi.ui.settings_pages import is_manager
from madoguchi.ui.threads import after_error

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


# --- the member's own password --------------------------------------------------------------


async def _password_page(
    request: Request,
    ctx: Ctx,
    member: Member,
    *,
    saved: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render_for(
        request,
        ctx,
        member,
        "settings/password.html",
        status_code=status_code,
        page="password",
        manager=is_manager(member),
        saved=saved,
        error=error,
        min_password=members.MIN_PASSWORD_LENGTH,
        unread_total=await repository.unread_total(ctx.db, member_id=member.id),
    )


@router.get(members.PASSWORD_PAGE)
async def password_page(
    request: Request, member: MemberDep, ctx: CtxDep, saved: bool = False
) -> Response:
    """Change your own password; after a reset, the only page there is until you do."""
    return await _password_page(request, ctx, member, saved=saved)


@router.post(members.PASSWORD_PAGE)
async def change_password(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    current: Annotated[str, Form(max_length=1000)] = "",
    new: Annotated[str, Form(max_length=1000)] = "",
    again: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    was_reset = member.password_must_change
    if new != again:
        message = gettext_for(member.language).gettext(
            "The new password and its repetition differ: type them again."
        )
        return await _password_page(request, ctx, member, error=message, status_code=422)
    try:
        await members.change_password(
            ctx,
            member=member,
            current=current,
            new=new,
            session=request.cookies.get(SESSION_COOKIE),
        )
    except DomainError as error:
        await after_error(ctx, member)
        return await _password_page(
            request,
            ctx,
            member,
            error=translate_error(error, member.language),
            status_code=error.status_code,
        )
    # Post/redirect/get; after a reset, on to the inbox that was waiting.
    return RedirectResponse("/" if was_reset else f"{members.PASSWORD_PAGE}?saved=1", 303)
