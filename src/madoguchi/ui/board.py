"""The board (F44): the inbox's conversations as cards, one column per support status (in the
workspace's order) and one for none (「なし」).

Each column is a page of the inbox's own list query (``repository.column_query``): the same
tab, search and 絞り込み (in the URL, as the inbox takes them), the same keyset paging
(「もっと見る」 per column). Moving a card sets the customer's status through the contacts
service, which publishes ``contact.updated``: every colleague's board moves the card live
(static/js/board.js).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from madoguchi.contacts import service as contacts
from madoguchi.conversations import repository
from madoguchi.conversations import service as conversations
from madoguchi.conversations.repository import Cursor, InboxItem
from madoguchi.crm import statuses as statuses_service
from madoguchi.crm.models import Status
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, Invalid, NotFound
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.filtering import FilterChoices, ListState, load_choices, url
from madoguchi.ui.render import error_message, render_for
from madoguchi.ui.threads import is_htmx, member_names, row_item

router = APIRouter()

# Cards per column and page: a column shows as many as fit a screen or two.
BOARD_PAGE = 20
# The column of conversations whose customer has no status.
NO_STATUS = "none"


@dataclass(frozen=True)
class Column:
    key: str
    status: Status | None
    items: list[InboxItem]
    next_cursor: str | None


@dataclass(frozen=True)
class Board:
    state: ListState
    statuses: list[Status]
    columns: list[Column]
    names: dict[int, str]
    choices: FilterChoices | None = None

    @property
    def query(self) -> str:
        return self.state.query


def column_key(status_id: int | None) -> str:
    return NO_STATUS if status_id is None else str(status_id)


def _status_id(key: str, statuses: list[Status]) -> int | None:
    """The column's status from its key; a status that is no more is a clear 404."""
    if key == NO_STATUS:
        return None
    if not key.isdigit():
        raise Invalid("A column is a status id or none.")
    status_id = int(key)
    if all(status.id != status_id for status in statuses):
        raise NotFound("No status with id %(id)s.", id=status_id)
    return status_id


async def _page(
    ctx: Ctx,
    member: Member,
    state: ListState,
    status: Status | None,
    *,
    cursor: str | None = None,
) -> repository.Page:
    return await repository.list_conversations(
        ctx.db,
        member_id=member.id,
        query=repository.column_query(
            state.inbox_query(),
            status.id if status else None,
            limit=BOARD_PAGE,
            cursor=Cursor.decode(cursor) if cursor else None,
        ),
        timezone=ctx.settings.timezone,
        now=ctx.now(),
    )


async def _columns(
    ctx: Ctx, member: Member, state: ListState, wanted: list[Status | None], cursor: str | None
) -> list[Column]:
    """Each wanted column's page; what the cards show beside them is read once for all."""
    pages = [await _page(ctx, member, state, status, cursor=cursor) for status in wanted]
    shown = [conversation for page in pages for conversation in page.conversations]
    items = iter(await repository.inbox_items(ctx.db, member_id=member.id, conversations=shown))
    return [
        Column(
            key=column_key(status.id if status else None),
            status=status,
            items=[next(items) for _conversation in page.conversations],
            next_cursor=page.next_cursor,
        )
        for status, page in zip(wanted, pages, strict=True)
    ]


async def load_board(ctx: Ctx, member: Member, state: ListState) -> Board:
    """Every column's first page; a filter the engine refuses raises (the caller's 4xx)."""
    statuses = await statuses_service.list_statuses(ctx.db)
    return Board(
        state=state,
        statuses=statuses,
        columns=await _columns(ctx, member, state, [*statuses, None], None),
        names=await member_names(ctx),
        choices=await load_choices(ctx) if state.filter.active else None,
    )


@router.get("/board")
async def board_page(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """The board page; the tab, search and filter come from the query, as the inbox's."""
    state = ListState.from_query(request.query_params)
    try:
        board = await load_board(ctx, member, state)
    except DomainError as error:
        return render_for(
            request,
            ctx,
            member,
            "board/index.html",
            status_code=error.status_code,
            board=None,
            state=state,
            page_error=error_message(error, member.language),
        )
    return render_for(
        request, ctx, member, "board/index.html", board=board, state=state, page_error=None
    )


@router.get("/ui/board")
async def board_fragment(request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """The columns, fresh (after the statuses changed, or a reconnect)."""
    state = ListState.from_query(request.query_params)
    board = await load_board(ctx, member, state)
    return render_for(request, ctx, member, "board/_board.html", board=board, state=state)


@router.get("/ui/board/columns/{key}")
async def column_more(
    key: str, request: Request, member: MemberDep, ctx: CtxDep, cursor: str | None = None
) -> Response:
    """A column's next page of cards (「もっと見る」), with the button for the page after."""
    state = ListState.from_query(request.query_params)
    statuses = await statuses_service.list_statuses(ctx.db)
    status_id = _status_id(key, statuses)
    status = next((s for s in statuses if s.id == status_id), None)
    [column] = await _columns(ctx, member, state, [status], cursor)
    return render_for(
        request,
        ctx,
        member,
        "board/_cards.html",
        column=column,
        state=state,
        statuses=statuses,
        names=await member_names(ctx),
    )


async def _card_response(
    request: Request, ctx: Ctx, member: Member, state: ListState, conversation_id: int
) -> Response:
    item = await row_item(ctx, member, state.inbox_query(), conversation_id)
    return render_for(
        request,
        ctx,
        member,
        "board/_card_live.html",
        item=item,
        state=state,
        statuses=await statuses_service.list_statuses(ctx.db),
        names=await member_names(ctx),
    )


@router.get("/ui/board/cards/{conversation_id}")
async def card_fragment(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """One card, fresh, in a template naming its column; empty when the conversation no longer
    belongs on the board's tab and filter (or is gone)."""
    state = ListState.from_query(request.query_params)
    return await _card_response(request, ctx, member, state, conversation_id)


@router.post("/ui/board/cards/{conversation_id}/move")
async def move_card(
    conversation_id: int,
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    status: Annotated[str, Form()] = "",
) -> Response:
    """Move a card to another column: the customer's support status becomes that column's
    (「なし」: none), through the contacts service (its event moves it on every board). A status
    deleted meanwhile is a 404 with the sentence; nothing changes."""
    key = status.strip()
    if key != NO_STATUS and not key.isdigit():
        raise Invalid("A column is a status id or none.")
    conversation = await conversations.get_conversation(ctx.db, conversation_id=conversation_id)
    await contacts.update_contact(
        ctx,
        contact_id=conversation.contact_id,
        changes=contacts.ContactChanges(
            status=None if key == NO_STATUS else int(key), set_status=True
        ),
    )
    state = ListState.from_query(request.query_params)
    if not is_htmx(request):
        return RedirectResponse(url("/board", state.query), status_code=303)
    return await _card_response(request, ctx, member, state, conversation_id)
