"""Automation triggers: the facts a rule (F28) or a step sequence (F32) may start on, noted in
the same transaction as the fact, by the one service that writes it (a customer's message in
``conversations.add_inbound``, a tag in ``crm.tags.attach``, a record, a form's answer). The
worker acts on them (``automation.runner``): once, across restarts and several processes,
without depending on the event bus. A fact of a kind nothing waits for (``listening``) is not
noted: the statement that notes it decides, so a salon without rules or step sequences pays no
row, no worker statement and no deletion for each message (issue 14).

What a rule's actions cause carries the rules that caused it (``chain``): a rule never runs on
its own change, and two rules cannot set each other off for ever."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from sqlalchemy import CompoundSelect, Insert, bindparam, exists, insert, literal, select, union

from madoguchi.automation.models import Rule, Trigger
from madoguchi.broadcasts.models import EnrollmentState, SequenceEnrollment, StepSequence
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import table_of

MESSAGE_RECEIVED: Final = "message.received"
CONVERSATION_OPENED: Final = "conversation.opened"
FIRST_MESSAGE: Final = "first_message"
TAG_ADDED: Final = "tag.added"
FORM_ANSWERED: Final = "form.answered"
RECORD_ADDED: Final = "record.added"
KINDS: Final = (
    MESSAGE_RECEIVED,
    CONVERSATION_OPENED,
    FIRST_MESSAGE,
    TAG_ADDED,
    FORM_ANSWERED,
    RECORD_ADDED,
)
# How many rules deep one fact may go (a rule's tag starting another rule…).
MAX_CHAIN: Final = 5

_cause: ContextVar[tuple[int, ...]] = ContextVar("automation_cause", default=())


@contextlib.contextmanager
def caused_by(chain: tuple[int, ...]) -> Iterator[None]:
    """What is noted inside this block was caused by these rules (the last one running now)."""
    token = _cause.set(chain)
    try:
        yield
    finally:
        _cause.reset(token)


@dataclass(frozen=True)
class Fact:
    """One thing that happened, as automation is told of it."""

    kind: str
    contact_id: int
    conversation_id: int | None = None
    message_id: int | None = None
    # The tag added, the form answered, the record book written in.
    subject_id: int | None = None


def listening() -> CompoundSelect[Any]:
    """The kinds of trigger something waits for: an enabled rule's ``when``, what an enabled step
    sequence starts on, and a customer's message while someone is in a sequence that stops on a
    reply (sequences first: there are few of them, and many people in some)."""
    replied = exists().where(
        StepSequence.stop_on_reply,
        exists().where(
            SequenceEnrollment.sequence_id == StepSequence.id,
            SequenceEnrollment.state == EnrollmentState.active,
        ),
    )
    return union(
        select(Rule.when).where(Rule.enabled),
        select(StepSequence.trigger_kind).where(StepSequence.enabled),
        select(literal(MESSAGE_RECEIVED)).where(replied),
    )


@cache
def _noting() -> Insert:
    """A fact's row, written only where its kind is listened for (``listening``): built once."""
    table = table_of(Trigger)
    names = ("kind", "contact_id", "conversation_id", "message_id", "subject_id", "chain")
    given = [bindparam(name, type_=table.c[name].type) for name in (*names, "created_at")]
    return insert(table).from_select(
        [*names, "created_at"], select(*given).where(given[0].in_(listening()))
    )


async def note(ctx: Ctx, *facts: Fact) -> None:
    """Note facts for automation in the caller's transaction, in one statement (none for a kind
    nothing waits for)."""
    chain = _cause.get()
    if not facts or len(chain) >= MAX_CHAIN:
        return
    await ctx.db.execute(
        _noting(),
        [
            {
                "kind": fact.kind,
                "contact_id": fact.contact_id,
                "conversation_id": fact.conversation_id,
                "message_id": fact.message_id,
                "subject_id": fact.subject_id,
                "chain": list(chain),
                "created_at": ctx.now(),
            }
            for fact in facts
        ],
    )
