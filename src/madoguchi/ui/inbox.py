"""The inbox: the list (left), the conversation (middle), the customer (right), and their fragments.

Pages are ``/`` and ``/c/{id}`` (the member link); fragments live under ``/ui/`` and are what htmx
and the live-update script ask for. Every change goes through a service function.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from madoguchi.contacts import service as contacts
from madoguchi.conversations import repository
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Message, MessageKind
from madoguchi.conversations.repository import Cursor, InboxItem
from madoguchi.crm import marks
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui import forms
from madoguchi.ui.filtering import (
    FilterChoices,
    ListState,
    field_ops,
    load_choices,
)
from madoguchi.ui.panel import Panel, Place, load_panel
from madoguchi.ui.present import LIST_PAGE, THREAD_PAGE
from madoguchi.ui.render import error_message, render_for
from madoguchi.ui.threads import (
    Team,
    Thread,
    inbox_item,
    is_htmx,
    load_team,
    mark_map,
    member_names,
    open_fragment,
    row_item,
    thread,
)

router = APIRouter()

# Fragments that touch the list also tell the page the member's unread total (tab and title),
# as the page shows it ("999+" past the most counted): the page's script puts it in as given.
UNREAD_HEADER = "X-Madoguchi-Unread"


def unread_header(total: int) -> dict[str, str]:
    return {UNREAD_HEADER: repository.unread_label(total)}


@dataclass(frozen=True)
class ListPage:
    state: ListState
    items: list[InboxItem]
    next_cursor: str | None
    unread_total: int
    # Members' names, for the assignee on each row.
    names: dict[int, str]
    # The filter's names for its chips (loaded only when a filter is on).
    choices: FilterChoices | None = None
    # A filter the engine refused (an unknown tag, a number that is not one…), translated.
    error: str | None = None

    @property
    def view(self) -> str:
        return self.state.view

    @property
    def q(self) -> str:
        return self.state.q


@dataclass(frozen=True)
class OpenConversation:
    item: InboxItem
    thread: Thread
    team: Team
    panel: Panel


def _trigger(name: str, **detail: Any) -> dict[str, str]:
    """An event for the page once the answer is swapped in: it refreshes what depends on the
    change at once, without waiting for (or having) the live socket."""
    return {"HX-Trigger-After-Settle": json.dumps({name: detail})}


async def _list_page(
    ctx: Ctx, member: Member, state: ListState, *, cursor: str | None = None
) -> ListPage:
    """A page of the list; a filter the engine refuses gives an empty page with the reason."""
    total = await repository.unread_total(ctx.db, member_id=member.id)
    choices = await load_choices(ctx) if state.filter.active else None
    names = await member_names(ctx)
    try:
        page = await repository.list_conversations(
            ctx.db,
            member_id=member.id,
            query=state.inbox_query(
                limit=LIST_PAGE, cursor=Cursor.decode(cursor) if cursor else None
            ),
            timezone=ctx.settings.timezone,
            now=ctx.now(),
        )
    except DomainError as error:
        if cursor is not None:
            raise
        message = error_message(error, member.language)
        return ListPage(state, [], None, total, names, choices=choices, error=message)
    items = await repository.inbox_items(
        ctx.db, member_id=member.id, conversations=page.conversations
    )
    return ListPage(state, items, page.next_cursor, total, names, choices=choices)


async def _open(ctx: Ctx, member: Member, conversation_id: int) -> OpenConversation:
    item = await inbox_item(ctx, member, conversation_id)
    # One more than a page tells whether older messages exist.
    messages = await conversations.list_messages(
        ctx.db, conversation_id=conversation_id, limit=THREAD_PAGE + 1
    )
    has_older = len(messages) > THREAD_PAGE
    return OpenConversation(
        item=item,
        thread=await thread(ctx, conversation_id, messages[-THREAD_PAGE:], has_older=has_older),
        team=await load_team(ctx, member, item),
        panel=await load_panel(ctx, member, contact_id=item.contact.id, place=Place.chat),
    )


async def _inbox_page(
    request: Request,
    ctx: Ctx,
    member: Member,
    *,
    conversation_id: int | None,
    composer_text: str = "",
    composer_kind: str = MessageKind.reply,
    composer_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    listing = await _list_page(ctx, member, ListState.from_query(request.query_params))
    opened = None
    error = None
    if conversation_id is not None:
        try:
            opened = await _open(ctx, member, conversation_id)
        except DomainError as domain_error:
            error = error_message(domain_error, member.language)
            status_code = domain_error.status_code
    return render_for(
        request,
        ctx,
        member,
        "inbox/index.html",
        status_code=status_code,
        listing=listing,
        opened=opened,
        page_error=error,
        deleted=request.query_params.get("deleted"),
        composer_text=composer_text,
        composer_kind=composer_kind,
        composer_error=composer_error,
    )


# --- pages --------------------------------------------------------------------------------


@router.get("/")
async def inbox(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """The inbox; the list's tab, search and filter come from the query (see ui.filtering)."""
    return await _inbox_page(request, ctx, member, conversation_id=None)


@router.get("/c/{conversation_id}")
async def conversation_page(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The member link: the inbox with this conversation open (opening does not mark it read);
    the list keeps the tab, search and filter given in the query."""
    return await _inbox_page(request, ctx, member, conversation_id=conversation_id)


# --- the list -----------------------------------------------------------------------------


@router.get("/ui/list")
async def list_fragment(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    cursor: str | None = None,
    active: int | None = None,
) -> Response:
    """The list's rows (a tab, a search, a filter, or the next page when ``cursor`` is given),
    with the tabs and the filter's chips out of band."""
    state = ListState.from_query(request.query_params)
    listing = await _list_page(ctx, member, state, cursor=cursor)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_list.html",
        headers=unread_header(listing.unread_total),
        listing=listing,
        active_id=active,
        more_only=cursor is not None,
        oob_tabs=cursor is None,
    )


@router.get("/ui/rows/{conversation_id}")
async def row_fragment(
    conversation_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    active: int | None = None,
) -> Response:
    """One list row, fresh; empty when it no longer belongs in the list's tab and filter
    (read, on 未確認; hidden; a status no longer the filtered one…)."""
    state = ListState.from_query(request.query_params)
    item = await row_item(ctx, member, state.inbox_query(), conversation_id)
    total = await repository.unread_total(ctx.db, member_id=member.id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_row.html",
        headers=unread_header(total),
        item=item,
        active_id=active,
        state=state,
        names=await member_names(ctx),
    )


# --- the conversation ---------------------------------------------------------------------


@router.get("/ui/conversations/{conversation_id}")
async def conversation_fragment(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The middle pane, with the customer pane out of band (opening does not mark it read)."""
    opened = await _open(ctx, member, conversation_id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_open.html",
        opened=opened,
        composer_text="",
        composer_kind=MessageKind.reply,
        composer_error=None,
    )


def _thread_response(request: Request, ctx: Ctx, member: Member, shown: Thread) -> Response:
    return render_for(request, ctx, member, "inbox/_messages.html", thread=shown)


@router.get("/ui/conversations/{conversation_id}/messages")
async def messages_fragment(
    conversation_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    before: int | None = None,
    after: int | None = None,
) -> Response:
    """Older messages (``before``, with the next 「以前のメッセージ」 button) or newer ones."""
    if before is not None:
        messages = await conversations.list_messages(
            ctx.db, conversation_id=conversation_id, before_id=before, limit=THREAD_PAGE + 1
        )
        has_older = len(messages) > THREAD_PAGE
        messages = messages[-THREAD_PAGE:]
    else:
        messages = await conversations.list_messages(
            ctx.db, conversation_id=conversation_id, after_id=after, limit=200
        )
        has_older = False
    shown = await thread(ctx, conversation_id, messages, has_older=has_older)
    return _thread_response(request, ctx, member, shown)


@router.post("/ui/conversations/{conversation_id}/messages")
async def send_message(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The composer: a reply to the customer (with up to three uploaded images) or a 社内メモ.
    On an error nothing typed is lost."""
    form = await request.form()
    text = forms.text(form, "text") or ""
    kind = forms.text(form, "kind") or MessageKind.reply
    try:
        message = await conversations.send_message(
            ctx,
            conversation_id=conversation_id,
            member=member,
            text=text,
            kind=kind,
            image_ids=forms.ids(form, "image_ids"),
        )
    except DomainError as error:
        if is_htmx(request):
            raise  # the app's handler answers the sentence under the composer
        return await _inbox_page(
            request,
            ctx,
            member,
            conversation_id=conversation_id,
            composer_text=text,
            composer_kind=kind,
            composer_error=error_message(error, member.language),
            status_code=error.status_code,
        )
    if not is_htmx(request):
        return RedirectResponse(f"/c/{conversation_id}", status_code=303)
    return _thread_response(request, ctx, member, await thread(ctx, conversation_id, [message]))


@router.get("/ui/conversations/{conversation_id}/header")
async def header_fragment(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The conversation's header: who it is, its state, its assignee (live updates)."""
    return await open_fragment(request, ctx, member, conversation_id, "inbox/_thread_header.html")


# --- read state (未確認 / 確認済み) ---------------------------------------------------------


@router.get("/ui/conversations/{conversation_id}/read-toggle")
async def read_toggle(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    item = await inbox_item(ctx, member, conversation_id)
    return render_for(request, ctx, member, "inbox/_read_toggle.html", item=item)


@router.post("/ui/conversations/{conversation_id}/read")
async def mark_read(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    return await _change_read_state(request, ctx, member, conversation_id, read=True)


@router.post("/ui/conversations/{conversation_id}/unread")
async def mark_unread(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    return await _change_read_state(request, ctx, member, conversation_id, read=False)


@router.post("/ui/conversations/{conversation_id}/seen", status_code=204)
async def mark_seen(conversation_id: int, member: MemberDep, ctx: CtxDep) -> Response:
    """The conversation was opened: its "new to me" highlight goes (the team's 未確認 stays)."""
    await conversations.mark_seen(ctx, conversation_id=conversation_id, member=member)
    return Response(status_code=204)


async def _change_read_state(
    request: Request, ctx: Ctx, member: Member, conversation_id: int, *, read: bool
) -> Response:
    change = conversations.mark_read if read else conversations.mark_unread
    await change(ctx, conversation_id=conversation_id, member=member)
    item = await inbox_item(ctx, member, conversation_id)
    if not is_htmx(request):
        return RedirectResponse(f"/c/{conversation_id}", status_code=303)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_read_toggle.html",
        headers=_trigger("madoguchi:read-state", conversationId=conversation_id),
        item=item,
    )


# --- the customer (システム表示名) -----------------------------------------------------------


@router.post("/ui/contacts/{contact_id}/name")
async def rename_contact(
    contact_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    display_name: Annotated[str, Form()] = "",
) -> Response:
    """Enter in the システム表示名 field; blank goes back to the channel's name."""
    contact = await contacts.rename_contact(ctx, contact_id=contact_id, display_name=display_name)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_contact_name.html",
        headers=_trigger("madoguchi:contact-updated", contactId=contact_id, part="profile"),
        contact=contact,
    )


# --- marks on one message (F17) ------------------------------------------------------------


async def _message(ctx: Ctx, message_id: int) -> Message:
    return await repository.get_message(ctx.db, message_id=message_id)


@router.get("/ui/messages/{message_id}/marks")
async def message_mark_menu(
    message_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The 対応マーク menu of a message (loaded when opened: it follows renamed marks)."""
    message = await _message(ctx, message_id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_mark_menu.html",
        message=message,
        marks=list((await mark_map(ctx)).values()),
    )


@router.post("/ui/messages/{message_id}/mark")
async def mark_message(
    message_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    mark: Annotated[str, Form()] = "",
) -> Response:
    """Set (or clear, with 「なし」) a message's mark; answers the message, fresh."""
    chosen = int(mark) if mark.strip().isdigit() else None
    message = await marks.mark_message(ctx, message_id=message_id, mark=chosen)
    # The message and the one after it: whether it reads as a block with the next.
    shown = await conversations.list_messages(
        ctx.db, conversation_id=message.conversation_id, after_id=message_id - 1, limit=2
    )
    chunk = await thread(ctx, message.conversation_id, shown)
    return _thread_response(request, ctx, member, replace(chunk, entries=chunk.entries[:1]))


# --- 絞り込み (the list's filter) ------------------------------------------------------------


@router.get("/ui/filter")
async def filter_form(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """The filter form, filled in with the list's current filter."""
    state = ListState.from_query(request.query_params)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_filter.html",
        state=state,
        choices=await load_choices(ctx),
        field_ops=field_ops,
    )


@router.get("/ui/filter/term")
async def filter_term(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    fk: str = "",
    fo: str = "",
    fv: str = "",
) -> Response:
    """One profile-field condition, its ops and value input fitting the chosen field."""
    choices = await load_choices(ctx)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_filter_term.html",
        choices=choices,
        term_key=fk,
        term_op=fo,
        term_value=fv,
        field_ops=field_ops,
    )
