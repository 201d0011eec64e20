"""Workspace settings: 問い合わせタグ (conversation tags), chosen when a conversation is closed
and counted by the statistics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.conversations import workflow
from madoguchi.conversations.models import ConversationTagging
from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep, MemberDep
from madoguchi.ui.settings_pages import (
    N_,
    PAGE,
    FormText,
    SettingsPage,
    act,
    add_page,
    chosen_color,
    counts_by,
    translated,
)

router = APIRouter()


async def _conversation_tags(ctx: Ctx) -> dict[str, Any]:
    return {
        "conversation_tags": await workflow.list_conversation_tags(ctx.db),
        "conversations_by_tag": await counts_by(ctx.db, ConversationTagging.tag_id),
    }


CONVERSATION_TAGS = SettingsPage("conversation_tags", _conversation_tags)


add_page(router, CONVERSATION_TAGS)


@router.post("/settings/conversation-tags")
async def add_conversation_tag(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    name: FormText = "",
    color: FormText = "",
    custom_color: FormText = "",
) -> Response:
    picked = chosen_color(color, custom_color)
    return await act(
        request,
        ctx,
        member,
        CONVERSATION_TAGS,
        lambda: workflow.create_conversation_tag(ctx, name=name, color=picked),
        at="new-conversation-tag",
        notice=translated(member, N_("Added the conversation tag %(name)s."), name=name.strip()),
        draft={"name": name, "color": picked},
    )


@router.post("/settings/conversation-tags/{tag_id}/delete")
async def delete_conversation_tag(
    tag_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
) -> Response:
    return await act(
        request,
        ctx,
        member,
        CONVERSATION_TAGS,
        lambda: workflow.delete_conversation_tag(ctx, tag_id=tag_id),
        at=f"conversation-tag-{tag_id}",
        notice=translated(member, N_("Deleted the conversation tag %(name)s."), name=name),
        notice_at=PAGE,
    )
