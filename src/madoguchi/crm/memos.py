"""Memos (メモ): a title and a body about a contact, in the order members give them."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.audit import service as audit
from madoguchi.crm.contact import get_contact
from madoguchi.crm.models import Memo
from madoguchi.events.types import ContactUpdated
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.ids import is_id
from madoguchi.kit.ordering import reorder
from madoguchi.members.models import Member

TITLE_LIMIT = 100
BODY_LIMIT = 5000
# How much of an untitled memo's body names it in the audit log's order.
LABEL_LENGTH = 20


def _clean(title: str, body: str) -> tuple[str, str]:
    title, body = title.strip(), body.strip()
    if len(title) > TITLE_LIMIT:
        raise Invalid("A memo's title can be at most %(n)d characters.", n=TITLE_LIMIT)
    if len(body) > BODY_LIMIT:
        raise Invalid("A memo can be at most %(n)d characters.", n=BODY_LIMIT)
    if not title and not body:
        raise Invalid("The memo is empty.")
    return title, body


async def list_memos(db: AsyncSession, *, contact_id: int) -> list[Memo]:
    await get_contact(db, contact_id=contact_id)
    return list(
        await db.scalars(
            select(Memo).where(Memo.contact_id == contact_id).order_by(Memo.position, Memo.id)
        )
    )


async def get_memo(db: AsyncSession, *, contact_id: int, memo_id: int) -> Memo:
    memo = await db.get(Memo, memo_id) if is_id(memo_id) else None
    if memo is None or memo.contact_id != contact_id:
        raise NotFound("No memo with id %(id)s for this contact.", id=memo_id)
    return memo


async def create_memo(
    ctx: Ctx, *, contact_id: int, title: str, body: str, author: Member | None
) -> Memo:
    """A new memo, at the top of the contact's memos."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    memo = await add_memo(ctx, contact_id=contact_id, title=title, body=body, author=author)
    audit.record(
        ctx,
        action="memo.created",
        subject=f"memo {memo.id}",
        name=contact.display_name,
        after={"title": memo.title, "body": memo.body},
        detail={"contact_id": contact_id},
    )
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="memos"))
    return memo


async def add_memo(
    ctx: Ctx, *, contact_id: int, title: str, body: str, author: Member | None
) -> Memo:
    """A new memo at the top of the contact's memos, inside the caller's transaction (nothing
    committed here: an import commits many at once)."""
    title, body = _clean(title, body)
    first = await ctx.db.scalar(
        select(func.min(Memo.position)).where(Memo.contact_id == contact_id)
    )
    memo = Memo(
        contact_id=contact_id,
        title=title,
        body=body,
        position=0 if first is None else first - 1,
        author_id=author.id if author else None,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(memo)
    await ctx.db.flush()
    return memo


async def update_memo(
    ctx: Ctx, *, contact_id: int, memo_id: int, title: str | None, body: str | None
) -> Memo:
    memo = await get_memo(ctx.db, contact_id=contact_id, memo_id=memo_id)
    before = {"title": memo.title, "body": memo.body}
    memo.title, memo.body = _clean(
        memo.title if title is None else title, memo.body if body is None else body
    )
    audit.record_changes(
        ctx,
        action="memo.updated",
        subject=f"memo {memo.id}",
        name=(await get_contact(ctx.db, contact_id=contact_id)).display_name,
        before=before,
        after={"title": memo.title, "body": memo.body},
        detail={"contact_id": contact_id},
    )
    memo.updated_at = ctx.now()
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="memos"))
    return memo


async def delete_memo(ctx: Ctx, *, contact_id: int, memo_id: int) -> None:
    memo = await get_memo(ctx.db, contact_id=contact_id, memo_id=memo_id)
    audit.record(
        ctx,
        action="memo.deleted",
        subject=f"memo {memo.id}",
        name=(await get_contact(ctx.db, contact_id=contact_id)).display_name,
        before={"title": memo.title, "body": memo.body},
        detail={"contact_id": contact_id},
    )
    await ctx.db.delete(memo)
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="memos"))


async def move_memo(ctx: Ctx, *, contact_id: int, memo_id: int, direction: str) -> bool:
    """The keyboard's way to reorder: the memo one step ``"up"`` or down, among the contact's
    memos. Whether it moved (at an end it stays, and nothing is published)."""
    await get_memo(ctx.db, contact_id=contact_id, memo_id=memo_id)
    order = [memo.id for memo in await list_memos(ctx.db, contact_id=contact_id)]
    index = order.index(memo_id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(order):
        return False
    order[index], order[other] = order[other], order[index]
    await reorder_memos(ctx, contact_id=contact_id, ids=order)
    return True


def _memo_label(memo: Memo) -> str:
    """A memo as the audit log lists it in an order: its title, else the start of its body
    (an imported memo has no title)."""
    if memo.title:
        return memo.title
    first = memo.body.splitlines()[0] if memo.body else ""
    return first if len(first) <= LABEL_LENGTH else first[:LABEL_LENGTH] + "…"


async def reorder_memos(ctx: Ctx, *, contact_id: int, ids: list[int]) -> list[Memo]:
    """Put the contact's memos in the order of ``ids`` (each exactly once)."""
    contact = await get_contact(ctx.db, contact_id=contact_id)
    current = await list_memos(ctx.db, contact_id=contact_id)
    before = [_memo_label(memo) for memo in current]
    memos = await reorder(ctx.db, Memo, ids, Memo.contact_id == contact_id)
    # Compared by id: two memos with the same title swapped are a change too.
    if [memo.id for memo in current] != [memo.id for memo in memos]:
        audit.record(
            ctx,
            action="memo.reordered",
            subject=f"contact {contact_id}",
            name=contact.display_name,
            before={"order": before},
            after={"order": [_memo_label(memo) for memo in memos]},
            detail={"ids_before": [memo.id for memo in current], "ids_after": ids},
        )
    await ctx.commit(ContactUpdated(contact_id=contact_id, part="memos"))
    return memos
