"""Settings: the member's own (send shortcut, language, browser notifications) at
``/settings``, the hub of the workspace settings that owners and admins keep (statuses, marks,
tags, fields, record books, import and export, channels, templates, actions, conversation tags,
members and the audit log; see ``settings_*.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from madoguchi.conversations import repository
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import translate_error
from madoguchi.kit.web import CtxDep
from madoguchi.members import service as members
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui import (
    settings_actions,
    settings_audit,
    settings_autoclose,
    settings_broadcasts,
    settings_channels,
    settings_conversation_tags,
    settings_fields,
    settings_filters,
    settings_forms,
    settings_lists,
    settings_rules,
    settings_segments,
    settings_sequences,
    settings_stats,
    settings_team,
    settings_templates,
    settings_transfer,
    settings_unread,
)
from madoguchi.ui.render import render_for
from madoguchi.ui.settings_pages import is_manager
from madoguchi.ui.threads import after_error

router = APIRouter()


@router.get("/settings")
async def settings_page(
    request: Request, member: MemberDep, ctx: CtxDep, saved: bool = False
) -> Response:
    return render_for(
        request,
        ctx,
        member,
        "settings/index.html",
        page="personal",
        manager=is_manager(member),
        saved=saved,
        error=None,
        unread_total=await repository.unread_total(ctx.db, member_id=member.id),
    )


@router.post("/settings")
async def save_settings(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    send_shortcut: Annotated[str | None, Form()] = None,
    language: Annotated[str | None, Form()] = None,
    notifications: Annotated[str, Form()] = "",
    notify_assigned: Annotated[str, Form()] = "",
    notify_mentions: Annotated[str, Form()] = "",
) -> Response:
    # Unticked boxes send nothing: the form's marker says the choices were on it.
    asked = notifications == "1"
    try:
        await members.update_settings(
            ctx,
            member=member,
            send_shortcut=send_shortcut,
            language=language,
            notify_assigned=notify_assigned == "1" if asked else None,
            notify_mentions=notify_mentions == "1" if asked else None,
        )
    except DomainError as error:
        await after_error(ctx, member)
        return render_for(
            request,
            ctx,
            member,
            "settings/index.html",
            status_code=error.status_code,
            page="personal",
            manager=is_manager(member),
            saved=False,
            error=translate_error(error, member.language),
            unread_total=await repository.unread_total(ctx.db, member_id=member.id),
        )
    # Post/redirect/get: a reload does not post again, and the page shows 「保存しました」.
    return RedirectResponse("/settings?saved=1", status_code=303)


router.include_router(settings_lists.router)
router.include_router(settings_fields.router)
router.include_router(settings_transfer.router)
router.include_router(settings_channels.router)
router.include_router(settings_templates.router)
router.include_router(settings_actions.router)
router.include_router(settings_conversation_tags.router)
router.include_router(settings_filters.router)
router.include_router(settings_rules.router)
router.include_router(settings_autoclose.router)
router.include_router(settings_unread.router)
router.include_router(settings_stats.router)
router.include_router(settings_segments.router)
router.include_router(settings_broadcasts.router)
router.include_router(settings_sequences.router)
router.include_router(settings_forms.router)
router.include_router(settings_team.router)
router.include_router(settings_audit.router)
