"""Workspace settings: メンバー (who works here, with which role: owners and admins change roles,
deactivate and reset passwords), APIトークン (every member's own; owners and admins see everyone's)
(操作履歴, the audit log, is settings_audit.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from madoguchi.conversations import repository
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, Invalid
from madoguchi.kit.security import new_password
from madoguchi.kit.web import CtxDep
from madoguchi.members import service as members
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member, Role
from madoguchi.ui.render import render_for
from madoguchi.ui.settings_pages import (
    N_,
    NOTHING,
    PAGE,
    FormText,
    Outcome,
    SettingsPage,
    act,
    add_page,
    is_htmx,
    is_manager,
    refusal,
    refused,
    show,
    translated,
)

router = APIRouter()

# Each role, and what it may do, in one sentence.
ROLES: tuple[tuple[str, str, str], ...] = (
    (Role.owner, N_("Owner"), N_("Changes everything, and is the only one who can add owners.")),
    (
        Role.admin,
        N_("Admin"),
        N_("Changes the workspace settings, and adds admins and agents."),
    ),
    (
        Role.agent,
        N_("Agent"),
        N_("Answers customers in the inbox, and changes only their own settings."),
    ),
)


# --- メンバー -----------------------------------------------------------------------------------


async def _members(ctx: Ctx) -> dict[str, Any]:
    return {
        "members": await members.list_members(ctx.db),
        "roles": ROLES,
        "min_password": members.MIN_PASSWORD_LENGTH,
    }


MEMBERS = SettingsPage("members", _members)


add_page(router, MEMBERS)


@router.post("/settings/members")
async def add_member(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    email: FormText = "",
    role: FormText = Role.agent,
    password_choice: FormText = "generate",
    password: FormText = "",
) -> Response:
    """Add a member with a first password: made here and shown once, or typed by the owner.

    Not post/redirect/get: the made password is in this answer only (never stored in clear)."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    typed = password_choice == "typed"
    first_password = password if typed else new_password()
    try:
        added = await members.create_member(
            ctx, email=email, name=name, role=role, password=first_password, actor=member
        )
    except DomainError as error:
        # What was typed comes back, except the password.
        draft = {"name": name, "email": email, "role": role, "password_choice": password_choice}
        failed = await refusal(ctx, member, error, at="new-member", draft=draft, placed=True)
        return await show(
            request, ctx, member, MEMBERS, outcome=failed, status_code=error.status_code
        )
    done = Outcome(
        notice=translated(member, N_("Added %(name)s."), name=added.name),
        at=f"member-{added.id}",
    )
    response = await show(
        request,
        ctx,
        member,
        MEMBERS,
        outcome=done,
        added=added,
        shown_password=None if typed else first_password,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _member_key(member_id: int) -> str:
    return f"member-{member_id}"


@router.post("/settings/members/{member_id}/update")
async def update_member(
    member_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    role: FormText = "",
) -> Response:
    """Rename a member or change their role (only an owner touches owners)."""
    return await act(
        request,
        ctx,
        member,
        MEMBERS,
        lambda: members.update_member(
            ctx, member_id=member_id, actor=member, name=name, role=role or None
        ),
        at=_member_key(member_id),
        draft={"name": name, "role": role},
    )


@router.post("/settings/members/{member_id}/active")
async def set_member_active(
    member_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    active: FormText = "",
    name: FormText = "",
) -> Response:
    """Deactivate a member (signed out everywhere at once, tokens refused) or reactivate them."""
    on = active == "1"
    if on:
        notice = N_("%(name)s can sign in again.")
    else:
        notice = N_("%(name)s can no longer sign in, and was signed out everywhere.")
    return await act(
        request,
        ctx,
        member,
        MEMBERS,
        lambda: members.update_member(ctx, member_id=member_id, actor=member, active=on),
        at=_member_key(member_id),
        notice=translated(member, notice, name=name),
    )


@router.post("/settings/members/{member_id}/password-reset")
async def reset_member_password(
    member_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """A one-time password, shown once (like a new member's first password)."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    key = _member_key(member_id)
    try:
        password = await members.reset_password(ctx, member_id=member_id, actor=member)
    except DomainError as error:
        failed = await refusal(ctx, member, error, at=key, placed=True)
        return await show(
            request, ctx, member, MEMBERS, outcome=failed, status_code=error.status_code
        )
    target = await members.get_member(ctx.db, member_id=member_id)
    done = Outcome(
        notice=translated(member, N_("Reset the password of %(name)s."), name=target.name), at=key
    )
    response = await show(
        request, ctx, member, MEMBERS, outcome=done, reset=target, shown_password=password
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- APIトークン --------------------------------------------------------------------------------


async def _show_tokens(
    request: Request,
    ctx: Ctx,
    member: Member,
    *,
    outcome: Outcome = NOTHING,
    status_code: int = 200,
    created: members.IssuedToken | None = None,
) -> Response:
    """Every member's own tokens; an owner or admin also sees (and revokes) everyone's."""
    manager = is_manager(member)
    rows = await members.list_tokens(ctx.db, member_ids=None if manager else [member.id])
    context: dict[str, Any] = {}
    if is_htmx(request):
        template = "settings/_tokens.html"
    else:
        template = "settings/tokens.html"
        context["unread_total"] = await repository.unread_total(ctx.db, member_id=member.id)
    return render_for(
        request,
        ctx,
        member,
        template,
        status_code=status_code,
        page="tokens",
        manager=manager,
        outcome=outcome,
        own=[row for row in rows if row.member.id == member.id],
        others=[row for row in rows if row.member.id != member.id],
        created=created,
        may_revoke=may_revoke,
        headers={"Cache-Control": "no-store"} if created else None,
        **context,
    )


def may_revoke(actor: Member, row: members.TokenRow) -> bool:
    """Whether the page offers 「無効にする」 (the service has the last word)."""
    if row.member.id == actor.id:
        return True
    return is_manager(actor) and (row.member.role != Role.owner or actor.role == Role.owner)


@router.get("/settings/tokens")
async def tokens_page(
    request: Request, member: MemberDep, ctx: CtxDep, saved: bool = False
) -> Response:
    outcome = Outcome(notice=translated(member, N_("Saved.")), at=PAGE) if saved else NOTHING
    return await _show_tokens(request, ctx, member, outcome=outcome)


@router.post("/settings/tokens")
async def create_token(
    request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    """A new token for the member's own program; its secret is in this answer only (not
    post/redirect/get: it is never stored in clear)."""
    try:
        if not name.strip():
            raise Invalid("Give the token a name, such as the program that uses it.")
        issued = await members.issue_token(ctx, member=member, name=name, actor=member)
    except DomainError as error:
        draft = {"name": name}
        failed = await refusal(ctx, member, error, at="new-token", draft=draft, placed=True)
        return await _show_tokens(
            request, ctx, member, outcome=failed, status_code=error.status_code
        )
    done = Outcome(
        notice=translated(member, N_("Made the token %(name)s."), name=issued.token.name),
        at=f"token-{issued.token.id}",
    )
    return await _show_tokens(request, ctx, member, outcome=done, created=issued)


@router.post("/settings/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    try:
        await members.revoke_token(ctx, token_id=token_id, actor=member)
    except DomainError as error:
        failed = await refusal(ctx, member, error, at=PAGE)
        return await _show_tokens(
            request, ctx, member, outcome=failed, status_code=error.status_code
        )
    if not is_htmx(request):
        return RedirectResponse("/settings/tokens?saved=1", status_code=303)
    done = Outcome(
        notice=translated(member, N_("Revoked the token %(name)s: it no longer works."), name=name),
        at=PAGE,
    )
    return await _show_tokens(request, ctx, member, outcome=done)
