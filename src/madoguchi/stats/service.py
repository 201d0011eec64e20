"""Statistics for a period (F39), read from the rollup (stats.rollup), and its rebuild.

A period is a range of days in the workspace's time zone, at most two years. Conversations
opened in it give ``opened`` and the first response times; conversations last closed in it give
``closed`` and the resolution times; messages are counted on the day they were sent. Members are
the conversations' assignees (messages out: the reply's sender). Median: the middle value (the
mean of the two middle ones); p90: the nearest-rank 90th percentile; both in whole seconds.
"""

from __future__ import annotations

import io
import math
import statistics as pystats
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import IO, Any

from sqlalchemy import Select, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from madoguchi.channels.models import Channel
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import (
    Conversation,
    ConversationTag,
    ConversationTagging,
    Message,
    MessageKind,
)
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid
from madoguchi.kit.i18n import N_, gettext_for
from madoguchi.kit.spreadsheet import CsvWriter
from madoguchi.members.models import Member
from madoguchi.stats import rollup
from madoguchi.stats.models import ConversationFacts, DayCounts
from madoguchi.workspace.hours import opening_hours

# The longest period asked at once: two years (a leap day included).
MAX_DAYS = 731


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


def _day(value: str, name: str) -> date:
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("%(name)s must be a date written YYYY-MM-DD.", name=name) from None


def parse_period(first: str | None, last: str | None) -> Period:
    """The period ``from``–``to`` (both days included), checked."""
    if not first or not last:
        raise Invalid("Give the period as from=YYYY-MM-DD and to=YYYY-MM-DD.")
    period = Period(_day(first.strip(), "from"), _day(last.strip(), "to"))
    if period.first > period.last:
        raise Invalid("The period starts after it ends: from must not be later than to.")
    if (period.last - period.first).days + 1 > MAX_DAYS:
        raise Invalid("A period can be at most two years long.")
    return period


def this_week(today: date) -> Period:
    monday = today - timedelta(days=today.weekday())
    return Period(monday, monday + timedelta(days=6))


def this_month(today: date) -> Period:
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1))


@dataclass(frozen=True)
class Filters:
    """Narrow the conversations counted: an assignee, a conversation tag, a channel."""

    member_id: int | None = None
    tag_id: int | None = None
    channel_id: int | None = None


async def check_filters(db: AsyncSession, filters: Filters) -> None:
    """An unknown member, tag or channel is refused (not an empty answer)."""
    for model, ident, message in (
        (Member, filters.member_id, N_("No member with id %(id)s.")),
        (ConversationTag, filters.tag_id, N_("No conversation tag with id %(id)s.")),
        (Channel, filters.channel_id, N_("No channel with id %(id)s.")),
    ):
        if ident is not None and await db.get(model, ident) is None:
            raise Invalid(message, id=ident)


@dataclass(frozen=True)
class Times:
    median_seconds: int | None
    p90_seconds: int | None


def times_of(values: Sequence[int]) -> Times:
    if not values:
        return Times(None, None)
    ordered = sorted(values)
    rank = max(1, math.ceil(0.9 * len(ordered)))
    return Times(round(pystats.median(ordered)), ordered[rank - 1])


NO_TIMES = Times(None, None)


@dataclass
class Group:
    """The counts of one row: the whole period, a day, a channel, a member or a tag."""

    opened: int = 0
    closed: int = 0
    messages_in: int | None = 0
    messages_out: int | None = 0
    first_response: Times = NO_TIMES
    resolution: Times = NO_TIMES


@dataclass(frozen=True)
class Row:
    key: int | None
    name: str
    group: Group
    kind: str = ""


@dataclass(frozen=True)
class Report:
    period: Period
    time_zone: str
    opening_hours: bool
    filters: Filters
    total: Group
    by_day: list[tuple[date, Group]]
    by_channel: list[Row]
    by_member: list[Row]
    by_tag: list[Row]


def _narrowed(query: Any, filters: Filters) -> Any:
    if filters.member_id is not None:
        query = query.where(ConversationFacts.assignee_id == filters.member_id)
    if filters.channel_id is not None:
        query = query.where(ConversationFacts.channel_id == filters.channel_id)
    if filters.tag_id is not None:
        query = query.where(
            ConversationFacts.conversation_id.in_(
                select(ConversationTagging.conversation_id).where(
                    ConversationTagging.tag_id == filters.tag_id
                )
            )
        )
    return query


async def report(ctx: Ctx, *, period: Period, filters: Filters = Filters()) -> Report:
    """The statistics of a period, from indexed range reads of the rollup (whatever the size
    of the history around it): counts grouped in SQL, medians and p90s too on PostgreSQL (on
    SQLite, which has no percentiles, the durations themselves are fetched)."""
    db = ctx.db
    await check_filters(db, filters)
    # Core rows straight from the connection: no ORM loading for counts and durations.
    rows = await db.connection()
    in_sql = rows.dialect.name == "postgresql"
    total = Group()
    days = {day: Group() for day in period.days}
    channels: dict[int, Group] = {}
    members: dict[int | None, Group] = {}
    tags: dict[int, Group] = {}
    facts = ConversationFacts
    sides = (
        (facts.opened_day, facts.first_response_seconds, "opened", "first_response"),
        (facts.closed_day, facts.resolution_seconds, "closed", "resolution"),
    )
    for day_column, seconds_column, counter, times in sides:
        in_period = day_column.between(period.first, period.last)
        dimensions = (day_column, facts.channel_id, facts.assignee_id)
        ids = facts.conversation_id
        counted = _narrowed(
            select(*dimensions, func.count(), func.min(ids), func.max(ids))
            .where(in_period)
            .group_by(*dimensions),
            filters,
        )
        lowest: int | None = None
        highest: int | None = None
        for day, channel_id, assignee_id, n, low, high in (await rows.execute(counted)).all():
            for group in (total, days[day], _at(channels, channel_id), _at(members, assignee_id)):
                setattr(group, counter, getattr(group, counter) + n)
            lowest = low if lowest is None else min(lowest, low)
            highest = high if highest is None else max(highest, high)
        if lowest is None or highest is None:
            continue  # nothing opened (or closed) in the period: no durations, no tags
        timed = _narrowed(
            select(facts.channel_id, facts.assignee_id, seconds_column).where(
                in_period, seconds_column.is_not(None)
            ),
            filters,
        )
        durations = _timed_in_sql if in_sql else _timed_here
        for scope, key, found in await durations(rows, timed, seconds_column):
            held = {_TOTAL: None, _CHANNEL: channels, _MEMBER: members}[scope]
            setattr(total if held is None else _at(held, key), times, found)
        # The period's conversations lie between those ids: the tags are read in that range of
        # their primary key, not all of them joined (which grows with the history: issue 12).
        tagged = select(ConversationTagging.tag_id, seconds_column).join(
            facts, facts.conversation_id == ConversationTagging.conversation_id
        )
        tagged = _narrowed(
            tagged.where(in_period, ConversationTagging.conversation_id.between(lowest, highest)),
            filters,
        )
        by_tag = _tagged_in_sql if in_sql else _tagged_here
        for tag_id, n, found in await by_tag(rows, tagged, seconds_column):
            group = _at(tags, tag_id)
            setattr(group, counter, getattr(group, counter) + n)
            setattr(group, times, found)
    await _count_messages(db, period, filters, total, days, channels, members)
    return Report(
        period=period,
        time_zone=ctx.settings.timezone,
        opening_hours=await opening_hours(db) is not None,
        filters=filters,
        total=total,
        by_day=sorted(days.items()),
        by_channel=await _channel_rows(db, channels),
        by_member=await _member_rows(db, members),
        by_tag=await _tag_rows(db, tags, everyone=filters.tag_id is None),
    )


# The rows the durations are summed up for: the whole period, a channel, a member.
_TOTAL, _CHANNEL, _MEMBER = "total", "channel", "member"
Timed = list[tuple[str, Any, Times]]


async def _timed_here(rows: AsyncConnection, timed: Select[Any], seconds: Any) -> Timed:
    """Medians and p90s computed here, from every duration of the period."""
    every: list[int] = []
    by_channel: dict[int, list[int]] = {}
    by_member: dict[int | None, list[int]] = {}
    for channel_id, assignee_id, value in (await rows.execute(timed)).all():
        every.append(value)
        by_channel.setdefault(channel_id, []).append(value)
        by_member.setdefault(assignee_id, []).append(value)
    found: Timed = [(_TOTAL, None, times_of(every))]
    found += [(_CHANNEL, key, times_of(values)) for key, values in by_channel.items()]
    found += [(_MEMBER, key, times_of(values)) for key, values in by_member.items()]
    return found


def _percentiles(seconds: Any) -> tuple[Any, Any]:
    """PostgreSQL's percentile_cont(0.5) is the median as times_of takes it (the mean of the
    two middle values), and percentile_disc(0.9) its nearest rank, ceil(0.9 × n)."""
    return (
        func.percentile_cont(0.5).within_group(seconds),
        func.percentile_disc(0.9).within_group(seconds),
    )


def _times(median: float | None, p90: int | None) -> Times:
    return Times(None if median is None else round(median), p90)


async def _timed_in_sql(rows: AsyncConnection, timed: Select[Any], seconds: Any) -> Timed:
    """The same, computed by PostgreSQL for the period, each channel and each member at once
    (GROUPING SETS), so that a month of 100,000 conversations sends back a few rows."""
    facts = ConversationFacts
    # GROUPING(): a bit set for each column the row is not grouped by (a NULL assignee is a
    # group of its own, told from "every assignee" by this).
    scope = func.grouping(facts.channel_id, facts.assignee_id)
    query = (
        timed.with_only_columns(scope, facts.channel_id, facts.assignee_id, *_percentiles(seconds))
        .group_by(None)
        .group_by(func.grouping_sets(tuple_(facts.channel_id), tuple_(facts.assignee_id), tuple_()))
    )
    scopes = {0b01: _CHANNEL, 0b10: _MEMBER, 0b11: _TOTAL}
    found: Timed = []
    for bits, channel_id, assignee_id, median, p90 in (await rows.execute(query)).all():
        kind = scopes[bits]
        key = channel_id if kind == _CHANNEL else assignee_id if kind == _MEMBER else None
        found.append((kind, key, _times(median, p90)))
    return found


Tagged = list[tuple[int, int, Times]]


async def _tagged_here(rows: AsyncConnection, tagged: Select[Any], seconds: Any) -> Tagged:
    counts: dict[int, int] = {}
    durations: dict[int, list[int]] = {}
    for tag_id, value in (await rows.execute(tagged)).all():
        counts[tag_id] = counts.get(tag_id, 0) + 1
        values = durations.setdefault(tag_id, [])
        if value is not None:
            values.append(value)
    return [(tag_id, n, times_of(durations[tag_id])) for tag_id, n in counts.items()]


async def _tagged_in_sql(rows: AsyncConnection, tagged: Select[Any], seconds: Any) -> Tagged:
    tag_id = ConversationTagging.tag_id
    query = tagged.with_only_columns(tag_id, func.count(), *_percentiles(seconds)).group_by(tag_id)
    return [
        (tag, n, _times(median, p90)) for tag, n, median, p90 in (await rows.execute(query)).all()
    ]


def _at(groups: dict[Any, Group], key: Any) -> Group:
    group = groups.get(key)
    if group is None:
        group = groups[key] = Group()
    return group


async def _count_messages(
    db: AsyncSession,
    period: Period,
    filters: Filters,
    total: Group,
    days: dict[date, Group],
    channels: dict[int, Group],
    members: dict[int | None, Group],
) -> None:
    """Messages per day from the day counts. A tag filter has no message counts (messages are
    not counted per tag), a member filter only the member's replies."""
    if filters.tag_id is not None:
        for group in (total, *days.values(), *channels.values(), *members.values()):
            group.messages_in = group.messages_out = None
        return
    query = (
        select(
            DayCounts.day,
            DayCounts.channel_id,
            DayCounts.member_id,
            func.sum(DayCounts.messages_in),
            func.sum(DayCounts.messages_out),
        )
        .where(DayCounts.day.between(period.first, period.last))
        .group_by(DayCounts.day, DayCounts.channel_id, DayCounts.member_id)
    )
    if filters.channel_id is not None:
        query = query.where(DayCounts.channel_id == filters.channel_id)
    if filters.member_id is not None:
        query = query.where(DayCounts.member_id == filters.member_id)
    for day, channel_id, member_id, inbound, outbound in await db.execute(query):
        member = None if member_id == rollup.NO_MEMBER else member_id
        by_member = _at(members, member)
        for group in (total, days[day], _at(channels, channel_id)):
            group.messages_in = (group.messages_in or 0) + int(inbound or 0)
            group.messages_out = (group.messages_out or 0) + int(outbound or 0)
        by_member.messages_out = (by_member.messages_out or 0) + int(outbound or 0)
    for group in members.values():
        # Customers' messages are not any member's.
        group.messages_in = None
    if filters.member_id is not None:
        for group in (total, *days.values(), *channels.values()):
            group.messages_in = None


async def _channel_rows(db: AsyncSession, groups: dict[int, Group]) -> list[Row]:
    channels = {
        c.id: c for c in await db.scalars(select(Channel).where(Channel.id.in_(list(groups))))
    }
    rows = [
        Row(cid, channels[cid].name if cid in channels else "", group, channels[cid].kind)
        if cid in channels
        else Row(cid, "", group, "")
        for cid, group in groups.items()
    ]
    return sorted(rows, key=lambda row: row.key or 0)


async def _member_rows(db: AsyncSession, groups: dict[int | None, Group]) -> list[Row]:
    ids = [key for key in groups if key is not None]
    names = dict((await db.execute(select(Member.id, Member.name).where(Member.id.in_(ids)))).all())
    rows = [Row(key, names.get(key, "") if key else "", group) for key, group in groups.items()]
    # Members by name, then nobody's (unassigned conversations, automatic replies).
    return sorted(rows, key=lambda row: (row.key is None, row.name, row.key or 0))


async def _tag_rows(db: AsyncSession, groups: dict[int, Group], *, everyone: bool) -> list[Row]:
    """Every conversation tag (those nothing was counted for show zeros), in their order."""
    tags = await db.scalars(
        select(ConversationTag).order_by(ConversationTag.position, ConversationTag.id)
    )
    rows = []
    for tag in tags:
        if tag.id in groups or everyone:
            group = groups.get(tag.id, Group())
            group.messages_in = group.messages_out = None
            rows.append(Row(tag.id, tag.name, group))
    return rows


# --- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS = (
    N_("Section"),
    N_("ID"),
    N_("Name"),
    N_("Opened"),
    N_("Closed"),
    N_("Messages in"),
    N_("Messages out"),
    N_("First response median (s)"),
    N_("First response p90 (s)"),
    N_("Resolution median (s)"),
    N_("Resolution p90 (s)"),
)
SECTIONS = {
    "total": N_("Total"),
    "day": N_("Day"),
    "channel": N_("Channel"),
    "member": N_("Member"),
    "tag": N_("Conversation tag"),
}


def _cells(group: Group) -> list[Any]:
    first, resolution = group.first_response, group.resolution
    values = [
        group.opened,
        group.closed,
        group.messages_in,
        group.messages_out,
        first.median_seconds,
        first.p90_seconds,
        resolution.median_seconds,
        resolution.p90_seconds,
    ]
    return ["" if value is None else value for value in values]


def write_csv(out: IO[str], result: Report, *, language: str) -> None:
    """The report as one table: the total, then a row per day, channel, member and tag."""
    gettext = gettext_for(language).gettext
    writer = CsvWriter(out)
    writer.writerow([gettext(column) for column in CSV_COLUMNS])
    unassigned = gettext("Unassigned")

    def section(name: str) -> str:
        return gettext(SECTIONS[name])

    writer.writerow(
        [
            section("total"),
            "",
            f"{result.period.first.isoformat()}/{result.period.last.isoformat()}",
            *_cells(result.total),
        ]
    )
    for day, group in result.by_day:
        writer.writerow([section("day"), day.isoformat(), "", *_cells(group)])
    for rows, name in ((result.by_channel, "channel"), (result.by_member, "member")):
        for row in rows:
            shown = row.name if row.key is not None else unassigned
            writer.writerow([section(name), row.key or "", shown, *_cells(row.group)])
    for row in result.by_tag:
        writer.writerow([section("tag"), row.key, row.name, *_cells(row.group)])


def csv_text(result: Report, *, language: str) -> str:
    out = io.StringIO()
    write_csv(out, result, language=language)
    return out.getvalue()


# --- rebuild -----------------------------------------------------------------------------------

_BATCH = 20_000


def _copied(
    facts: list[rollup.Facts], copies: dict[int, tuple[int, int | None]]
) -> list[rollup.Facts]:
    for f in facts:
        f.channel_id, f.assignee_id = copies[f.conversation_id]
    return facts


@dataclass(frozen=True)
class Rebuilt:
    conversations: int
    messages: int


async def rebuild(ctx: Ctx) -> Rebuilt:
    """Forget the rollup and fold every stored message through it again, conversation by
    conversation in the order they were recorded, then commit: run twice, the same rows."""
    await ctx.db.execute(delete(ConversationFacts))
    await ctx.db.execute(delete(DayCounts))
    zone = rollup.zone_of(ctx)
    hours = await opening_hours(ctx.db)
    counts: dict[rollup.DayKey, list[int]] = {}
    written = seen = 0
    after = (0, 0)
    pending: dict[int, rollup.Facts | None] = {}
    copies: dict[int, tuple[int, int | None]] = {}
    kinds = [MessageKind.inbound, MessageKind.reply, MessageKind.system]
    while True:
        rows = (
            await ctx.db.execute(
                select(
                    Message.conversation_id,
                    Message.id,
                    Message.channel_id,
                    Message.kind,
                    Message.created_at,
                    Message.sender_member_id,
                    Message.broadcast,
                    Message.meta,
                    Contact.blocked,
                    Conversation.channel_id.label("conversation_channel_id"),
                    Conversation.assignee_id,
                )
                .join(Conversation, Conversation.id == Message.conversation_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(
                    Message.kind.in_(kinds),
                    (Message.conversation_id > after[0])
                    | ((Message.conversation_id == after[0]) & (Message.id > after[1])),
                )
                .order_by(Message.conversation_id, Message.id)
                .limit(_BATCH)
            )
        ).all()
        if not rows:
            break
        after = (rows[-1].conversation_id, rows[-1].id)
        for row in rows:
            copies[row.conversation_id] = (row.conversation_channel_id, row.assignee_id)
        counted = [
            rollup.Counted.of(
                conversation_id=row.conversation_id,
                channel_id=row.channel_id,
                kind=row.kind,
                created_at=row.created_at,
                sender_member_id=row.sender_member_id,
                broadcast=bool(row.broadcast),
                meta=row.meta,
                # A blocked contact's messages reopen nothing (read as they are blocked now).
                reopens=not row.blocked,
            )
            for row in rows
        ]
        seen += len(counted)
        for message in counted:
            pending[message.conversation_id] = rollup.fold(
                pending.get(message.conversation_id), message, hours, zone
            )
        for key, (inbound, outbound) in rollup.tally(counted, zone).items():
            row_counts = counts.setdefault(key, [0, 0])
            row_counts[0] += inbound
            row_counts[1] += outbound
        # Every conversation but the last one read is complete.
        done = [f for cid, f in pending.items() if cid != after[0] and f is not None]
        pending = {after[0]: pending[after[0]]} if after[0] in pending else {}
        await rollup.write_facts(ctx, _copied(done, copies))
        copies = {after[0]: copies[after[0]]}
        written += len(done)
    last = [f for f in pending.values() if f is not None]
    await rollup.write_facts(ctx, _copied(last, copies))
    written += len(last)
    await rollup.add_counts(ctx, counts)
    await ctx.commit()
    return Rebuilt(conversations=written, messages=seen)
