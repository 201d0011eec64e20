"""The inbox's 「エクスポート」 (F45): every conversation of the list as shown (its tab, search
and 絞り込み, read from the URL exactly as the list reads them), streamed a page at a time by
the export service. Owners and admins, as the other exports; one conversation is the API's
``/api/v1/conversations/{id}/export`` (any member), linked from the conversation's menu."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from madoguchi.conversations import export
from madoguchi.kit.web import CtxDep, attachment
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager
from madoguchi.ui.filtering import ListState

router = APIRouter()


@router.get("/export")
async def export_list(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    format: str = "csv",
    notes: bool = True,
    encoding: str = "utf-8",
) -> StreamingResponse:
    ensure_manager(member)
    state = ListState.from_query(request.query_params)
    made = await export.export_inbox(
        ctx.db,
        member_id=member.id,
        query=state.inbox_query(),
        options=export.options_for(
            format,
            notes=notes,
            encoding=encoding,
            timezone=ctx.settings.timezone,
            language=member.language,
        ),
        now=ctx.now(),
    )
    return attachment(made.chunks, media_type=made.media_type, filename=made.filename)
