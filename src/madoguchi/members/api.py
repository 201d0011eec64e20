"""``/api/v1/auth``, ``/api/v1/me`` and ``/api/v1/members``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from madoguchi.kit.web import SESSION_COOKIE, CtxDep, MemberDep, client_address
from madoguchi.members import service
from madoguchi.members.models import Member
from madoguchi.members.schemas import LoginIn, MemberCreate, MemberList, MemberOut, MeUpdate

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
