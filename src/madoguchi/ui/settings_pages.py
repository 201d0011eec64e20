"""What every workspace settings page shares: who may open it, how the page (or, for htmx, only
its panel) is shown, and how a member's action answers.

An action runs one service function (which commits and publishes). On a domain error nothing
is kept (the transaction is rolled back) and the panel comes back with the translated sentence
next to the form the member used, holding what they typed. Without htmx the browser gets the
whole page (post/redirect/get on success).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from madoguchi.conversations import repository
from madoguchi.kit.context import Ctx

# The lists' 「N人が使っています」, re-exported for the settings pages that import it from here.
from madoguchi.kit.db import counts_by as counts_by
from madoguchi.kit.errors import DomainError, Forbidden, NotFound
from madoguchi.kit.i18n import gettext_for, translate_error
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.members.service import ensure_manager
from madoguchi.ui.render import render_for

# Where an outcome is shown when it belongs to no single item (a deleted one, the page itself).
PAGE = "page"
# A text field of a form (left out: empty).
FormText = Annotated[str, Form()]


def N_(message: str) -> str:
    """Marks a msgid for extraction; it is translated where it is shown."""
    return message


def translated(member: Member, message: str, **params: Any) -> str:
    text = gettext_for(member.language).gettext(message)
    return text % params if params else text


# A small palette of calm colours (statuses, marks); any other is chosen with the colour input.
PALETTE: tuple[tuple[str, str], ...] = (
    ("#dc2626", N_("Red")),
    ("#d97706", N_("Orange")),
    ("#16a34a", N_("Green")),
    ("#0891b2", N_("Teal")),
    ("#2563eb", N_("Blue")),
    ("#4f46e5", N_("Indigo")),
    ("#7c3aed", N_("Purple")),
    ("#db2777", N_("Pink")),
    ("#64748b", N_("Grey")),
)
DEFAULT_COLOR = "#64748b"
CUSTOM_COLOR = "custom"


def chosen_color(color: str, custom_color: str) -> str:
    """The palette's choice, or the colour input's when 「その他の色」 is picked."""
    picked = custom_color if color == CUSTOM_COLOR else color
    return picked.strip() or DEFAULT_COLOR


def is_manager(member: Member) -> bool:
    try:
        ensure_manager(member)
    except Forbidden:
        return False
    return True


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


@dataclass(frozen=True)
class Outcome:
    """What came of the member's last action, shown where they acted (``at``)."""

    notice: str | None = None
    error: str | None = None
    at: str | None = None
    # What they typed, given back to the form that failed.
    draft: Mapping[str, Any] = field(default_factory=dict)
    # Said to screen readers only (a move: the list itself shows it).
    quiet: bool = False


NOTHING = Outcome()


@dataclass(frozen=True)
class SettingsPage:
    """A page: ``settings/<name>.html``, its panel ``settings/_<name>.html``, and its data."""

    name: str
    load: Callable[[Ctx], Awaitable[dict[str, Any]]]

    @property
    def path(self) -> str:
        return "/settings/" + self.name.replace("_", "-")


def saved_outcome(member: Member, saved: bool) -> Outcome:
    return Outcome(notice=translated(member, N_("Saved.")), at=PAGE) if saved else NOTHING


def add_page(router: APIRouter, page: SettingsPage) -> None:
    """``GET`` the page; ``?saved=1`` says that a change made without script was saved."""

    async def view(
        request: Request, member: MemberDep, ctx: CtxDep, saved: bool = False
    ) -> Response:
        return await show(request, ctx, member, page, outcome=saved_outcome(member, saved))

    router.add_api_route(page.path, view, methods=["GET"], name=f"{page.name}_page")


async def refused(request: Request, ctx: Ctx, member: Member) -> Response:
    """An agent asking for a workspace setting: a friendly page (or its sentence)."""
    message = translated(member, N_("Only owners and admins can change the workspace settings."))
    if is_htmx(request):
        return PlainTextResponse(message, status_code=403)
    return render_for(
        request,
        ctx,
        member,
        "settings/forbidden.html",
        status_code=403,
        page=None,
        manager=False,
        message=message,
        unread_total=await repository.unread_total(ctx.db, member_id=member.id),
    )


async def show(
    request: Request,
    ctx: Ctx,
    member: Member,
    page: SettingsPage,
    *,
    outcome: Outcome = NOTHING,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """The page, or only its panel for htmx (which swaps it in place)."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    data = await page.load(ctx)
    if is_htmx(request):
        template = f"settings/_{page.name}.html"
    else:
        template = f"settings/{page.name}.html"
        context["unread_total"] = await repository.unread_total(ctx.db, member_id=member.id)
    return render_for(
        request,
        ctx,
        member,
        template,
        status_code=status_code,
        page=page.name,
        page_path=page.path,
        manager=True,
        outcome=outcome,
        palette=PALETTE,
        **data,
        **context,
    )


async def refusal(
    ctx: Ctx,
    member: Member,
    error: DomainError,
    *,
    at: str,
    draft: Mapping[str, Any] | None = None,
    placed: bool = False,
) -> Outcome:
    """A refused change: nothing of it kept, and its reason where the member acted (at the top
    when what was acted on is gone, unless ``placed`` says ``at`` already accounts for that)."""
    await ctx.db.rollback()  # nothing half-saved
    await ctx.db.refresh(member)  # a rollback forgets what was loaded
    where = PAGE if isinstance(error, NotFound) and not placed else at
    return Outcome(error=translate_error(error, member.language), at=where, draft=draft or {})


async def act(
    request: Request,
    ctx: Ctx,
    member: Member,
    page: SettingsPage,
    change: Callable[[], Awaitable[object]],
    *,
    at: str,
    notice: str | Callable[[Any], str] | None = None,
    notice_at: str | None = None,
    draft: Mapping[str, Any] | None = None,
    quiet: bool = False,
    done_at: Callable[[Any], str] | None = None,
    failed_at: Callable[[DomainError], str] | None = None,
) -> Response:
    """Run one change; answer with the fresh panel (htmx) or a redirect, or with the error.

    A ``notice`` or ``done_at`` given as a function is told what the change answered (a new
    item: its name, its row); ``failed_at`` places a refusal by the error (one step of several).
    """
    if not is_manager(member):
        return await refused(request, ctx, member)
    try:
        result = await change()
    except DomainError as error:
        if failed_at is None:
            failed = await refusal(ctx, member, error, at=at, draft=draft)
        else:
            failed = await refusal(
                ctx, member, error, at=failed_at(error), draft=draft, placed=True
            )
        return await show(request, ctx, member, page, outcome=failed, status_code=error.status_code)
    if not is_htmx(request):
        # Post/redirect/get: a reload does not post again.
        return RedirectResponse(f"{page.path}?saved=1", status_code=303)
    if callable(notice):
        notice = notice(result)
    done = Outcome(
        notice=notice or translated(member, N_("Saved.")),
        at=done_at(result) if done_at is not None else notice_at or at,
        # Kept for the choices worth keeping (the folder of the next tag); texts start empty.
        draft=draft or {},
        quiet=quiet,
    )
    return await show(request, ctx, member, page, outcome=done)


# --- small helpers the pages share ------------------------------------------------------------


def as_id(value: str) -> int | None:
    """A select's id (``""``: none)."""
    value = value.strip()
    return int(value) if value.isdigit() else None


def as_ids(values: Sequence[str]) -> list[int]:
    return [int(value) for value in values if value.strip().isdigit()]


def moved(ids: Sequence[int], item_id: int, direction: str) -> list[int]:
    """The order with one item a step up or down (at an end, unchanged)."""
    order = list(ids)
    if item_id not in order:
        return order
    index = order.index(item_id)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    return order


def moved_notice(member: Member, direction: str) -> str:
    if direction == "up":
        return translated(member, N_("Moved up."))
    return translated(member, N_("Moved down."))


def form_text(value: object) -> str:
    """A textarea's text as typed: browsers send line breaks as CR LF, which count twice."""
    return str(value or "").replace("\r\n", "\n")


def choices_from(text: str) -> list[str]:
    """A select field's choices, one a line."""
    return [line.strip() for line in text.splitlines() if line.strip()]


class InFolder(Protocol):
    @property
    def folder_id(self) -> int | None: ...


Item = TypeVar("Item", bound=InFolder)


def by_folder(items: Iterable[Item]) -> dict[int | None, list[Item]]:
    """Items by the folder they are in (``None``: outside any), each list in their order."""
    found: dict[int | None, list[Item]] = {}
    for item in items:
        found.setdefault(item.folder_id, []).append(item)
    return found
