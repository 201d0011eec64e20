"""Workspace settings: 問い合わせタグ (conversation tags), chosen when a conversation is closed
and counted by the statistics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from madoguchi.conversations import workflow
from madoguchi.conversations.models import ConversationTagging
from madoguchi.kit.context import Ctx
from madoguchi.ui.settings_named import NamedList
from madoguchi.ui.settings_pages import (
    N_,
    SettingsPage,
    add_page,
    counts_by,
)

router = APIRouter()


async def _conversation_tags(ctx: Ctx) -> dict[str, Any]:
    return {
        "conversation_tags": await workflow.list_conversation_tags(ctx.db),
        "conversations_by_tag": await counts_by(ctx.db, ConversationTagging.tag_id),
    }


CONVERSATION_TAGS = SettingsPage("conversation_tags", _conversation_tags)


add_page(router, CONVERSATION_TAGS)


NamedList(
    CONVERSATION_TAGS,
    "/settings/conversation-tags",
    "conversation-tag",
    colored=True,
    create=lambda ctx, _, item: workflow.create_conversation_tag(
        ctx, name=item.name, color=item.color
    ),
    added=N_("Added the conversation tag %(name)s."),
    delete=lambda ctx, _, tag_id: workflow.delete_conversation_tag(ctx, tag_id=tag_id),
    deleted=N_("Deleted the conversation tag %(name)s."),
).register(router)
