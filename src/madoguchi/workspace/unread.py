"""Whose 未確認 the lists show: the team's one state per conversation (``team``, the default),
or each member's own (``member``), a workspace setting kept in the database."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ColumnElement, and_
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.workspace.models import WorkspaceValue

UNREAD_KEY = "unread"


class UnreadMode(StrEnum):
    team = "team"
    member = "member"


async def unread_mode(db: AsyncSession) -> UnreadMode:
    """The chosen meaning of 未確認 (an unknown stored value reads as the default)."""
    row = await db.get(WorkspaceValue, UNREAD_KEY)
    if row is None or row.value not in set(UnreadMode):
        return UnreadMode.team
    return UnreadMode(row.value)


def per_member_chosen() -> ColumnElement[bool]:
    """``unread_mode`` as a condition on ``workspace_values``: true on the one row that says
    "member" (anything else reads as the team's), for a statement that reads the mode with the
    rows it decides (the inbox page's unread counts)."""
    return and_(WorkspaceValue.key == UNREAD_KEY, WorkspaceValue.value == UnreadMode.member.value)


async def set_unread_mode(db: AsyncSession, mode: UnreadMode) -> None:
    """Store the choice in the caller's transaction."""
    row = await db.get(WorkspaceValue, UNREAD_KEY)
    if row is None:
        db.add(WorkspaceValue(key=UNREAD_KEY, value=mode.value))
    else:
        row.value = mode.value


def parse_mode(value: str) -> UnreadMode:
    if value not in set(UnreadMode):
        raise Invalid("unread must be team or member.")
    return UnreadMode(value)


async def choose_unread_mode(ctx: Ctx, mode: UnreadMode, *, commit: bool = True) -> None:
    """Store the choice and commit (unless another change commits with it). The team's state
    is kept whichever is shown, so switching back finds it true."""
    before = await unread_mode(ctx.db)
    await set_unread_mode(ctx.db, mode)
    audit.record_changes(
        ctx,
        action="settings.changed",
        subject="setting",
        name="unread",
        before={"unread": before},
        after={"unread": mode},
    )
    if commit:
        await ctx.commit()
