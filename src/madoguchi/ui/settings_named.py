"""The routes every named list on a settings page has (add, rename, move, reorder, delete),
written once: a list is described by a ``NamedList`` and ``register`` adds its routes.

Statuses, marks, tags and their folders, conversation tags, fields and their folders, record
books and templates are such lists. What a list's form sends beyond a name, a colour and a folder
(a field's key, type and choices; a template's text and images) stays a route of its own beside
the registered ones, and so do a record book's fields, which are not rows but a list kept whole
in the book.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from madoguchi.kit.context import Ctx
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.models import Member
from madoguchi.ui.settings_pages import (
    N_,
    PAGE,
    FormText,
    SettingsPage,
    act,
    as_id,
    as_ids,
    chosen_color,
    moved,
    moved_notice,
    translated,
)


@dataclass(frozen=True)
class Named:
    """What a form sent for one item: its name and, on a coloured list, its colour; on a list
    with folders, the folder it goes in (``None``: outside any)."""

    name: str
    color: str = ""
    folder: int | None = None
    # False when the form left the name out (a mark whose name is fixed sends only its colour).
    name_sent: bool = True


@dataclass(frozen=True)
class NamedList:
    """One list: its page, the path its routes hang from, and the service calls behind them.

    The rows of the list are ``{key}-{id}`` on the page and the form that adds one is
    ``new-{key}``: where a notice or a refusal is shown. A route is registered for each call
    given (``order`` and ``ids`` together give both the drag's order and the one-step move).
    """

    page: SettingsPage
    path: str
    key: str
    colored: bool = False
    # The form field naming the folder an item goes in ("folder_id"; a folder's "parent_id").
    folder_field: str | None = None
    create: Callable[[Ctx, Member, Named], Awaitable[object]] | None = None
    added: str = ""  # N_("Added … %(name)s.")
    rename: Callable[[Ctx, Member, int, Named], Awaitable[object]] | None = None
    delete: Callable[[Ctx, Member, int], Awaitable[object]] | None = None
    deleted: str = ""  # N_("Deleted … %(name)s.")
    ids: Callable[[Ctx], Awaitable[list[int]]] | None = None  # the order now
    order: Callable[[Ctx, list[int]], Awaitable[object]] | None = None
    # On a list ordered inside its folders (fields): the items one moves among (its folder's),
    # in order. A move or a drag then reorders those only, in the places they hold.
    group: Callable[[Ctx, int], Awaitable[list[int]]] | None = None

    async def typed(
        self,
        name: Annotated[str | None, Form()] = None,
        color: FormText = "",
        custom_color: FormText = "",
        folder_id: FormText = "",
        parent_id: FormText = "",
    ) -> Named:
        """What an add or update form sent (the routes' dependency; async, so not run in a
        thread of the pool)."""
        picked = chosen_color(color, custom_color) if self.colored else ""
        folder = parent_id if self.folder_field == "parent_id" else folder_id
        in_folder = as_id(folder) if self.folder_field else None
        return Named(name or "", picked, in_folder, name_sent=name is not None)

    def draft(self, item: Named) -> dict[str, Any]:
        """What was typed, given back to the form (a folder choice also to the next one)."""
        typed: dict[str, Any] = {"name": item.name}
        if self.colored:
            typed["color"] = item.color
        if self.folder_field:
            typed[self.folder_field] = item.folder
        return typed

    def register(self, router: APIRouter) -> None:
        if self.create is not None:
            self._add_create(router, self.create)
        if self.rename is not None:
            self._add_rename(router, self.rename)
        if self.ids is not None and self.order is not None:
            self._add_move(router, self.ids, self.order)
        if self.delete is not None:
            self._add_delete(router, self.delete)

    def _route(
        self, router: APIRouter, path: str, name: str, endpoint: Callable[..., Awaitable[Response]]
    ) -> None:
        router.add_api_route(path, endpoint, methods=["POST"], name=f"{self.key}_{name}")

    def _add_create(
        self, router: APIRouter, create: Callable[[Ctx, Member, Named], Awaitable[object]]
    ) -> None:
        async def add(
            request: Request, member: MemberDep, ctx: CtxDep, item: Named = Depends(self.typed)
        ) -> Response:
            return await act(
                request,
                ctx,
                member,
                self.page,
                lambda: create(ctx, member, item),
                at=f"new-{self.key}",
                notice=translated(member, self.added, name=item.name.strip()),
                draft=self.draft(item),
            )

        self._route(router, self.path, "add", add)

    def _add_rename(
        self, router: APIRouter, rename: Callable[[Ctx, Member, int, Named], Awaitable[object]]
    ) -> None:
        async def update(
            item_id: int,
            request: Request,
            member: MemberDep,
            ctx: CtxDep,
            item: Named = Depends(self.typed),
        ) -> Response:
            return await act(
                request,
                ctx,
                member,
                self.page,
                lambda: rename(ctx, member, item_id, item),
                at=f"{self.key}-{item_id}",
                draft=self.draft(item),
            )

        self._route(router, f"{self.path}/{{item_id}}/update", "update", update)

    def _add_move(
        self,
        router: APIRouter,
        current: Callable[[Ctx], Awaitable[list[int]]],
        order: Callable[[Ctx, list[int]], Awaitable[object]],
    ) -> None:
        async def move(
            item_id: int,
            request: Request,
            member: MemberDep,
            ctx: CtxDep,
            direction: FormText = "",
        ) -> Response:
            """The keyboard's way to reorder: one step up or down."""

            async def change() -> object:
                now = await current(ctx)
                among = now if self.group is None else await self.group(ctx, item_id)
                return await order(ctx, regrouped(now, moved(among, item_id, direction)))

            return await act(
                request,
                ctx,
                member,
                self.page,
                change,
                at=f"{self.key}-{item_id}",
                notice=moved_notice(member, direction),
                quiet=True,
            )

        async def reorder(
            request: Request,
            member: MemberDep,
            ctx: CtxDep,
            ids: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies the default)
        ) -> Response:
            """The order after a drag (every item's id once; on a list ordered inside its
            folders, every id of one folder)."""

            async def change() -> object:
                if self.group is None:
                    return await order(ctx, as_ids(ids))
                now = await current(ctx)
                return await order(ctx, regrouped(now, [i for i in as_ids(ids) if i in now]))

            return await act(
                request,
                ctx,
                member,
                self.page,
                change,
                at=PAGE,
                notice=translated(member, N_("The new order is saved.")),
                quiet=True,
            )

        self._route(router, f"{self.path}/{{item_id}}/move", "move", move)
        self._route(router, f"{self.path}/order", "order", reorder)

    def _add_delete(
        self, router: APIRouter, delete: Callable[[Ctx, Member, int], Awaitable[object]]
    ) -> None:
        async def remove(
            item_id: int, request: Request, member: MemberDep, ctx: CtxDep, name: FormText = ""
        ) -> Response:
            return await act(
                request,
                ctx,
                member,
                self.page,
                lambda: delete(ctx, member, item_id),
                at=f"{self.key}-{item_id}",
                notice=translated(member, self.deleted, name=name),
                notice_at=PAGE,
            )

        self._route(router, f"{self.path}/{{item_id}}/delete", "delete", remove)


def regrouped(order: Sequence[int], group: Sequence[int]) -> list[int]:
    """The whole order with one group's items (say, one folder's fields) in a new order,
    in the places the group held."""
    members = set(group)
    queue = iter(group)
    return [next(queue) if item in members else item for item in order]
