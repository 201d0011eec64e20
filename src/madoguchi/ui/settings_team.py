"""Workspace settings: メンバー (who works here, with which role) and 操作履歴 (the audit log)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.audit import service as audit
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import translate_error
from madoguchi.kit.security import new_password
from madoguchi.kit.web import CtxDep, MemberDep
from madoguchi.members import service as members
from madoguchi.members.models import Role
from madoguchi.ui.settings_pages import (
    N_,
    FormText,
    Outcome,
    SettingsPage,
    add_page,
    is_manager,
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
AUDIT_LIMIT = 100


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
        await ctx.db.rollback()
        await ctx.db.refresh(member)
        # What was typed comes back, except the password.
        draft = {"name": name, "email": email, "role": role, "password_choice": password_choice}
        failed = Outcome(
            error=translate_error(error, member.language), at="new-member", draft=draft
        )
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


# --- 操作履歴 -----------------------------------------------------------------------------------


async def _audit(ctx: Ctx) -> dict[str, Any]:
    return {"entries": await audit.list_entries(ctx.db, limit=AUDIT_LIMIT), "limit": AUDIT_LIMIT}


AUDIT = SettingsPage("audit", _audit)


@router.get("/settings/audit")
async def audit_page(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    return await show(request, ctx, member, AUDIT)
