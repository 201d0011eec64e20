"""The statistics' rollup, kept as messages are recorded (conversations.recording calls
:func:`note` for every message it stores and :func:`unnote` for every conversation it forgets),
and rebuilt from the stored messages by folding them through the same :func:`fold`.

What counts:
- a conversation opens with its first customer message or member's reply (a broadcast's copy
  alone opens nothing: the conversation starts when the customer answers);
- its first response is the first reply a member sends after the customer's first message;
- it is closed by the system line a close records (a member, a rule, auto-close) and open again
  by a reopen, a snooze, a customer's message or a reply; its resolution time runs from its
  opening to its last close;
- messages in are customers' messages, messages out are replies (a broadcast's copies are not).
Durations count the opening hours only when they are set (workspace.hours); days are those of
the workspace's time zone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, Select, bindparam, delete, select, text, update

from madoguchi.conversations.models import Conversation, Message, MessageKind
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import bulk_insert, table_of
from madoguchi.stats.models import ConversationFacts, DayCounts
from madoguchi.workspace.hours import OpeningHours, local_day, open_seconds, opening_hours

CLOSING = frozenset({"closed", "auto_closed", "rule_closed"})
REOPENING = frozenset({"reopened", "snoozed"})
NO_MEMBER = 0
_IDS_PER_STATEMENT = 5000


@dataclass(frozen=True)
class Counted:
    """A message as statistics read it."""

    conversation_id: int
    channel_id: int
    kind: str
    created_at: datetime
    sender_member_id: int | None = None
    broadcast: bool = False
    # A system line's event (conversations.workflow.SYSTEM_TEXT's keys).
    event: str | None = None
    # A customer's message that reopens a closed conversation (a blocked contact's does not).
    reopens: bool = True

    @classmethod
    def of(
        cls,
        *,
        conversation_id: int,
        channel_id: int,
        kind: str,
        created_at: datetime,
        sender_member_id: int | None,
        broadcast: bool,
        meta: dict[str, Any] | None,
        reopens: bool = True,
    ) -> Counted:
        event = (meta or {}).get("event") if kind == MessageKind.system else None
        return cls(
            conversation_id=conversation_id,
            channel_id=channel_id,
            kind=kind,
            created_at=created_at,
            sender_member_id=sender_member_id,
            broadcast=broadcast,
            event=event if isinstance(event, str) else None,
            reopens=reopens,
        )

    @property
    def is_reply(self) -> bool:
        return self.kind == MessageKind.reply and not self.broadcast

    @property
    def matters(self) -> bool:
        """Whether it changes a conversation's facts or a day's counts."""
        return (
            self.kind == MessageKind.inbound
            or self.is_reply
            or self.event in CLOSING
            or self.event in REOPENING
        )

    @property
    def needs_hours(self) -> bool:
        return (self.is_reply and self.sender_member_id is not None) or self.event in CLOSING


@dataclass
class Facts:
    """One conversation's row of ``stats_conversations``."""

    conversation_id: int
    opened_at: datetime
    opened_day: date
    first_inbound_at: datetime | None = None
    first_response_at: datetime | None = None
    first_response_seconds: int | None = None
    closed_at: datetime | None = None
    closed_day: date | None = None
    resolution_seconds: int | None = None
    # The conversation's, copied in when the row is made (0 until then).
    channel_id: int = 0
    assignee_id: int | None = None


def fold(
    facts: Facts | None, message: Counted, hours: OpeningHours | None, zone: ZoneInfo
) -> Facts | None:
    """The conversation's facts after this message (the same object, changed, or a new one)."""
    at = message.created_at
    if message.kind == MessageKind.inbound or message.is_reply:
        if facts is None:
            facts = Facts(message.conversation_id, opened_at=at, opened_day=local_day(at, zone))
        if message.kind == MessageKind.inbound:
            if facts.first_inbound_at is None:
                facts.first_inbound_at = at
            reopens = message.reopens
        else:
            if (
                message.sender_member_id is not None
                and facts.first_inbound_at is not None
                and facts.first_response_at is None
            ):
                facts.first_response_at = at
                facts.first_response_seconds = open_seconds(facts.first_inbound_at, at, hours, zone)
            reopens = True
        if reopens:
            _reopen(facts)
    elif facts is not None and message.event in CLOSING:
        facts.closed_at = at
        facts.closed_day = local_day(at, zone)
        facts.resolution_seconds = open_seconds(facts.opened_at, at, hours, zone)
    elif facts is not None and message.event in REOPENING:
        _reopen(facts)
    return facts


def _reopen(facts: Facts) -> None:
    facts.closed_at = facts.closed_day = facts.resolution_seconds = None


DayKey = tuple[date, int, int]


def day_count(message: Counted, zone: ZoneInfo) -> tuple[DayKey, int, int] | None:
    """The day row a message counts in, with what it adds (in, out)."""
    if message.kind == MessageKind.inbound:
        return (local_day(message.created_at, zone), message.channel_id, NO_MEMBER), 1, 0
    if message.is_reply:
        member = message.sender_member_id or NO_MEMBER
        return (local_day(message.created_at, zone), message.channel_id, member), 0, 1
    return None


def tally(messages: Iterable[Counted], zone: ZoneInfo) -> dict[DayKey, list[int]]:
    counts: dict[DayKey, list[int]] = {}
    for message in messages:
        counted = day_count(message, zone)
        if counted is not None:
            key, inbound, outbound = counted
            row = counts.setdefault(key, [0, 0])
            row[0] += inbound
            row[1] += outbound
    return counts


def zone_of(ctx: Ctx) -> ZoneInfo:
    return ZoneInfo(ctx.settings.timezone)


_FACT_COLUMNS = [field.name for field in dataclasses.fields(Facts)]


@cache
def _facts_of() -> Select[Any]:
    """The facts of the conversations given as ``ids``, with each conversation's channel and
    assignee (what a new row of facts takes; a row of facts goes with its conversation): one
    statement, built once (issue 14's ingest profile found building statements per message
    costing more than running them)."""
    table, conversations = table_of(ConversationFacts), table_of(Conversation)
    return (
        select(
            conversations.c.id,
            conversations.c.channel_id,
            conversations.c.assignee_id,
            *(table.c[name] for name in _FACT_COLUMNS),
        )
        .select_from(conversations)
        .outerjoin(table, table.c.conversation_id == conversations.c.id)
        .where(conversations.c.id.in_(bindparam("ids", expanding=True)))
    )


async def _load(
    ctx: Ctx, conversation_ids: Sequence[int]
) -> tuple[dict[int, Facts], dict[int, tuple[int, int | None]]]:
    """The stored facts of these conversations, and where each conversation is (channel,
    assignee)."""
    found: dict[int, Facts] = {}
    placed: dict[int, tuple[int, int | None]] = {}
    for start in range(0, len(conversation_ids), _IDS_PER_STATEMENT):
        chunk = conversation_ids[start : start + _IDS_PER_STATEMENT]
        rows = await ctx.db.execute(_facts_of(), {"ids": list(chunk)})
        for row in rows:
            cid, channel_id, assignee_id, *facts = row
            placed[cid] = (channel_id, assignee_id)
            if facts[0] is not None:
                found[cid] = Facts(**dict(zip(_FACT_COLUMNS, facts, strict=True)))
    return found, placed


async def note(ctx: Ctx, messages: Sequence[Counted]) -> None:
    """Count messages just recorded, in the order given, in the caller's transaction."""
    relevant = [message for message in messages if message.matters]
    if not relevant:
        return
    zone = zone_of(ctx)
    hours = await opening_hours(ctx.db) if any(m.needs_hours for m in relevant) else None
    ids = sorted({message.conversation_id for message in relevant})
    stored, placed = await _load(ctx, ids)
    before = {cid: dataclasses.replace(facts) for cid, facts in stored.items()}
    current: dict[int, Facts | None] = dict(stored)
    for message in relevant:
        current[message.conversation_id] = fold(
            current.get(message.conversation_id), message, hours, zone
        )
    added = [f for cid, f in current.items() if f is not None and cid not in before]
    for f in added:
        # New rows take their conversation's channel and assignee.
        f.channel_id, f.assignee_id = placed.get(f.conversation_id, (0, None))
    changed = [f for cid, f in current.items() if f is not None and cid in before]
    changed = [f for f in changed if f != before[f.conversation_id]]
    await write_facts(ctx, added)
    if changed:
        table = table_of(ConversationFacts)
        await ctx.db.execute(
            update(table)
            .where(table.c.conversation_id == bindparam("_id"))
            .values({name: bindparam(f"_{name}") for name in _FACT_COLUMNS[1:]}),
            [
                {"_id": f.conversation_id, **{f"_{k}": v for k, v in _values(f).items()}}
                for f in changed
            ],
        )
    await add_counts(ctx, tally(relevant, zone))


async def reassign(ctx: Ctx, *, conversation_id: int, member_id: int | None) -> None:
    """The conversation's assignee changed (conversations.workflow.assign)."""
    table = table_of(ConversationFacts)
    await ctx.db.execute(
        update(table)
        .where(table.c.conversation_id == conversation_id)
        .values(assignee_id=member_id)
    )


def _values(facts: Facts) -> dict[str, Any]:
    # Not dataclasses.asdict: its deep copy costs more than the rest of a loader's row.
    return {name: getattr(facts, name) for name in _FACT_COLUMNS[1:]}


async def write_facts(ctx: Ctx, facts: Sequence[Facts]) -> None:
    """Insert new rows of facts (rows the rebuild or a first message makes)."""
    await bulk_insert(
        ctx.db,
        table_of(ConversationFacts),
        [{name: getattr(f, name) for name in _FACT_COLUMNS} for f in facts],
    )


_ADD_COUNTS = text(
    "INSERT INTO stats_days (day, channel_id, member_id, messages_in, messages_out) "
    "VALUES (:day, :channel_id, :member_id, :messages_in, :messages_out) "
    "ON CONFLICT (day, channel_id, member_id) DO UPDATE "
    "SET messages_in = stats_days.messages_in + excluded.messages_in, "
    "messages_out = stats_days.messages_out + excluded.messages_out"
).bindparams(bindparam("day", type_=Date()))


async def add_counts(ctx: Ctx, counts: dict[DayKey, list[int]], *, sign: int = 1) -> None:
    if not counts:
        return
    await ctx.db.execute(
        _ADD_COUNTS,
        [
            {
                "day": day,
                "channel_id": channel_id,
                "member_id": member_id,
                "messages_in": sign * inbound,
                "messages_out": sign * outbound,
            }
            for (day, channel_id, member_id), (inbound, outbound) in sorted(counts.items())
        ],
    )


async def unnote(ctx: Ctx, conversation_ids: Sequence[int]) -> None:
    """Take the messages of conversations about to be deleted out of the day counts (their
    facts go with them: the foreign key cascades)."""
    if not conversation_ids:
        return
    zone = zone_of(ctx)
    counted: list[Counted] = []
    for start in range(0, len(conversation_ids), _IDS_PER_STATEMENT):
        chunk = conversation_ids[start : start + _IDS_PER_STATEMENT]
        rows = await ctx.db.execute(
            select(
                Message.conversation_id,
                Message.channel_id,
                Message.kind,
                Message.created_at,
                Message.sender_member_id,
                Message.broadcast,
            ).where(
                Message.conversation_id.in_(chunk),
                Message.kind.in_([MessageKind.inbound, MessageKind.reply]),
            )
        )
        counted += [
            Counted(
                conversation_id=row.conversation_id,
                channel_id=row.channel_id,
                kind=row.kind,
                created_at=row.created_at,
                sender_member_id=row.sender_member_id,
                broadcast=row.broadcast,
            )
            for row in rows
        ]
    counts = tally(counted, zone)
    await add_counts(ctx, counts, sign=-1)
    if counts:
        days = table_of(DayCounts)
        await ctx.db.execute(
            delete(days).where(
                days.c.day.in_(sorted({key[0] for key in counts})),
                days.c.messages_in == 0,
                days.c.messages_out == 0,
            )
        )
