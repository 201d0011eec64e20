"""The worker's part of automation: act on the noted triggers (``automation.triggers``),
oldest first, each in a transaction of its own that also deletes it: a trigger is acted on
once, whichever process takes it (SKIP LOCKED on PostgreSQL; one writer on SQLite), and a
restart finds what was not done yet."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import delete, func, select

from madoguchi.automation import rules
from madoguchi.automation.models import Rule, Trigger
from madoguchi.broadcasts import steps
from madoguchi.kit.context import Ctx

log = logging.getLogger(__name__)
BATCH = 200

CtxFactory = Callable[[], contextlib.AbstractAsyncContextManager[Ctx]]


async def listened(ctx: Ctx) -> set[str]:
    """The kinds of trigger something waits for: an enabled rule's ``when``, and what the step
    sequences wait for (``broadcasts.steps.listened``)."""
    kinds = set(await ctx.db.scalars(select(Rule.when).where(Rule.enabled).distinct()))
    return kinds | await steps.listened(ctx.db)


async def run_due(make_ctx: CtxFactory, *, limit: int = BATCH) -> int:
    """Act on up to ``limit`` triggers; what nothing waits for is dropped in one statement.
    How many were acted on."""
    async with make_ctx() as ctx:
        kinds = await listened(ctx)
        top = await ctx.db.scalar(select(func.max(Trigger.id)))
        if top is None:
            return 0
        await ctx.db.execute(
            delete(Trigger).where(Trigger.id <= top, Trigger.kind.not_in(kinds or {""}))
        )
        await ctx.commit()
    done = 0
    while kinds and done < limit:
        async with make_ctx() as ctx:
            try:
                acted = await _act_on_next(ctx, kinds)
            except Exception:
                # A fault of ours, not of the rule: logged, and the trigger is not retried for
                # ever ahead of the others.
                log.exception("automation trigger failed")
                await ctx.db.rollback()
                await _drop_oldest(ctx, kinds)
                acted = True
        if not acted:
            break
        done += 1
    return done


async def _next(ctx: Ctx, kinds: set[str]) -> Trigger | None:
    return await ctx.db.scalar(
        select(Trigger)
        .where(Trigger.kind.in_(kinds))
        .order_by(Trigger.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def _act_on_next(ctx: Ctx, kinds: set[str]) -> bool:
    async with ctx.atomic():
        trigger = await _next(ctx, kinds)
        if trigger is None:
            return False
        await rules.run_rules(ctx, trigger, await rules.list_rules(ctx.db))
        try:
            # The step sequences' part: a fault of it undoes only itself, not the rules' work.
            async with ctx.savepoint():
                await steps.on_trigger(ctx, trigger)
        except Exception:
            log.exception("step sequences failed on trigger %s", trigger.id)
        await ctx.db.delete(trigger)
    return True


async def _drop_oldest(ctx: Ctx, kinds: set[str]) -> None:
    async with ctx.atomic():
        trigger = await _next(ctx, kinds)
        if trigger is not None:
            await ctx.db.delete(trigger)
