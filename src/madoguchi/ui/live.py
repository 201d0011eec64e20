"""What an open tab fetches after a live event: every fragment it shows of one conversation, in
one answer.

A reply publishes ``message.created`` and ``conversation.updated``; each tab gathers what those
events ask of it (the list's row, the thread's new lines, the header, 「この問い合わせ」, the reply
window, the read toggle) and asks here once. Each fragment comes in its own
``<template data-live-part>``: the page places it with the same code that places the single
fragments (a row moves to its place, a part being edited waits), which plain out-of-band swaps
could not do. The unread total rides along in the header the list's fragments use.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from madoguchi.conversations import repository
from madoguchi.conversations import service as conversations
from madoguchi.kit.errors import DomainError
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.ui.filtering import ListState
from madoguchi.ui.inbox import unread_header
from madoguchi.ui.render import render_for
from madoguchi.ui.threads import inbox_item, load_team, member_names, row_item, thread

router = APIRouter()

# The parts a tab may ask for; ``row`` is judged against the list's query, the others need the
# conversation open in the tab.
PARTS = frozenset({"row", "messages", "header", "team", "reply-window", "read-toggle"})
OPEN_PARTS = PARTS - {"row"}
# As many new lines as the thread's "newer" fragment answers at once.
NEW_MESSAGES = 200


@router.get("/ui/live/conversations/{conversation_id}")
async def live_fragments(
    conversation_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    part: Annotated[list[str], Query()],
    active: int | None = None,
    after: int = 0,
) -> Response:
    """The asked ``part``s of one conversation, fresh. ``row`` is empty when the conversation no
    longer belongs in the list's tab and filter (given in the query, as ``/ui/list`` takes
    them); the open conversation's parts are left out when it is gone (its own event says so).
    """
    wanted = PARTS.intersection(part)
    state = ListState.from_query(request.query_params)
    row = None
    if "row" in wanted:
        row = await row_item(ctx, member, state.inbox_query(), conversation_id)
    item = team = shown = None
    if wanted & OPEN_PARTS:
        try:
            item = await inbox_item(ctx, member, conversation_id)
        except DomainError:
            item = None
    if item is not None:
        team = await load_team(ctx, member, item)
        if "messages" in wanted:
            messages = await conversations.list_messages(
                ctx.db, conversation_id=conversation_id, after_id=after, limit=NEW_MESSAGES
            )
            shown = await thread(ctx, conversation_id, messages)
    total = await repository.unread_total(ctx.db, member_id=member.id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_live.html",
        headers=unread_header(total),
        parts=wanted if item is not None else wanted - OPEN_PARTS,
        row=row,
        item=item,
        team=team,
        thread=shown,
        active_id=active,
        state=state,
        names=await member_names(ctx),
        saved=False,
        header_error=None,
    )
