"""The worker's part of automation: act on the noted triggers (``automation.triggers``),
oldest first, each in a transaction of its own that also deletes it: a trigger is acted on
once, whichever process takes it (SKIP LOCKED on PostgreSQL; one writer on SQLite), and a
restart finds what was not done yet."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import Select, delete, func, select

from madoguchi.automation import rules, triggers
from madoguchi.automation.models import Trigger
from madoguchi.broadcasts import steps
from madoguchi.kit.context import Ctx

log = logging.getLogger(__name__)
BATCH = 200

CtxFactory = Callable[[], contextlib.AbstractAsyncContextManager[Ctx]]


async def run_due(make_ctx: CtxFactory, *, limit: int = BATCH * 5) -> int:
    """Act on up to ``limit`` triggers, a batch per transaction; what nothing waits for any
    more (a rule switched off since) is dropped in one statement. How many were acted on."""
    async with make_ctx() as ctx:
        top = await ctx.db.scalar(select(func.max(Trigger.id)))
        if top is None:
            return 0
        kinds = set(await ctx.db.scalars(triggers.listened()))
        await ctx.db.execute(
            delete(Trigger).where(Trigger.id <= top, Trigger.kind.not_in(kinds or {""}))
        )
        await ctx.commit()
    done = 0
    size = BATCH
    while kinds and done < limit:
        async with make_ctx() as ctx:
            try:
                acted = await _act_on_batch(ctx, kinds, size)
            except Exception:
                await ctx.db.rollback()
                if size > 1:
                    size = 1  # one at a time, to find the one that fails
                    continue
                # A fault of ours, not of a rule: logged, and the trigger is not retried for
                # ever ahead of the others.
                log.exception("automation trigger failed")
                acted = await _drop_oldest(ctx, kinds)
        if not acted:
            break
        done += acted
    return done


def _next(kinds: set[str], size: int) -> Select[Trigger]:
    return (
        select(Trigger)
        .where(Trigger.kind.in_(kinds))
        .order_by(Trigger.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )


async def _act_on_batch(ctx: Ctx, kinds: set[str], size: int) -> int:
    """Up to ``size`` triggers, oldest first, in one transaction that deletes them: the rules
    read once, the messages' texts in one statement, each rule in a savepoint of its own."""
    async with ctx.atomic():
        batch = list(await ctx.db.scalars(_next(kinds, size)))
        if not batch:
            return 0
        every_rule = await rules.list_rules(ctx.db)
        texts = await rules.message_texts(ctx.db, batch, every_rule)
        sequences = await steps.list_sequences(ctx.db)
        for trigger in batch:
            text = texts.get(trigger.message_id) if trigger.message_id is not None else None
            await rules.run_rules(ctx, trigger, every_rule, text=text)
            try:
                # The step sequences' part: a fault of it undoes only itself, not the rules'.
                async with ctx.savepoint():
                    await steps.on_trigger(ctx, trigger, sequences)
            except Exception:
                log.exception("step sequences failed on trigger %s", trigger.id)
        await ctx.db.execute(delete(Trigger).where(Trigger.id.in_([t.id for t in batch])))
    return len(batch)


async def _drop_oldest(ctx: Ctx, kinds: set[str]) -> int:
    async with ctx.atomic():
        trigger = await ctx.db.scalar(_next(kinds, 1))
        if trigger is None:
            return 0
        await ctx.db.delete(trigger)
    return 1
