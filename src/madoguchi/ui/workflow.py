"""The team workflow on an open conversation (F10–F12, F15, F16): 担当者になる and フォロー, the
assignee and followers, close (with 問い合わせタグ and 問い合わせメモ) and reopen, snooze, the
member and customer links, and permanent delete.

Each route calls one service function and answers the part the member acted in: the header
(``inbox/_thread_header.html``), the panel's 「この問い合わせ」 (``inbox/_team.html``) or a dialog;
an ``HX-Trigger`` makes the page refresh the rest (the list's row, the thread's system line) at
once, before the live event arrives.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from madoguchi.connectors import web
from madoguchi.contacts import service as contacts
from madoguchi.conversations import repository as conversation_repository
from madoguchi.conversations import workflow
from madoguchi.crm import records
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError, Invalid
from madoguchi.kit.web import CtxDep
from madoguchi.members import service as members
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui import forms
from madoguchi.ui.panel import local_input_value
from madoguchi.ui.present import SnoozePreset, snooze_time
from madoguchi.ui.render import error_message, render_for
from madoguchi.ui.threads import (
    after_error,
    conversation_changed,
    inbox_item,
    is_htmx,
    load_team,
    open_fragment,
)

router = APIRouter()

# A refused header action answers the header with the reason in it; the page swaps it in
# although the status says "refused" (htmx leaves other 4xx answers to the error slots).
SWAP_ANYWAY = {"X-Madoguchi-Swap": "error"}


# A workflow service function: (ctx, conversation_id=, …, actor=) → the conversation.
ActorChange = Callable[..., Awaitable[object]]


class Answer(StrEnum):
    """Where the member acted, so what the answer is."""

    header = "header"  # a button in the header: the header, with a refusal in it
    team = "team"  # the panel's 「この問い合わせ」: that part; a refusal is a sentence
    dialog = "dialog"  # a dialog's form: the header; a refusal stays in the dialog


def _answer_of(form: FormData) -> Answer:
    value = forms.text(form, "answer") or ""
    return Answer(value) if value in Answer.__members__ else Answer.header


async def _part(
    request: Request,
    ctx: Ctx,
    member: Member,
    conversation_id: int,
    answer: Answer,
    *,
    error: DomainError | None = None,
) -> Response:
    """The header or the panel's part, fresh."""
    item = await inbox_item(ctx, member, conversation_id)
    team = await load_team(ctx, member, item)
    if answer is Answer.team:
        return render_for(
            request,
            ctx,
            member,
            "inbox/_team.html",
            headers=conversation_changed(conversation_id, item.contact.id, answer),
            team=team,
            saved=True,
        )
    headers = (
        SWAP_ANYWAY
        if error is not None
        else conversation_changed(conversation_id, item.contact.id, answer)
    )
    return render_for(
        request,
        ctx,
        member,
        "inbox/_thread_header.html",
        status_code=error.status_code if error is not None else 200,
        headers=headers,
        item=item,
        team=team,
        header_error=error_message(error, member.language) if error is not None else None,
    )


async def _act(
    request: Request,
    ctx: Ctx,
    member: Member,
    conversation_id: int,
    change: Callable[[FormData], Awaitable[object]],
) -> Response:
    """Make one change through its service and answer where the member acted."""
    form = await request.form()
    answer = _answer_of(form)
    try:
        await change(form)
    except DomainError as error:
        if answer is not Answer.header:
            raise  # the app's handler answers the sentence where the member acted
        await after_error(ctx, member)
        return await _part(request, ctx, member, conversation_id, answer, error=error)
    if not is_htmx(request):
        return RedirectResponse(f"/c/{conversation_id}", status_code=303)
    return await _part(request, ctx, member, conversation_id, answer)


# --- the header's and the panel's fragments -------------------------------------------------


@router.get("/ui/conversations/{conversation_id}/team")
async def team_fragment(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「この問い合わせ」, fresh (live updates)."""
    return await open_fragment(
        request, ctx, member, conversation_id, "inbox/_team.html", saved=False
    )


@router.get("/ui/conversations/{conversation_id}/reply-window")
async def reply_window(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Instagram's 返信期限, fresh: a customer's message opens it again."""
    return await open_fragment(request, ctx, member, conversation_id, "inbox/_reply_window.html")


# --- assignee and followers -----------------------------------------------------------------


async def _act_as(
    request: Request, ctx: Ctx, member: Member, conversation_id: int, change: ActorChange
) -> Response:
    """A change that needs nothing but who makes it (担当者になる, 再開)."""
    return await _act(
        request,
        ctx,
        member,
        conversation_id,
        lambda _form: change(ctx, conversation_id=conversation_id, actor=member),
    )


@router.post("/ui/conversations/{conversation_id}/become-assignee")
async def become_assignee(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """担当者になる; when a colleague already has it, the header says so and offers フォロー."""
    return await _act_as(request, ctx, member, conversation_id, workflow.become_assignee)


@router.post("/ui/conversations/{conversation_id}/assign")
async def assign(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Make a member the assignee (「担当者なし」: nobody); they are notified."""
    return await _act(
        request,
        ctx,
        member,
        conversation_id,
        lambda form: workflow.assign(
            ctx,
            conversation_id=conversation_id,
            member_id=forms.reference(form, "member_id"),
            actor=member,
        ),
    )


async def _following(
    request: Request, ctx: Ctx, member: Member, conversation_id: int, change: ActorChange
) -> Response:
    """Follow or unfollow: the member chosen (a colleague, from the panel), or oneself."""

    def chosen(form: FormData) -> int:
        picked = forms.reference(form, "member_id")
        return member.id if picked is None else picked

    return await _act(
        request,
        ctx,
        member,
        conversation_id,
        lambda form: change(
            ctx, conversation_id=conversation_id, member_id=chosen(form), actor=member
        ),
    )


@router.post("/ui/conversations/{conversation_id}/follow")
async def follow(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """フォロー (oneself), or add a colleague as a follower."""
    return await _following(request, ctx, member, conversation_id, workflow.follow)


@router.post("/ui/conversations/{conversation_id}/unfollow")
async def unfollow(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    return await _following(request, ctx, member, conversation_id, workflow.unfollow)


# --- close, reopen, snooze --------------------------------------------------------------------


@router.get("/ui/conversations/{conversation_id}/close")
async def close_dialog(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「終了」: the conversation tags to choose and the memo, before it closes."""
    return await open_fragment(request, ctx, member, conversation_id, "inbox/_close_dialog.html")


@router.post("/ui/conversations/{conversation_id}/close")
async def close(conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep) -> Response:
    """Close (終了) with the chosen conversation tags and the memo (at most 500 characters);
    a new message from either side opens it again."""

    async def change(form: FormData) -> object:
        memo = forms.text(form, "memo")
        return await workflow.close(
            ctx,
            conversation_id=conversation_id,
            actor=member,
            tag_ids=forms.ids(form, "tag") if "tags_shown" in form else None,
            memo=memo,
        )

    return await _act(request, ctx, member, conversation_id, change)


@router.post("/ui/conversations/{conversation_id}/reopen")
async def reopen(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「再開」 a closed conversation, or end a snooze now."""
    return await _act_as(request, ctx, member, conversation_id, workflow.reopen)


@router.get("/ui/conversations/{conversation_id}/snooze")
async def snooze_dialog(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「日時を指定」: a date and time in Japan time (tomorrow 9:00 to start with)."""
    zone = ZoneInfo(ctx.settings.timezone)
    tomorrow = snooze_time(SnoozePreset.tomorrow, ctx.now(), zone)
    return await open_fragment(
        request,
        ctx,
        member,
        conversation_id,
        "inbox/_snooze_dialog.html",
        suggested=local_input_value(tomorrow, ctx.settings.timezone),
        earliest=local_input_value(ctx.now(), ctx.settings.timezone),
    )


def snooze_until(form: FormData, ctx: Ctx) -> datetime:
    """A preset of the menu, or the date and time given (Japan time)."""
    preset = forms.text(form, "preset")
    if preset:
        if preset not in SnoozePreset.__members__:
            raise Invalid("Choose when the snooze ends.")
        return snooze_time(SnoozePreset(preset), ctx.now(), ZoneInfo(ctx.settings.timezone))
    return records.aware(forms.parse_local(forms.text(form, "until")), ctx.settings.timezone)


@router.post("/ui/conversations/{conversation_id}/snooze")
async def snooze(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Snooze until a preset or a given time; a past time is refused."""

    async def change(form: FormData) -> object:
        until = snooze_until(form, ctx)
        return await workflow.snooze(
            ctx, conversation_id=conversation_id, until=until, actor=member
        )

    return await _act(request, ctx, member, conversation_id, change)


# --- 問い合わせメモ and 問い合わせタグ ----------------------------------------------------------


@router.post("/ui/conversations/{conversation_id}/memo")
async def save_memo(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The conversation memo (at most 500 characters; a longer one is refused, kept typed)."""
    return await _act(
        request,
        ctx,
        member,
        conversation_id,
        lambda form: workflow.set_memo(
            ctx, conversation_id=conversation_id, memo=forms.text(form, "memo") or ""
        ),
    )


@router.post("/ui/conversations/{conversation_id}/tags")
async def save_tags(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """The conversation tags (問い合わせタグ), exactly the checked ones."""
    return await _act(
        request,
        ctx,
        member,
        conversation_id,
        lambda form: workflow.set_conversation_tags(
            ctx, conversation_id=conversation_id, tag_ids=forms.ids(form, "tag")
        ),
    )


# --- permanent delete (永久削除) ---------------------------------------------------------------


@router.get("/ui/conversations/{conversation_id}/delete")
async def delete_dialog(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Asks first, saying what goes with it; the member types the customer's name (or 削除)."""
    members.ensure_manager(member)
    item = await inbox_item(ctx, member, conversation_id)
    holdings = await conversation_repository.holdings(ctx.db, conversation_id=conversation_id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_delete_dialog.html",
        item=item,
        message_count=holdings.messages,
        image_count=holdings.images,
        scheduled_count=holdings.scheduled,
    )


def _folded(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().casefold()


def confirmed(typed: str, *, name: str) -> bool:
    """The typed confirmation: the customer's name, or the word 削除 (or "delete")."""
    return _folded(typed) in {_folded(name), "削除", "delete"} - {""}


@router.post("/ui/conversations/{conversation_id}/delete")
async def delete_conversation(
    conversation_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """Delete for good (owners and admins, after typing the confirmation)."""
    form = await request.form()
    members.ensure_manager(member)
    item = await inbox_item(ctx, member, conversation_id)
    typed = forms.text(form, "confirm") or ""
    if not confirmed(typed, name=item.contact.display_name):
        raise Invalid("Type the customer's name (or 削除) to confirm.")
    await workflow.delete_conversation(ctx, conversation_id=conversation_id, actor=member)
    if not is_htmx(request):
        return RedirectResponse("/?deleted=conversation", status_code=303)
    gone = {"madoguchi:conversation-gone": {"conversationId": conversation_id}}
    return render_for(
        request,
        ctx,
        member,
        "inbox/_empty.html",
        headers={
            "HX-Retarget": "#conversation-pane",
            "HX-Reswap": "outerHTML",
            "HX-Trigger-After-Settle": json.dumps(gone),
        },
        deleted="conversation",
        page_error=None,
        oob_customer=True,
    )


# --- the customer link (顧客用リンク) ----------------------------------------------------------


async def _link_dialog(
    request: Request, ctx: Ctx, member: Member, contact_id: int, **context: Any
) -> Response:
    contact = await contacts.get_contact(ctx.db, contact_id=contact_id)
    return render_for(
        request,
        ctx,
        member,
        "inbox/_customer_link.html",
        contact=contact,
        issued_at=await web.customer_link_issued_at(ctx.db, contact_id=contact_id),
        **context,
    )


@router.get("/ui/contacts/{contact_id}/customer-link")
async def customer_link_dialog(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """「お客様に送るリンク」: whether one works now, and making or revoking one."""
    return await _link_dialog(request, ctx, member, contact_id, url=None, revoked=False)


@router.post("/ui/contacts/{contact_id}/customer-link")
async def create_customer_link(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    """A new customer link (the earlier one stops working), shown this once to copy."""
    url = await web.create_customer_link(ctx, contact_id=contact_id)
    return await _link_dialog(request, ctx, member, contact_id, url=url, revoked=False)


@router.post("/ui/contacts/{contact_id}/customer-link/revoke")
async def revoke_customer_link(
    contact_id: int, request: Request, member: MemberDep, ctx: CtxDep
) -> Response:
    await web.revoke_customer_link(ctx, contact_id=contact_id)
    return await _link_dialog(request, ctx, member, contact_id, url=None, revoked=True)
