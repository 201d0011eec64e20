"""The one filter engine (F4, F30): conditions over contacts and their conversations, turned into
SQL in one place. The inbox list, the API, and later segments and broadcasts all use it.

A condition is ``{"field", "op", "value"}``; the fields and their ops:

- ``tag``: ``eq``, ``in`` (any), ``all``, ``not_in`` — tag ids or names
- ``status``, ``mark``: ``eq``, ``in``, ``ne``, ``empty``, ``not_empty`` — ids or names
- ``channel``: ``eq``, ``in`` — channel ids
- ``assignee``: ``eq``, ``in``, ``empty`` — member ids, or ``"me"``
- ``text``: ``contains`` — names and message text, normalised (found by search.planner)
- ``hidden``, ``blocked``, ``mail_opt_in``: ``eq`` — true or false
- ``email``, ``phone``: ``eq``, ``contains``, ``empty``, ``not_empty``
- ``field.<key>``: by type — ``eq``, ``ne``, ``in``, ``contains``, ``gt``, ``gte``, ``lt``, ``lte``,
  ``before``, ``after``, ``empty``, ``not_empty``
- ``record.<book>.newest_at`` / ``.oldest_at`` / ``.any_at``: ``days_ago`` (N),
  ``between_days_ago`` ([from, to]), ``before`` / ``after`` (a date), ``empty`` (no record)

Marks match a contact's mark or a mark on any of their messages (F17).

The language is CRM's (its tags, statuses, marks, fields and record books); compiling it gives a
FilterPlan, the conditions as SQL and how the list should read them.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    and_,
    any_,
    cast,
    exists,
    func,
    literal,
    not_,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from madoguchi import search
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, Message
from madoguchi.crm import marks, statuses, tags, values
from madoguchi.crm.fields import field_by_key
from madoguchi.crm.models import (
    ContactTag,
    Field,
    FieldType,
    FieldValue,
    Record,
    RecordSpan,
    Status,
    Tag,
)
from madoguchi.crm.records import check_record_day, find_book
from madoguchi.kit import jsonsafe, pgstats
from madoguchi.kit.errors import Invalid
from madoguchi.kit.ids import MAX_ID, is_id
from madoguchi.search import Scope as Scope  # what is filtered is what text search is for

# How far back "days ago" reaches: a hundred years covers every customer's history.
MAX_DAYS = 36_500
# A condition on few rows elsewhere (a record's range, a mark's contacts and messages) is the
# set of the contacts or conversations they name, worked out first, which the list starts from,
# where they are few: no more than GATHERED_ROWS, and no more than a walk would read. Walked
# newest first and each row checked, the list reads about WALKED_PAGE × contacts ÷ matches rows
# for a page (issue 14, at a million contacts: a day's visits sixty days back, 2,251 records,
# 321,904 conversations walked for a page of the inbox, 2.0 s, 35 ms gathered; a mark on 3,757
# contacts, 16,298 walked, 134 ms, 43 ms gathered); gathered, as many as match, each looked up
# and sorted. Counted no further than GATHERED_ROWS.
GATHERED_ROWS = 5_000
WALKED_PAGE = 50


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Context:
    scope: Scope
    member_id: int | None
    timezone: str
    now: datetime
    # The list walks the rows of one tag or status (conversations.repository's driver), and
    # the other conditions only filter them: a status's value is kept from PostgreSQL's
    # planner (_reference).
    walked: bool = False
    # The list is of contacts, newest (the highest id) first, and reads their index in that
    # order: the few contacts a condition gathers are looked up in it (_contacts_among).
    by_id: bool = False


def parse(raw: Any) -> list[Condition]:
    """Conditions from JSON (``[{"field", "op", "value"}, ...]``), checked for shape."""
    if not isinstance(raw, list):
        raise Invalid("Conditions are a list of {field, op, value}.")
    conditions = []
    for item in raw:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("field"), str)
            or not isinstance(item.get("op"), str)
        ):
            raise Invalid("Each condition is an object with a field, an op and a value.")
        extra = set(item) - {"field", "op", "value"}
        if extra:
            raise Invalid(
                "A condition has only field, op and value, not %(keys)s.",
                keys=", ".join(sorted(extra)),
            )
        conditions.append(Condition(field=item["field"], op=item["op"], value=item.get("value")))
    return conditions


def from_params(
    *,
    q: str | None = None,
    tag: Sequence[int | str] | None = None,
    tag_mode: str = "any",
    status: Sequence[int | str] | None = None,
    mark: Sequence[int | str] | None = None,
    channel: int | None = None,
    assignee: int | str | None = None,
    filter_json: str | None = None,
) -> list[Condition]:
    """Conditions from the list endpoints' query parameters (``filter`` is a JSON list)."""
    conditions: list[Condition] = []
    if q and q.strip():
        conditions.append(Condition("text", "contains", q))
    if tag:
        if tag_mode not in ("any", "all"):
            raise Invalid("tag_mode is any or all.")
        conditions.append(Condition("tag", "all" if tag_mode == "all" else "in", list(tag)))
    if status:
        conditions.append(Condition("status", "in", list(status)))
    if mark:
        conditions.append(Condition("mark", "in", list(mark)))
    if channel is not None:
        conditions.append(Condition("channel", "eq", channel))
    if assignee is not None:
        conditions.append(
            Condition("assignee", "empty")
            if assignee == "none"
            else Condition("assignee", "eq", "me" if assignee == "me" else _ref(assignee, "member"))
        )
    if filter_json:
        try:
            raw = jsonsafe.loads(filter_json)
        except jsonsafe.TooDeep as error:
            raise Invalid(
                "filter nests lists and objects deeper than %(n)d levels.", n=error.max_depth
            ) from None
        except ValueError:
            raise Invalid("filter must be a JSON list of {field, op, value}.") from None
        conditions += parse(raw)
    return conditions


def only_value(condition: Condition) -> list[Any]:
    """The one value an ``eq`` or ``in`` condition asks for (``in`` of a single value), as a
    list of one; an empty list for any other condition."""
    given = _as_list(condition.value)
    return given if condition.op in ("eq", "in") and len(given) == 1 else []


async def single_valued(
    db: AsyncSession, conditions: Sequence[Condition], *, count_cap: int
) -> list[tuple[str, int, int]]:
    """The tags and statuses that every match must have, one id each, with how many contacts
    carry each (PostgreSQL's estimate; else counted up to ``count_cap``): ``[("tag", 3, 2000),
    ("status", 1, 412)]``. A list can be walked on the rows of any one of them (see
    conversations.repository).

    With two or more, checking that each exists and counting them is one query: a filtered
    list costs no more round trips than it must (the ids are remembered for the filter itself).
    """
    refs: list[tuple[str, int | str]] = []
    for condition in conditions:
        if condition.field == "tag" and condition.op == "all":
            refs += [("tag", _ref(ref, "tag")) for ref in _as_list(condition.value)]
        elif condition.field in ("tag", "status"):
            refs += [(condition.field, _ref(ref, condition.field)) for ref in only_value(condition)]
    if len(refs) <= 1:
        return [(kind, await _RESOLVERS[kind](db, ref), 0) for kind, ref in refs]
    known: dict[tuple[str, int | str], int] = db.info.setdefault(KNOWN_REFS, {})
    # Names are looked up first (the UI and most integrations give ids).
    ids = [
        (kind, ref if isinstance(ref, int) else await _RESOLVERS[kind](db, ref))
        for kind, ref in refs
    ]
    estimated = await _estimated_rows(db, ids)
    columns: list[Any] = []
    for kind, ident in ids:
        rows: Select[Any]
        if kind == "tag":
            columns.append(select(Tag.id).where(Tag.id == ident).scalar_subquery())
            rows = select(ContactTag.contact_id).where(ContactTag.tag_id == ident)
        else:
            columns.append(select(Status.id).where(Status.id == ident).scalar_subquery())
            rows = select(Contact.id).where(Contact.status_id == ident)
        if estimated is None:
            capped = rows.limit(count_cap).subquery()
            columns.append(select(func.count()).select_from(capped).scalar_subquery())
    found = (await db.execute(select(*columns))).one()
    result = []
    step = 1 if estimated is not None else 2
    for n, (kind, ident) in enumerate(ids):
        if found[step * n] is None:
            await _RESOLVERS[kind](db, ident)  # raises the usual NotFound
        known[(kind, ident)] = ident
        size = estimated[n] if estimated is not None else int(found[step * n + 1])
        result.append((kind, ident, size))
    return result


# The columns whose PostgreSQL statistics (kit.pgstats) estimate a tag's, a status's or a
# channel's rows; and whose table's rows a share of each is of: the contacts for a tag or a
# status, the conversations for a channel (the contacts' own channel is not what 一覧's channel
# filter tests).
_VALUE_COLUMNS = {
    "tag": ("contact_tags", "tag_id"),
    "status": ("contacts", "status_id"),
    "channel": ("conversations", "channel_id"),
}
_SHARE_OF = {"tag": "status", "status": "status", "channel": "channel"}


async def estimated_share(db: AsyncSession, kind: str, ident: int) -> float | None:
    """The share of the contacts that carry this tag or status (``kind``, ``ident``), or of the
    conversations on this channel (``kind`` "channel"), as PostgreSQL's statistics estimate it;
    None where there are none (SQLite; tables never analysed)."""
    read = await _value_statistics(db)
    rows = _rows_of(read, [(kind, ident)])
    every = read.get(_VALUE_COLUMNS[_SHARE_OF[kind]])
    if rows is None or every is None or every.rows <= 0:
        return None
    return rows[0] / every.rows


async def _estimated_rows(db: AsyncSession, ids: Sequence[tuple[str, int]]) -> list[int] | None:
    """The rows of each tag or status as PostgreSQL's statistics estimate them, or None where
    there are none (SQLite; tables never analysed): then they are counted. Counting read up
    to 2,000 rows of each at a million contacts against a few hundred at a thousand, for the
    choice of one index to walk (0.58 ms against 0.29 for a tag and a status); an estimate is
    as good for it (PostgreSQL's own planner goes by it)."""
    return _rows_of(await _value_statistics(db), ids)


async def _value_statistics(db: AsyncSession) -> dict[tuple[str, str], pgstats.ColumnStatistics]:
    """The statistics of every value column (none on SQLite), read in one statement, kept."""
    if db.get_bind().dialect.name != "postgresql":
        return {}
    return await pgstats.columns(db, list(_VALUE_COLUMNS.values()))


def _rows_of(
    read: dict[tuple[str, str], pgstats.ColumnStatistics], ids: Sequence[tuple[str, int]]
) -> list[int] | None:
    estimated = []
    for kind, ident in ids:
        column = read.get(_VALUE_COLUMNS[kind])
        if column is None or not column.analysed:
            return None
        estimated.append(round(column.rows_of(ident)))
    return estimated


async def without_walked(
    db: AsyncSession, conditions: Sequence[Condition], kind: str, ident: int
) -> list[Condition]:
    """The conditions left to check when a list walks the rows of one tag, status or mark
    (``kind``, ``ident``: single_valued's or unmessaged_mark's choice): each row walked has it
    already. A tag's condition
    checked anyway is a second look at that tag's rows (PostgreSQL hashed all of them: 200,000
    at a million contacts) for an answer the walk gave."""
    left: list[Condition] = []
    for condition in conditions:
        given = _as_list(condition.value)
        if condition.field == kind and condition.op in ("eq", "in", "all") and given:
            if kind in ("status", "mark") and (condition.op == "all" or len(given) != 1):
                left.append(condition)
                continue
            resolve = _RESOLVERS[kind]
            if condition.op == "all":
                rest = [ref for ref in given if await resolve(db, ref) != ident]
                if rest:
                    left.append(replace(condition, value=rest))
                continue
            if len(given) == 1 and await resolve(db, given[0]) == ident:
                continue
        left.append(condition)
    return left


@dataclass(frozen=True)
class FilterPlan:
    """The conditions as SQL, against ``Contact`` (and ``Conversation`` in the inbox scope), and
    how the list should read them: ``walk_with_checks`` when a text is common, and the list is
    better walked newest first, checking each row, than gathered and sorted (search.TextPlan)."""

    where: tuple[ColumnElement[bool], ...]
    walk_with_checks: bool = False


async def compile_conditions(
    db: AsyncSession,
    conditions: Sequence[Condition],
    context: Context,
    *,
    text_checked: bool = False,
    text_gathered: bool = False,
) -> FilterPlan:
    """The plan for these conditions. ``text_checked``: a text is checked on each contact
    alone (search.text_check), for a list that reads few of them (the contact list's steps).
    ``text_gathered``: a text is the caller's to look for (search.gathered_contacts), and is
    only checked here for what it asks."""
    where: list[ColumnElement[bool]] = []
    if context.scope == search.Scope.contact:
        # A contact merged into another (F43) is in no list, segment or broadcast.
        where.append(Contact.merged_into_id.is_(None))
    walk_with_checks = False
    for condition in conditions:
        if condition.field == "text" and text_gathered:
            _text(condition)
        elif condition.field == "text" and text_checked and context.scope == Scope.contact:
            where.append(search.text_check(db, _text(condition)))
        elif condition.field == "text":
            found = await search.text_condition(db, _text(condition), context.scope)
            where.append(found.condition)
            walk_with_checks = walk_with_checks or found.walk_with_checks
        else:
            where.append(await _compile(db, condition, context))
    return FilterPlan(where=tuple(where), walk_with_checks=walk_with_checks)


def _text(condition: Condition) -> str:
    _require(condition.op, ("contains",), condition.field)
    if not isinstance(condition.value, str):
        raise Invalid("The text condition takes a text.")
    if not condition.value.strip():
        # As for e-mail and phone: an empty "contains" is a mistake, not "match nothing".
        raise Invalid("The text condition needs a word to look for.")
    return condition.value


async def _compile(db: AsyncSession, condition: Condition, context: Context) -> ColumnElement[bool]:
    """SQL for one condition but text (search's planner has those)."""
    field, op, value = condition.field, condition.op, condition.value
    if field == "tag":
        return await _tag(db, op, value)
    if field == "status":
        return await _reference(
            db, op, value, Contact.status_id, _status_id, "status", unplanned=context.walked
        )
    if field == "mark":
        return await _mark(db, op, value, context)
    if field == "channel":
        column = (
            Conversation.channel_id if context.scope == Scope.conversation else Contact.channel_id
        )
        return _ids(op, value, column, "channel")
    if field == "assignee":
        return _assignee(op, value, context)
    if field in ("hidden", "blocked", "mail_opt_in"):
        _require(op, ("eq",), field)
        if not isinstance(value, bool):
            raise Invalid("%(field)s takes true or false.", field=field)
        # "IS", as the partial indexes of the few true ones say it (0032, 0036): at a million
        # contacts, "= true" read every row for none (90 ms).
        return getattr(Contact, field).is_(value)  # type: ignore[no-any-return]
    if field in ("email", "phone"):
        return await _contact_text(db, op, value, getattr(Contact, field), field)
    if field.startswith("field."):
        return await _field(db, field.removeprefix("field."), op, value)
    if field.startswith("record."):
        return await _record(db, condition, context)
    raise Invalid("Unknown filter field %(field)s.", field=field)


def _require(op: str, allowed: Sequence[str], field: str) -> None:
    if op not in allowed:
        raise Invalid(
            "%(field)s cannot be filtered with %(op)s (use %(ops)s).",
            field=field,
            op=op,
            ops=", ".join(allowed),
        )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


async def _tag(db: AsyncSession, op: str, value: Any) -> ColumnElement[bool]:
    _require(op, ("eq", "in", "all", "not_in"), "tag")
    refs = _as_list(value)
    if not refs:
        raise Invalid("The tag condition needs at least one tag.")
    tag_ids = [await _tag_id(db, ref) for ref in refs]

    def has(tag_ids: list[int]) -> ColumnElement[bool]:
        # An alias of its own: the list may already walk contact_tags (conversations.repository).
        tagged = aliased(ContactTag)
        return exists().where(tagged.contact_id == Contact.id, tagged.tag_id.in_(tag_ids))

    if op == "all":
        return and_(*[has([tag_id]) for tag_id in tag_ids])
    if op == "not_in":
        return not_(has(tag_ids))
    return has(tag_ids)


def _check_id(value: Any) -> int:
    if not is_id(value):
        raise Invalid(
            "An id is a whole number from 1 to %(max)d, not %(value)s.",
            max=MAX_ID,
            value=value,
        )
    number: int = value
    return number


def _ref(ref: Any, what: str) -> int | str:
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise Invalid("A %(what)s is given by its id or its name.", what=what)
    if isinstance(ref, str) and ref.strip().isascii() and ref.strip().isdigit():
        return _check_id(int(ref))
    if isinstance(ref, int):
        return _check_id(ref)
    return ref


# Where a session remembers the tags, statuses and marks its filter named, by id or name.
KNOWN_REFS = "madoguchi.filter_refs"


async def _resolved(
    db: AsyncSession, kind: str, ref: Any, find: Callable[[AsyncSession, int | str], Awaitable[Any]]
) -> int:
    """A tag's, status's or mark's id from its id or name, asked of the database once per
    session (a list resolves each twice: to choose its index, then to filter)."""
    known: dict[tuple[str, int | str], int] = db.info.setdefault(KNOWN_REFS, {})
    key = (kind, _ref(ref, kind))
    if key not in known:
        known[key] = (await find(db, key[1])).id
    return known[key]


async def _tag_id(db: AsyncSession, ref: Any) -> int:
    return await _resolved(db, "tag", ref, tags.find_tag)


async def _status_id(db: AsyncSession, ref: Any) -> int:
    return await _resolved(db, "status", ref, statuses.find_status)


async def _mark_id(db: AsyncSession, ref: Any) -> int:
    return await _resolved(db, "mark", ref, marks.find_mark)


_RESOLVERS = {"tag": _tag_id, "status": _status_id, "mark": _mark_id}


async def _reference(
    db: AsyncSession,
    op: str,
    value: Any,
    column: InstrumentedAttribute[int | None],
    resolve: Any,
    field: str,
    *,
    unplanned: bool = False,
) -> ColumnElement[bool]:
    """``unplanned``: one value is compared as a subquery's (an InitPlan), which PostgreSQL's
    planner does not see. A statement that all requests share (a prepared one, after five
    runs) is planned without the values; where each request's plan knows a value's share and
    comes out cheaper, PostgreSQL plans every request again. The tag + status list at a million
    did (0.6 ms a page: a status in 38 % of the contacts, where the shared plan counts one in
    five). Where the list walks another condition's rows, the status only filters them, and
    no plan needs its share."""
    _require(op, ("eq", "in", "ne", "empty", "not_empty"), field)
    if op == "empty":
        return column.is_(None)
    if op == "not_empty":
        return column.is_not(None)
    ids = [await resolve(db, ref) for ref in _as_list(value)]
    if op == "ne":
        return or_(column.is_(None), column.not_in(ids))
    if unplanned and len(ids) == 1 and db.get_bind().dialect.name == "postgresql":
        return column == select(literal(ids[0])).scalar_subquery()
    return column.in_(ids)


async def unmessaged_mark(db: AsyncSession, conditions: Sequence[Condition]) -> int | None:
    """The mark of a condition that names one (``eq``, or ``in`` of one) where no message
    carries it, if any: the list may then walk its contacts by their latest activity
    (ix_contacts_mark_activity), as a status's, each contact walked having it. A mark on a
    message marks its customer too, and that index does not hold them."""
    for condition in conditions:
        given = _as_list(condition.value)
        if condition.field != "mark" or condition.op not in ("eq", "in") or len(given) != 1:
            continue
        mark_id = await _mark_id(db, given[0])
        if not await _on_messages(db, [mark_id]):
            return mark_id
    return None


async def _on_messages(db: AsyncSession, mark_ids: Sequence[int]) -> bool:
    """Whether a message carries one of these marks (the partial index of marked messages)."""
    marked = select(Message.id).where(Message.mark_id.in_(mark_ids))
    return bool(await db.scalar(select(exists(marked))))


async def _mark(db: AsyncSession, op: str, value: Any, context: Context) -> ColumnElement[bool]:
    _require(op, ("eq", "in", "empty"), "mark")
    if op == "empty":
        return Contact.mark_id.is_(None)
    ids = [await _mark_id(db, ref) for ref in _as_list(value)]
    if not await _on_messages(db, ids):
        # No message carries it: the contacts' own mark, which their index serves.
        return Contact.mark_id.in_(ids)
    on_message = select(Message.conversation_id).where(Message.mark_id.in_(ids))
    if context.scope == Scope.conversation:
        # The inbox walked newest first checks each conversation's contact for the mark (or
        # its messages: two tables, no index serves the "or"), as many as the mark is rare:
        # where the marked contacts and messages are few, their conversations are gathered
        # first. The contact list walks its own rows, each holding its mark: cheaper than that.
        marked = aliased(Contact, name="marked")
        on_contact = select(marked.id).where(marked.mark_id.in_(ids))
        if await _few(db, on_contact, on_message):
            theirs = aliased(Conversation, name="theirs")
            of_contacts = select(theirs.id).where(theirs.contact_id.in_(on_contact))
            return _gathered(db, Conversation.id, union(of_contacts, on_message))
        return or_(Contact.mark_id.in_(ids), Conversation.id.in_(on_message))
    return or_(
        Contact.mark_id.in_(ids),
        exists().where(Conversation.contact_id == Contact.id, Conversation.id.in_(on_message)),
    )


def _ids(
    op: str, value: Any, column: InstrumentedAttribute[Any], field: str
) -> ColumnElement[bool]:
    _require(op, ("eq", "in"), field)
    ids = _as_list(value)
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Invalid("%(field)s takes ids.", field=field)
    return column.in_([_check_id(i) for i in ids])


def _assignee(op: str, value: Any, context: Context) -> ColumnElement[bool]:
    _require(op, ("eq", "in", "empty"), "assignee")
    if op == "empty":
        condition: ColumnElement[bool] = Conversation.assignee_id.is_(None)
    else:
        ids = [context.member_id if ref == "me" else ref for ref in _as_list(value)]
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise Invalid('assignee takes member ids (or "me").')
        condition = Conversation.assignee_id.in_([_check_id(i) for i in ids])
    if context.scope == Scope.conversation:
        return condition
    return exists().where(Conversation.contact_id == Contact.id, condition)


async def _contact_text(
    db: AsyncSession, op: str, value: Any, column: InstrumentedAttribute[str | None], field: str
) -> ColumnElement[bool]:
    """An address or a number equal to or containing a text: the contacts that match are
    looked for first (no index serves a part of a word), and where they are few
    (``_gathered_at_most``) they are the condition. Walked newest first and each checked, the
    inbox looked up every conversation's contact for an address found nowhere: 4.2 s in pages
    of five at a million contacts, against a read of the addresses there are (0.18 s for
    100,000 of them, found by their index as not empty; a part of a word no index serves)."""
    condition = _plain_text(op, value, column, field)
    if op not in ("eq", "contains"):
        return condition
    most = await _gathered_at_most(db)
    probed = select(Contact.id).where(column.is_not(None), condition).limit(most + 1)
    found = list(await db.scalars(probed))
    return condition if len(found) > most else Contact.id.in_(found)


def _plain_text(
    op: str, value: Any, column: InstrumentedAttribute[str | None], field: str
) -> ColumnElement[bool]:
    _require(op, ("eq", "contains", "empty", "not_empty"), field)
    if op == "empty":
        return or_(column.is_(None), column == "")
    if op == "not_empty":
        return and_(column.is_not(None), column != "")
    if not isinstance(value, str) or not value.strip():
        raise Invalid("%(field)s takes a text.", field=field)
    if op == "eq":
        return func.lower(column) == value.strip().lower()
    return func.lower(column).like(_contains(value.strip().lower()), escape="\\")


def _contains(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


# --- profile fields ---------------------------------------------------------------------------

_FIELD_OPS = {
    FieldType.number: ("eq", "ne", "gt", "gte", "lt", "lte", "empty", "not_empty"),
    FieldType.date: ("eq", "ne", "before", "after", "empty", "not_empty"),
    FieldType.select: ("eq", "ne", "in", "empty", "not_empty"),
    FieldType.multi_select: ("contains", "in", "empty", "not_empty"),
}
_TEXT_OPS = ("eq", "ne", "contains", "empty", "not_empty")


# The ops a field's condition holds for a contact without a value (no value, or none equal).
_HELD_WITHOUT_VALUE = ("empty", "ne")


async def _field(db: AsyncSession, key: str, op: str, value: Any) -> ColumnElement[bool]:
    field, predicate = await _field_values(db, key, op, value)
    # Its own values, whatever the list walks (another field's values: walked_rows).
    matching = (
        exists()
        .where(FieldValue.contact_id == Contact.id, FieldValue.field_id == field.id, predicate)
        .correlate(Contact)
    )
    # "Not equal" includes contacts without a value, as a person reading the list expects: no
    # value equal (a contact has one value a field at most). Asked as "no value, or not this
    # one", PostgreSQL hashed every contact's equal value first (性別 ≠ 女性 at a million: 280,000
    # of them, 146 ms for a page of the contact list; 0.25 ms as one NOT EXISTS).
    return not_(matching) if op in _HELD_WITHOUT_VALUE else matching


async def _field_values(
    db: AsyncSession, key: str, op: str, value: Any, *, unindexed: bool = False
) -> tuple[Field, ColumnElement[bool]]:
    """The field and what its value must be for the condition (empty, "ne": what no value
    may be), checked for the field's type; ``unindexed``: written so that SQLite reads no
    index of the values for it (_field_predicate)."""
    field = await field_by_key(db, key)
    _require(op, _FIELD_OPS.get(FieldType(field.type), _TEXT_OPS), f"field.{key}")
    if op in ("empty", "not_empty"):
        return field, true()
    return field, _field_predicate(field, op, value, unindexed=unindexed)


@dataclass(frozen=True)
class WalkedRows:
    """Rows of one a contact at most that keep a copy of its activity (a tag's rows, a profile
    field's values, a record book's spans), which a list may walk newest first for a
    condition, each row checked: the rows (a model), their activity and contact columns, what
    a row walked must hold, and the conditions left to check."""

    rows: Any
    activity: ColumnElement[Any] | InstrumentedAttribute[Any]
    contact_id: ColumnElement[int] | InstrumentedAttribute[int]
    where: tuple[ColumnElement[bool], ...]
    left: list[Condition]


async def walked_rows(
    db: AsyncSession, conditions: Sequence[Condition], context: Context
) -> WalkedRows | None:
    """For the first condition a contact meets only by a value of a field (not "empty" nor "not
    equal") or by its newest or oldest record of a book, the rows the list may walk, if any.
    The inbox walked newest first and checking each conversation's contact read as many
    conversations as the condition is rare, each look-up dearer among a million rows (性別
    その他 in pages of five: 1.51 times the time at a thousand; the last visit within two
    months, 1.53); the field's values, or the book's spans, are fewer than the conversations,
    and each holds what it is checked for. A record range whose spans are few (``_few``: a
    day's last visits, 2,251 at a million) is not walked: the walk would read about 50 × spans
    ÷ those (PostgreSQL took it, expecting 1,361 where 2,251 were: 23,000 spans read, 34 ms).
    PostgreSQL gathers them from their index, which holds each one's contact and activity
    (migration 0039), and sorts them by that activity, a subquery apart (``OFFSET 0``) that the
    list joins in its order: a page looks up the conversations it shows. Looked up first and
    sorted after, they cost a page 1,890 contacts and conversations, 21 ms; now 2. SQLite's
    planner chooses well itself between its plans for the gathered contacts (6.6 ms at
    100,000 contacts)."""
    # SQLite's planner, taking a range of values for few, read them by their own index and
    # sorted them all (born after 1990 at 100,000 contacts: 6,700 values, 38 ms against 4 for
    # the walk): their columns are written so that no index of theirs is chosen, as the
    # conversations' own are where another index is walked. PostgreSQL goes by its statistics.
    postgresql = db.get_bind().dialect.name == "postgresql"
    unindexed = not postgresql
    for n, condition in enumerate(conditions):
        left = [*conditions[:n], *conditions[n + 1 :]]
        if condition.field.startswith("field.") and condition.op not in _HELD_WITHOUT_VALUE:
            key = condition.field.removeprefix("field.")
            field, matching = await _field_values(
                db, key, condition.op, condition.value, unindexed=unindexed
            )
            where = (FieldValue.field_id == field.id, matching)
            return WalkedRows(
                FieldValue, FieldValue.activity_at, FieldValue.contact_id, where, left
            )
        if condition.field.startswith("record.") and condition.op != "empty":
            span = await _record_range(db, condition, context)
            if span.part == "any_at":
                continue
            where = (RecordSpan.book_id == span.book_id, span.holds(unindexed=unindexed))
            if not await span.few(db):
                return WalkedRows(
                    RecordSpan, RecordSpan.activity_at, RecordSpan.contact_id, where, left
                )
            if postgresql:
                order = (RecordSpan.activity_at.desc(), RecordSpan.contact_id.desc())
                few = (
                    select(RecordSpan.contact_id, RecordSpan.activity_at)
                    .where(*where)
                    .order_by(*order)
                    .offset(0)
                    .subquery("few_spans")
                )
                return WalkedRows(few, few.c.activity_at, few.c.contact_id, (), left)
    return None


def _unindexed(column: InstrumentedAttribute[Any], unindexed: bool) -> ColumnElement[Any]:
    """The column, or where ``unindexed`` as SQLite's no-op ``+column``, which keeps its
    planner off the column's indexes (the value's own, the same to compare)."""
    element = column.expression
    if not unindexed:
        return element
    return UnaryExpression(element, operator=custom_op("+"), type_=element.type)


def _field_predicate(
    field: Field, op: str, value: Any, *, unindexed: bool = False
) -> ColumnElement[bool]:
    """What a field's value must be (``unindexed``: see _unindexed)."""

    def held(column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
        return _unindexed(column, unindexed)

    label = field.label
    if field.type == FieldType.number:
        number = values.coerce(FieldType.number, value, label=label)
        if number is None:
            raise Invalid("%(label)s takes a number.", label=label)
        column = held(FieldValue.value_number)
        return {
            "eq": column == number,
            "ne": column == number,
            "gt": column > number,
            "gte": column >= number,
            "lt": column < number,
            "lte": column <= number,
        }[op]
    if field.type == FieldType.date:
        day = values.parse_date(value, label)
        column_date = held(FieldValue.value_date)
        return {
            "eq": column_date == day,
            "ne": column_date == day,
            "before": column_date < day,
            "after": column_date > day,
        }[op]
    text_column = held(FieldValue.value_text)
    if field.type == FieldType.multi_select:
        choices = [str(v) for v in _as_list(value)]
        return or_(*[text_column.like(_contains(f"\n{c}\n"), escape="\\") for c in choices])
    if op == "in":
        return text_column.in_([str(v) for v in _as_list(value)])
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise Invalid("%(label)s takes a text.", label=label)
    text = str(value).strip()
    if not text:
        # Empty values are not stored: "is empty" is the way to find them.
        raise Invalid(
            "%(label)s takes a text (to find contacts without one, use empty).", label=label
        )
    if op == "contains":
        return func.lower(text_column).like(_contains(text.lower()), escape="\\")
    return text_column == text


# --- record books -----------------------------------------------------------------------------


def day_range(days_from: int, days_to: int, context: Context) -> tuple[datetime, datetime]:
    """UTC bounds of the local days from ``days_to`` days ago to ``days_from`` days ago."""
    zone = ZoneInfo(context.timezone)
    today = context.now.astimezone(zone).date()
    start = datetime.combine(today - timedelta(days=days_to), time(), zone)
    end = datetime.combine(today - timedelta(days=days_from) + timedelta(days=1), time(), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


async def _contacts_among(
    db: AsyncSession,
    contacts: Select[Any],
    context: Context,
    few: Callable[[], Awaitable[bool]] | None = None,
) -> ColumnElement[bool]:
    """A contact is among those ``contacts`` selects (a range's records, or spans): gathered
    first where they are few (``few``, or else ``_few`` of them), else a subquery, which
    PostgreSQL's planner may walk the list for (their range is common: a page's matches come
    soon). SQLite's planner chooses well itself between the two (at 100,000 contacts:
    8.7–14.4 ms): it is not asked to count.

    The contact list newest first (``Context.by_id``) has the few looked up in its index's
    order (``_gathered``): a day's last visits at a million, 1,890 contacts, were each looked
    up and then sorted for a page (10.6 ms; 1.2)."""
    if db.get_bind().dialect.name != "postgresql":
        return _gathered(db, Contact.id, contacts)
    if not await (few() if few is not None else _few(db, contacts)):
        return Contact.id.in_(contacts)
    return _gathered(db, Contact.id, contacts, looked_up=context.by_id)


async def _few(db: AsyncSession, *rows: Select[Any]) -> bool:
    """Whether these statements' rows are together few enough to be gathered first: no more
    than GATHERED_ROWS, nor than a walk of the list would read for a page (about WALKED_PAGE ×
    contacts ÷ rows, the newest contact's id for the contacts). Each is counted no further than
    that (a common mark's 40,000 contacts at 100,000: 3 ms on SQLite counting 5,001)."""
    most = await _gathered_at_most(db)
    counted = [
        select(func.count()).select_from(one.limit(most + 1).subquery()).scalar_subquery()
        for one in rows
    ]
    total = await db.scalar(select(sum(counted[1:], counted[0])))
    return (total or 0) <= most


async def _gathered_at_most(db: AsyncSession) -> int:
    """How many rows a condition may hold and be gathered first (``_few``)."""
    newest = await db.scalar(select(func.max(Contact.id))) or 0
    return min(GATHERED_ROWS, math.isqrt(WALKED_PAGE * newest))


def _gathered(
    db: AsyncSession,
    column: ColumnElement[int] | InstrumentedAttribute[int],
    ids: Select[Any] | CompoundSelect[Any],
    *,
    looked_up: bool = False,
) -> ColumnElement[bool]:
    """``column`` among the ids ``ids`` selects. On PostgreSQL worked out before the list is
    read (an InitPlan: an array, unnested), which PostgreSQL expects to be a few rows: the list
    starts from them, or, where another condition drives the list (a search), checks each row
    against them as a hashed set. ``looked_up``: the list walks the index of ``column`` itself
    (the contact list newest first), which looks the array's ids up in its own order (= ANY)
    and stops after a page, where the unnested ids were each looked up and then sorted. SQLite
    makes such a subquery a table of its own first."""
    if db.get_bind().dialect.name != "postgresql":
        return column.in_(ids)
    listed = ids.subquery("gathered")
    array = select(func.array_agg(listed.c[0])).scalar_subquery()
    if looked_up:
        return column == any_(cast(array, ARRAY(Integer)))
    return column.in_(select(func.unnest(array)))


def _days(value: Any, op: str) -> tuple[int, int]:
    def is_days(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_DAYS

    if op == "days_ago":
        if not is_days(value):
            raise Invalid(
                "days_ago takes a number of days from 0 (today) to %(max)d.", max=MAX_DAYS
            )
        return value, value
    if not isinstance(value, list) or len(value) != 2 or not all(is_days(v) for v in value):
        raise Invalid(
            "between_days_ago takes two numbers of days from 0 to %(max)d, like [7, 30].",
            max=MAX_DAYS,
        )
    low, high = sorted(value)
    return low, high


@dataclass(frozen=True)
class _RecordRange:
    """A record condition's book, which record (``part``: newest_at, oldest_at, any_at) and
    the range its time is in (UTC; an open end is None); ``empty``: no record of the book."""

    book_id: int
    part: str
    start: datetime | None = None
    end: datetime | None = None
    empty: bool = False

    def within(self, column: Any) -> ColumnElement[bool]:
        bounds = []
        if self.start is not None:
            bounds.append(column >= self.start)
        if self.end is not None:
            bounds.append(column < self.end)
        return and_(*bounds)

    def holds(self, *, unindexed: bool = False) -> ColumnElement[bool]:
        """A contact's span (newest_at, oldest_at) holds the condition."""
        column = RecordSpan.newest_at if self.part == "newest_at" else RecordSpan.oldest_at
        return self.within(_unindexed(column, unindexed))

    def contacts(self) -> Select[Any]:
        """The contacts whose newest (oldest) record is in range, by their spans' index."""
        return select(RecordSpan.contact_id).where(RecordSpan.book_id == self.book_id, self.holds())

    async def few(self, db: AsyncSession) -> bool:
        """Whether those contacts are few (``_few``), counted once a session: the inbox asks
        it to choose its walk, then the condition to choose its form. Only a choice of plans
        hangs on it (both find the same rows), so a record written since does no harm."""
        counted: dict[tuple[Any, ...], bool] = db.info.setdefault(FEW_SPANS, {})
        key = (self, GATHERED_ROWS, WALKED_PAGE)
        if key not in counted:
            counted[key] = await _few(db, self.contacts())
        return counted[key]


FEW_SPANS = "madoguchi.few_spans"


async def _record_range(db: AsyncSession, condition: Condition, context: Context) -> _RecordRange:
    """The record condition's range, checked."""
    field, op, value = condition.field, condition.op, condition.value
    parts = field.split(".")
    if len(parts) != 3 or parts[2] not in ("newest_at", "oldest_at", "any_at"):
        raise Invalid(
            "Record conditions are record.<book>.newest_at, .oldest_at or .any_at, not %(field)s.",
            field=field,
        )
    _require(op, ("days_ago", "between_days_ago", "before", "after", "empty"), field)
    book = await find_book(db, _ref(parts[1], "record book"))
    if op == "empty":
        return _RecordRange(book.id, parts[2], empty=True)
    if op in ("before", "after"):
        day = check_record_day(values.parse_date(value, field))
        boundary = datetime.combine(
            day if op == "before" else day + timedelta(days=1), time(), ZoneInfo(context.timezone)
        ).astimezone(UTC)
        start, end = (None, boundary) if op == "before" else (boundary, None)
    else:
        start, end = day_range(*_days(value, op), context)
    return _RecordRange(book.id, parts[2], start, end)


async def _record(db: AsyncSession, condition: Condition, context: Context) -> ColumnElement[bool]:
    found = await _record_range(db, condition, context)
    if found.empty:
        return not_(
            exists().where(Record.contact_id == Contact.id, Record.book_id == found.book_id)
        )
    if found.part == "any_at":
        # The contacts with a record in range, as a set worked out once from the book's records
        # by date (ix_records_book_at), not a question asked of every contact: a segment over
        # 100,000 contacts is counted and paged from the few records of those days.
        recorded = select(Record.contact_id).where(
            Record.book_id == found.book_id, found.within(Record.at)
        )
        return await _contacts_among(db, recorded, context)
    # The newest (oldest) record in range: one span a contact says it, by its own index.
    return await _contacts_among(db, found.contacts(), context, lambda: found.few(db))
