"""``/api/v1/auth``, ``/api/v1/me`` and ``/api/v1/members``."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from madoguchi.kit.web import CtxDep, client_address
from madoguchi.members import service
from madoguchi.members.dependencies import SESSION_COOKIE, MemberDep
from madoguchi.members.models import Member
from madoguchi.members.schemas import (
    LoginIn,
    MemberCreate,
    MemberList,
    MemberOut,
    MemberUpdate,
    MeUpdate,
    PasswordChange,
    PasswordReset,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
)

router = APIRouter(prefix="/api/v1", tags=["members"])


def set_session_cookie(response: Response, *, secret: str, days: int, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=days * 86400,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


@router.post("/auth/login", response_model=MemberOut)
async def login(body: LoginIn, request: Request, response: Response, ctx: CtxDep) -> Member:
    """Sign in; answers the member and sets the session cookie (401 wrong, 429 locked)."""
    member = await service.authenticate(
        ctx, email=body.email, password=body.password, address=client_address(request)
    )
    secret = await service.start_session(ctx, member=member)
    set_session_cookie(
        response,
        secret=secret,
        days=ctx.settings.session_days,
        secure=ctx.settings.secure_cookies,
    )
    return member


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, ctx: CtxDep) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await service.end_session(ctx, secret=secret)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/me", response_model=MemberOut)
async def me(member: MemberDep) -> Member:
    return member


@router.patch("/me", response_model=MemberOut)
async def update_me(body: MeUpdate, member: MemberDep, ctx: CtxDep) -> Member:
    """Personal settings: the send shortcut, the language and browser notifications."""
    return await service.update_settings(
        ctx,
        member=member,
        send_shortcut=body.send_shortcut,
        language=body.language,
        notify_assigned=body.notify_assigned,
        notify_mentions=body.notify_mentions,
    )


@router.get("/members", response_model=MemberList)
async def list_members(_member: MemberDep, ctx: CtxDep) -> MemberList:
    members = await service.list_members(ctx.db)
    return MemberList(items=[MemberOut.model_validate(m) for m in members])


@router.post("/members", response_model=MemberOut, status_code=201)
async def create_member(body: MemberCreate, member: MemberDep, ctx: CtxDep) -> Member:
    """Owners and admins add members; only an owner makes another owner."""
    return await service.create_member(
        ctx,
        email=body.email,
        name=body.name,
        role=body.role,
        password=body.password,
        actor=member,
    )


@router.patch("/members/{member_id}", response_model=MemberOut)
async def update_member(
    member_id: int, body: MemberUpdate, member: MemberDep, ctx: CtxDep
) -> Member:
    """Change a member's role or name, or deactivate (``"active": false``: their sessions and
    tokens answer 401 at once) or reactivate them. Owners and admins; only an owner changes an
    owner or makes one; the last active owner stays one (409)."""
    return await service.update_member(
        ctx, member_id=member_id, actor=member, role=body.role, active=body.active, name=body.name
    )


@router.post("/members/{member_id}/password-reset", response_model=PasswordReset)
async def reset_password(
    member_id: int, member: MemberDep, ctx: CtxDep, response: Response
) -> PasswordReset:
    """A one-time password, shown once: the member is signed out everywhere and must choose
    their own at their next sign-in."""
    password = await service.reset_password(ctx, member_id=member_id, actor=member)
    response.headers["Cache-Control"] = "no-store"
    return PasswordReset(password=password)


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordChange, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Change your own password (with the current one). Your other sessions end; this one
    stays."""
    await service.change_password(
        ctx,
        member=member,
        current=body.current,
        new=body.new,
        session=request.cookies.get(SESSION_COOKIE),
    )
    return Response(status_code=204)


def _token_out(row: service.TokenRow) -> TokenOut:
    token = row.token
    return TokenOut(
        id=token.id,
        name=token.name,
        member_id=row.member.id,
        member_name=row.member.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
    )


@router.get("/tokens", response_model=TokenList, tags=["tokens"])
async def list_tokens(
    member: MemberDep,
    ctx: CtxDep,
    member_id: int | None = Query(default=None, description="Another member's (managers)."),
    all: bool = Query(default=False, description="Everyone's (owners and admins)."),
) -> TokenList:
    """Your API tokens (never their secrets); owners and admins may ask for another member's
    or everyone's."""
    rows = await service.tokens_visible_to(ctx.db, actor=member, member_id=member_id, everyone=all)
    return TokenList(items=[_token_out(row) for row in rows])


@router.post("/tokens", response_model=TokenCreated, status_code=201, tags=["tokens"])
async def create_token(
    body: TokenCreate, member: MemberDep, ctx: CtxDep, response: Response
) -> TokenCreated:
    """A new API token for yourself, named for what it is for. The secret is in this answer
    only."""
    issued = await service.issue_token(ctx, member=member, name=body.name, actor=member)
    response.headers["Cache-Control"] = "no-store"
    token = issued.token
    return TokenCreated(
        id=token.id, name=token.name, token=issued.secret, created_at=token.created_at
    )


@router.delete("/tokens/{token_id}", status_code=204, tags=["tokens"])
async def revoke_token(token_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """Revoke a token: it answers 401 from now on. Your own; owners and admins anyone's (an
    admin not an owner's)."""
    await service.revoke_token(ctx, token_id=token_id, actor=member)
    return Response(status_code=204)
