"""Workspace settings: メッセージフィルター (F27), customer messages that arrive read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.automation import filters
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import N_, FormText, SettingsPage, act, add_page, translated

router = APIRouter()


async def _filters(ctx: Ctx) -> dict[str, Any]:
    return {
        "message_filters": await filters.list_filters(ctx.db),
        "filter_text_limit": filters.MAX_FILTER_TEXT,
    }


MESSAGE_FILTERS = SettingsPage("message_filters", _filters)

add_page(router, MESSAGE_FILTERS)


@router.post("/settings/message-filters")
async def add_filter(
    request: Request, member: MemberDep, ctx: CtxDep, match: FormText = "", text: FormText = ""
) -> Response:
    """A filter has a kind of match besides its text: not a named list's add."""
    return await act(
        request,
        ctx,
        member,
        MESSAGE_FILTERS,
        lambda: filters.create_filter(ctx, match=match, text=text),
        at="new-message-filter",
        notice=translated(member, N_("Added the message filter %(name)s."), name=text.strip()),
        draft={"match": match, "text": text},
    )


NamedList(
    MESSAGE_FILTERS,
    "/settings/message-filters",
    "message-filter",
    delete=lambda ctx, member, filter_id: filters.delete_filter(
        ctx, filter_id=filter_id, actor=member
    ),
    deleted=N_("Deleted the message filter %(name)s."),
).register(router)
