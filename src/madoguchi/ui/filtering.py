"""The inbox list's state in the URL: the tab, the search and the 絞り込み (filter).

It only reads query parameters and writes them back; the meaning of each condition is
``crm.filters``' (the one filter engine), reached through ``InboxQuery.conditions``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from madoguchi.channels import service as channels_service
from madoguchi.channels.models import Channel
from madoguchi.conversations.repository import InboxQuery, View
from madoguchi.crm import fields as fields_service
from madoguchi.crm import filters
from madoguchi.crm import marks as marks_service
from madoguchi.crm import statuses as statuses_service
from madoguchi.crm import tags as tags_service
from madoguchi.crm.models import Field, FieldType, Mark, Status, Tag, TagFolder
from madoguchi.kit.context import Ctx
from madoguchi.members import service as members_service
from madoguchi.members.models import Member
from madoguchi.ui.present import list_view, search_text

# The ops the filter form offers for each type of profile field (the engine accepts more).
FIELD_OPS: dict[str, tuple[str, ...]] = {
    FieldType.number: ("eq", "ne", "gte", "lte", "gt", "lt", "empty", "not_empty"),
    FieldType.date: ("eq", "before", "after", "empty", "not_empty"),
    FieldType.select: ("eq", "ne", "empty", "not_empty"),
    FieldType.multi_select: ("contains", "empty", "not_empty"),
}
TEXT_OPS = ("contains", "eq", "ne", "empty", "not_empty")
VALUELESS_OPS = frozenset({"empty", "not_empty"})
MAX_TERMS = 10
_LIMIT = 200


def field_ops(field_type: str) -> tuple[str, ...]:
    return FIELD_OPS.get(field_type, TEXT_OPS)


@dataclass(frozen=True)
class FieldTerm:
    """One profile-field condition: ``fk`` (key), ``fo`` (op), ``fv`` (value) in the URL."""

    key: str
    op: str
    value: str = ""

    def condition(self) -> filters.Condition:
        value = None if self.op in VALUELESS_OPS else self.value
        return filters.Condition(f"field.{self.key}", self.op, value)


@dataclass(frozen=True)
class ListFilter:
    """What 絞り込み narrows the list to; every part combines with the others (and)."""

    tags: tuple[str, ...] = ()
    tag_mode: str = "any"
    statuses: tuple[str, ...] = ()
    marks: tuple[str, ...] = ()
    assignee: str = ""
    channel: str = ""
    terms: tuple[FieldTerm, ...] = ()

    @classmethod
    def from_query(cls, params: QueryParams) -> ListFilter:
        def many(name: str) -> tuple[str, ...]:
            cleaned = (item.strip()[:_LIMIT] for item in params.getlist(name))
            return tuple(dict.fromkeys(item for item in cleaned if item))

        def one(name: str) -> str:
            return (params.get(name) or "").strip()[:_LIMIT]

        keys, ops, values = params.getlist("fk"), params.getlist("fo"), params.getlist("fv")
        terms = []
        for index, (key, op) in enumerate(zip(keys, ops, strict=False)):
            key, op = key.strip(), op.strip()
            if key and op:
                value = values[index].strip()[:_LIMIT] if index < len(values) else ""
                terms.append(FieldTerm(key=key[:_LIMIT], op=op[:_LIMIT], value=value))
        return cls(
            tags=many("tag"),
            tag_mode="all" if one("tag_mode") == "all" else "any",
            statuses=many("status"),
            marks=many("mark"),
            assignee=one("assignee"),
            channel=one("channel") if one("channel").isdigit() else "",
            terms=tuple(dict.fromkeys(terms))[:MAX_TERMS],
        )

    @property
    def active(self) -> bool:
        return self.count > 0

    @property
    def count(self) -> int:
        parts = [self.tags, self.statuses, self.marks, self.assignee, self.channel]
        return sum(1 for part in parts if part) + len(self.terms)

    def conditions(self) -> tuple[filters.Condition, ...]:
        """The engine's conditions (its own mapping of the list's parameters, then fields)."""
        conditions = filters.from_params(
            tag=list(self.tags),
            tag_mode=self.tag_mode,
            status=list(self.statuses),
            mark=list(self.marks),
            channel=int(self.channel) if self.channel else None,
            assignee=self.assignee or None,
        )
        return (*conditions, *(term.condition() for term in self.terms))

    def params(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = [("tag", tag) for tag in self.tags]
        if self.tags and self.tag_mode == "all":
            pairs.append(("tag_mode", "all"))
        pairs += [("status", status) for status in self.statuses]
        pairs += [("mark", mark) for mark in self.marks]
        if self.assignee:
            pairs.append(("assignee", self.assignee))
        if self.channel:
            pairs.append(("channel", self.channel))
        for term in self.terms:
            pairs += [("fk", term.key), ("fo", term.op), ("fv", term.value)]
        return pairs

    def without(self, part: str, value: str = "") -> ListFilter:
        """The filter with one chip removed."""
        match part:
            case "tag":
                return replace(self, tags=tuple(t for t in self.tags if t != value))
            case "status":
                return replace(self, statuses=tuple(s for s in self.statuses if s != value))
            case "mark":
                return replace(self, marks=tuple(m for m in self.marks if m != value))
            case "assignee":
                return replace(self, assignee="")
            case "channel":
                return replace(self, channel="")
            case "term":
                index = int(value)
                return replace(self, terms=self.terms[:index] + self.terms[index + 1 :])
        return self


@dataclass(frozen=True)
class ListState:
    """The tab, the search text and the filter: everything a reload or a member link keeps."""

    view: View = View.all
    q: str = ""
    filter: ListFilter = field(default_factory=ListFilter)

    @classmethod
    def from_query(cls, params: QueryParams) -> ListState:
        return cls(
            view=list_view(params.get("view")),
            q=search_text(params.get("q")),
            filter=ListFilter.from_query(params),
        )

    def inbox_query(self, **page: Any) -> InboxQuery:
        return InboxQuery(
            view=self.view, q=self.q or None, conditions=self.filter.conditions(), **page
        )

    def params(self, *, view: bool = True, q: bool = True) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        if view and self.view != View.all:
            pairs.append(("view", str(self.view)))
        if q and self.q:
            pairs.append(("q", self.q))
        return pairs + self.filter.params()

    @property
    def query(self) -> str:
        """``view=…&q=…&tag=…`` (empty for the plain 一覧)."""
        return urlencode(self.params())

    def query_with(self, *, view: View | None = None, q: str | None = None) -> str:
        return urlencode(
            ListState(
                view=self.view if view is None else view,
                q=self.q if q is None else q,
                filter=self.filter,
            ).params()
        )

    def without(self, part: str, value: str = "") -> str:
        """The query with one filter chip removed."""
        return urlencode(replace(self, filter=self.filter.without(part, value)).params())

    def cleared(self) -> str:
        return urlencode(replace(self, filter=ListFilter()).params())

    @property
    def narrowed(self) -> bool:
        """Searching or filtering: an empty list means "nothing matches", not "no messages"."""
        return bool(self.q) or self.filter.active


def url(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


@dataclass(frozen=True)
class FilterChoices:
    """What the 絞り込み form offers, and the names its chips show."""

    statuses: list[Status]
    marks: list[Mark]
    tag_groups: list[TagGroup]
    tags: dict[str, Tag]
    members: list[Member]
    channels: list[Channel]
    fields: list[Field]

    def field(self, key: str) -> Field | None:
        return next((f for f in self.fields if f.key == key), None)

    def status(self, ref: str) -> Status | None:
        return next((s for s in self.statuses if str(s.id) == ref or s.name == ref), None)

    def mark(self, ref: str) -> Mark | None:
        return next((m for m in self.marks if str(m.id) == ref or m.name == ref), None)

    def tag(self, ref: str) -> Tag | None:
        return self.tags.get(ref) or next((t for t in self.tags.values() if t.name == ref), None)

    def member(self, ref: str) -> Member | None:
        return next((m for m in self.members if str(m.id) == ref), None)

    def channel(self, ref: str) -> Channel | None:
        return next((c for c in self.channels if str(c.id) == ref), None)


@dataclass(frozen=True)
class TagGroup:
    """A folder's tags, with its sub-folders (one level); ``folder`` None: outside any folder."""

    folder: TagFolder | None
    tags: list[Tag]
    children: list[TagGroup] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.tags and all(child.empty for child in self.children)


async def tag_groups(ctx: Ctx) -> tuple[list[TagGroup], list[Tag]]:
    """Tags by folder, in the workspace's order: folders first, then the tags in none."""
    db = ctx.db
    folders = await tags_service.list_folders(db)
    all_tags = await tags_service.list_tags(db)
    by_folder: dict[int | None, list[Tag]] = {}
    for tag in all_tags:
        by_folder.setdefault(tag.folder_id, []).append(tag)
    groups = []
    for folder in folders:
        if folder.parent_id is not None:
            continue
        children = [
            TagGroup(folder=child, tags=by_folder.get(child.id, []))
            for child in folders
            if child.parent_id == folder.id
        ]
        groups.append(TagGroup(folder=folder, tags=by_folder.get(folder.id, []), children=children))
    if by_folder.get(None):
        groups.append(TagGroup(folder=None, tags=by_folder[None]))
    return groups, all_tags


async def load_choices(ctx: Ctx) -> FilterChoices:
    db = ctx.db
    groups, all_tags = await tag_groups(ctx)
    return FilterChoices(
        statuses=await statuses_service.list_statuses(db),
        marks=await marks_service.list_marks(db),
        tag_groups=groups,
        tags={str(tag.id): tag for tag in all_tags},
        members=[m for m in await members_service.list_members(db) if m.active],
        channels=await channels_service.list_channels(db),
        fields=await fields_service.list_fields(db),
    )
