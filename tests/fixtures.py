"""Making the things tests need, through the same service functions the app uses."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, event

from madoguchi.channels import service as channels
from madoguchi.channels.models import Channel
from madoguchi.connectors import inbound
from madoguchi.contacts import repository
from madoguchi.conversations.service import Ingested
from madoguchi.crm import filters
from madoguchi.kit.context import Ctx
from madoguchi.members import service as members
from madoguchi.members.models import Member
from madoguchi.workspace.unread import UnreadMode, choose_unread_mode

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class Factory:
    ctx: Ctx

    async def member(self, *, role: str = "agent", name: str | None = None) -> Member:
        n = next(_counter)
        return await members.create_member(
            self.ctx,
            email=f"member{n}@example.com",
            name=name or f"スタッフ{n}",
            role=role,
            password=PASSWORD,
        )

    async def token(self, member: Member) -> str:
        return await members.create_token(self.ctx, member=member)

    async def unread_per_member(self) -> None:
        """The workspace keeps 未確認 per member instead of the team's (issue 13)."""
        await choose_unread_mode(self.ctx, UnreadMode.member)

    async def channel(self, *, kind: str = "api", name: str = "API") -> Channel:
        return await channels.create_channel(self.ctx, kind=kind, name=name)

    async def tag_and_status(self, contact_id: int, *, tag_id: int, status_id: int) -> None:
        """Give the contact a tag and a status, as a member would."""
        from madoguchi.contacts import service as contacts
        from madoguchi.crm import tags

        await tags.add_tag(self.ctx, contact_id=contact_id, tag_id=tag_id)
        await contacts.update_contact(
            self.ctx,
            contact_id=contact_id,
            changes=contacts.ContactChanges(status=status_id, set_status=True),
        )

    async def inbound(
        self,
        channel: Channel,
        *,
        contact: str = "customer-1",
        name: str | None = "山田 花子",
        text: str = "こんにちは",
        external_id: str | None = None,
    ) -> Ingested:
        return await inbound.receive(
            self.ctx,
            inbound.Inbound(
                channel_id=channel.id,
                kind=channel.kind,
                sender=contact,
                name=name,
                text=text,
                message_id=external_id,
                exact=True,
            ),
        )


async def contact_pages(
    ctx: Ctx,
    q: str,
    *,
    limit: int,
    sort: repository.ContactSort = repository.ContactSort.newest,
    also: Sequence[filters.Condition] = (),
) -> list[int]:
    """Every contact the contact list searched for ``q`` (and ``also``) finds, page after page."""
    ids: list[int] = []
    cursor: int | None = None
    while True:
        page = await repository.list_contacts(
            ctx.db,
            conditions=[*filters.from_params(q=q), *also],
            member_id=None,
            timezone="Asia/Tokyo",
            limit=limit,
            before_id=cursor,
            sort=sort,
        )
        ids += [contact.id for contact in page.contacts]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


@contextmanager
def statements_run() -> Iterator[list[str]]:
    """Every statement the engines of this process run while it is open, each on one line."""
    run: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        run.append(" ".join(sql.split()))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield run
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


@contextmanager
def parameters_run(marker: str) -> Iterator[list[tuple[str, Any]]]:
    """The statements run meanwhile whose SQL holds ``marker``, each (SQL, parameters):
    statements_run keeps the SQL alone, and a statement's plan needs its parameters."""
    found: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_args: Any) -> None:
        if marker in sql:
            found.append((sql, parameters))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


def steps_run() -> AbstractContextManager[list[tuple[str, Any]]]:
    """The steps of a search's walk run meanwhile (the inbox's entries, the contact list's
    blocks), each (SQL, parameters)."""
    return parameters_run(") AS stepped JOIN")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], *, seconds: float = 30) -> T:
    """What ``check`` finds once it finds it (not None), for what a server does after it has
    answered: a webhook body's events are stored right after its 200 (connectors.webhooks)."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not found within {seconds} s")
        await asyncio.sleep(0.05)
