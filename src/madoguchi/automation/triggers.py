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

from sqlalchemy import CompoundSelect, exists, literal, select, union

from madoguchi.automation.models import Rule, Trigger
from madoguchi.broadcasts.models import EnrollmentState, SequenceEnrollment, StepSequence
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import insert_into, table_of

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
    # Plain columns (the tables', not the mapped classes'): a writer runs it straight through
    # the driver (kit.direct).
    rules, sequences = table_of(Rule).c, table_of(StepSequence).c
    enrollments = table_of(SequenceEnrollment).c
    replied = exists().where(
        sequences.stop_on_reply,
        exists().where(
            enrollments.sequence_id == sequences.id,
            enrollments.state == EnrollmentState.active,
        ),
    )
    return union(
        select(rules.when).where(rules.enabled),
        select(sequences.trigger_kind).where(sequences.enabled),
        select(literal(MESSAGE_RECEIVED)).where(replied),
    )


@cache
def listened() -> CompoundSelect[Any]:
    """``listening``, built once: every batch of inbound messages asks it, and the runner."""
    return listening()


async def note(ctx: Ctx, *facts: Fact) -> None:
    """Note facts for automation in the caller's transaction: the kinds listened for read in
    one statement, and the facts of those kinds written in one more (none when nothing waits
    for them, as for a shop without rules: a batch of messages' facts once cost an INSERT …
    SELECT each, issue 14's ingest)."""
    chain = _cause.get()
    if not facts or len(chain) >= MAX_CHAIN:
        return
    kinds = set((await ctx.db.execute(listened())).scalars())
    heard = [fact for fact in facts if fact.kind in kinds]
    if not heard:
        return
    await ctx.db.execute(
        insert_into(table_of(Trigger)),
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
            for fact in heard
        ],
    )
