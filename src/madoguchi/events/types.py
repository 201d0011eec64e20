"""Every live event, declared once (as Zulip's ``zerver/lib/event_types.py``): its type name,
whether it is one member's own, and the ids it carries.

A service function builds one of these for the fact it wrote and hands it to ``Ctx.commit``;
nothing else makes events. docs/api.md lists the same types with the same fields (a test
compares them). The frames members get are ``{"type", "member_id", **data}``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

# The key a field has in the event's data when it is not the field's own name.
KEY = "key"


@dataclass(frozen=True, kw_only=True)
class Event:
    """What happened (``type``), to whom it is told, and the ids it concerns.

    ``member_id`` is the one member a private event is for, and None for the workspace's
    events, which every member hears. ``id`` is the event's place in the workspace's stream,
    given by the bus when it is published (``Backlog``); it is not part of what happened.
    """

    type: ClassVar[str]
    private: ClassVar[bool] = False
    member_id: int | None = None
    id: int | None = field(default=None, compare=False)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type")
        if name is None:
            return
        if name in TYPES:
            raise TypeError(f"the event type {name} is declared twice")
        TYPES[name] = cls

    def __post_init__(self) -> None:
        if TYPES.get(getattr(self, "type", "")) is not type(self):
            raise TypeError("an event is one of the declared types, not a bare Event")
        if self.private != (self.member_id is not None):
            raise ValueError(
                f"{self.type} is "
                + ("for one member: say which" if self.private else "for everyone")
            )

    @classmethod
    def data_keys(cls) -> list[str]:
        """The keys of this type's data, in the order its frames have them."""
        return [key for key, _ in _data_fields(cls)]

    @classmethod
    def optional_keys(cls) -> list[str]:
        """The keys its data has only when they apply (not at the field's default)."""
        return [key for key, spec in _data_fields(cls) if spec.default is not dataclasses.MISSING]

    @property
    def data(self) -> dict[str, Any]:
        """The ids it concerns; a field left at its default (an optional id) is left out."""
        data: dict[str, Any] = {}
        for key, declared in _data_fields(type(self)):
            value = getattr(self, declared.name)
            if declared.default is not dataclasses.MISSING and value == declared.default:
                continue
            data[key] = value
        return data

    def visible_to(self, member_id: int) -> bool:
        """Whether this member hears it: the one place that decides, whichever bus carried it."""
        return self.member_id is None or self.member_id == member_id

    def frame(self, *, with_id: bool = False) -> dict[str, Any]:
        """What a member's WebSocket gets (docs/api.md: the data's ids at the top level); its
        ``id`` only for a client that keeps a cursor (``/ws?since=``)."""
        frame = {"type": self.type, "member_id": self.member_id, **self.data}
        if with_id:
            frame["id"] = self.id
        return frame

    def to_json(self, *, with_id: bool = False) -> str:
        """The frame as text, written once per event and form however many sockets it is sent
        to (one event fans out to every member's tab: 500 of them in bench/live.py)."""
        key = "_json_with_id" if with_id else "_json"
        written: str | None = self.__dict__.get(key)
        if written is None:
            written = json.dumps(self.frame(with_id=with_id), ensure_ascii=False)
            # A frozen event's fields cannot change, so neither can its text.
            self.__dict__[key] = written
        return written

    def to_wire(self) -> str:
        """The event between processes, its addressee apart from its data, so that it arrives
        as it was published (in a client frame, a data ``member_id`` would take its place)."""
        return json.dumps(
            {"type": self.type, "member_id": self.member_id, "data": self.data},
            ensure_ascii=False,
        )

    @classmethod
    def from_wire(cls, raw: str | bytes) -> Event:
        """The event ``to_wire`` wrote (with the ``id`` the bus put in front, if any). Raises
        ``UnknownEvent`` for a type this process does not declare (a newer process's)."""
        payload = json.loads(raw)
        declared = TYPES.get(payload["type"])
        if declared is None:
            raise UnknownEvent(payload["type"])
        data: Mapping[str, Any] = payload["data"]
        arguments = {spec.name: data[key] for key, spec in _data_fields(declared) if key in data}
        return declared(**arguments, member_id=payload["member_id"], id=payload.get("id"))


class UnknownEvent(ValueError):
    pass


# Every declared type by its name; filled as the classes below are defined.
TYPES: dict[str, type[Event]] = {}


_DATA_FIELDS: dict[type[Event], list[tuple[str, dataclasses.Field[Any]]]] = {}


def _data_fields(cls: type[Event]) -> list[tuple[str, dataclasses.Field[Any]]]:
    """Its fields beyond the addressee and the id, each with its key in the data (worked out
    once per type: every subscriber's frame reads them)."""
    found = _DATA_FIELDS.get(cls)
    if found is None:
        base = {spec.name for spec in dataclasses.fields(Event)}
        found = _DATA_FIELDS[cls] = [
            (spec.metadata.get(KEY, spec.name), spec)
            for spec in dataclasses.fields(cls)
            if spec.name not in base
        ]
    return found


@dataclass(frozen=True, kw_only=True)
class PrivateEvent(Event):
    """About one member's own state: only that member hears it."""

    private: ClassVar[bool] = True
    member_id: int  # required: the member it is for


# --- conversations and messages ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MessageCreated(Event):
    """Any new message, system lines included; ``kind`` and ``assignee_id`` let a browser decide
    on a notification (F41) without asking."""

    type: ClassVar[str] = "message.created"
    conversation_id: int
    contact_id: int
    message_id: int
    kind: str
    assignee_id: int | None
    # A customer's message a message filter matched (F27): it arrived read, no one is notified.
    filtered: bool = False


@dataclass(frozen=True, kw_only=True)
class MessageUpdated(Event):
    """A message's mark or delivery state changed."""

    type: ClassVar[str] = "message.updated"
    message_id: int
    conversation_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationUpdated(Event):
    """Its last activity, state, assignee, followers, tags, memo or preview changed."""

    type: ClassVar[str] = "conversation.updated"
    conversation_id: int
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationDeleted(Event):
    type: ClassVar[str] = "conversation.deleted"
    conversation_id: int
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationReadState(PrivateEvent):
    """The member's read state of a conversation changed."""

    type: ClassVar[str] = "conversation.read_state"
    conversation_id: int
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationTeamReadState(Event):
    """The team's 未確認 of a conversation changed (``unread``: 未確認 now, else 確認済み); every
    member hears it, whichever meaning of 未確認 the workspace chose."""

    type: ClassVar[str] = "conversation.team_read_state"
    conversation_id: int
    contact_id: int
    unread: bool


@dataclass(frozen=True, kw_only=True)
class ScheduledMessageChanged(Event):
    type: ClassVar[str] = "scheduled_message.changed"
    scheduled_message_id: int
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class ConversationTagsChanged(Event):
    """The workspace's list of conversation tags changed."""

    type: ClassVar[str] = "conversation_tags.changed"
    tag_id: int


# --- contacts -----------------------------------------------------------------------------------

ContactPart = Literal["profile", "tags", "fields", "memos", "records", "link"]


@dataclass(frozen=True, kw_only=True)
class ContactCreated(Event):
    type: ClassVar[str] = "contact.created"
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class ContactUpdated(Event):
    """Which part of the contact changed: the side panel re-reads only that part."""

    type: ClassVar[str] = "contact.updated"
    contact_id: int
    part: ContactPart


@dataclass(frozen=True, kw_only=True)
class ContactDeleted(Event):
    type: ClassVar[str] = "contact.deleted"
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class ContactMerged(Event):
    """``merged_id`` was merged into ``contact_id`` (F43): its screens go to the kept contact."""

    type: ClassVar[str] = "contact.merged"
    contact_id: int
    merged_id: int


@dataclass(frozen=True, kw_only=True)
class ContactUnmerged(Event):
    """A merge was undone (F43): ``restored_id`` is a contact of its own again, with what it
    brought; screens showing ``contact_id`` refresh."""

    type: ClassVar[str] = "contact.unmerged"
    contact_id: int
    restored_id: int


@dataclass(frozen=True, kw_only=True)
class ContactsImported(Event):
    """How many contacts an import created and updated."""

    type: ClassVar[str] = "contacts.imported"
    created: int
    updated: int


@dataclass(frozen=True, kw_only=True)
class TagAdded(Event):
    """A tag was added to a contact (rules and actions triggered by tags listen)."""

    type: ClassVar[str] = "tag.added"
    contact_id: int
    tag_id: int


@dataclass(frozen=True, kw_only=True)
class ActionRan(Event):
    type: ClassVar[str] = "action.ran"
    action_id: int
    contact_id: int


@dataclass(frozen=True, kw_only=True)
class FormAnswered(Event):
    """A contact answered a form (アンケート): its answers list and the contact's page show it."""

    type: ClassVar[str] = "form.answered"
    form_id: int
    contact_id: int
    answer_id: int


# --- the workspace's lists ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StatusesChanged(Event):
    """A status was added, changed or deleted (``status_id``), or the list reordered (none)."""

    type: ClassVar[str] = "statuses.changed"
    status_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class MarksChanged(Event):
    type: ClassVar[str] = "marks.changed"
    mark_id: int


@dataclass(frozen=True, kw_only=True)
class TagsChanged(Event):
    """A tag folder (``folder_id``) or a tag (``tag_id``) was added, changed or deleted."""

    type: ClassVar[str] = "tags.changed"
    folder_id: int | None = None
    tag_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class FieldsChanged(Event):
    """A field folder (``folder_id``) or a field (``field_id``) was added, changed or deleted,
    or the fields reordered (neither)."""

    type: ClassVar[str] = "fields.changed"
    folder_id: int | None = None
    field_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class RecordBooksChanged(Event):
    type: ClassVar[str] = "record_books.changed"
    book_id: int


@dataclass(frozen=True, kw_only=True)
class TemplatesChanged(Event):
    type: ClassVar[str] = "templates.changed"
    template_id: int


@dataclass(frozen=True, kw_only=True)
class BroadcastChanged(Event):
    """A broadcast was created, paused, resumed, cancelled, or its sending moved on (the
    settings page's progress bar)."""

    type: ClassVar[str] = "broadcast.changed"
    broadcast_id: int


@dataclass(frozen=True, kw_only=True)
class RulesChanged(Event):
    """A rule was added, changed, deleted, or switched off because what it names was deleted."""

    type: ClassVar[str] = "rules.changed"
    rule_id: int


@dataclass(frozen=True, kw_only=True)
class SequencesChanged(Event):
    """A step sequence was added, changed, deleted, or switched off because what it names was
    deleted."""

    type: ClassVar[str] = "sequences.changed"
    sequence_id: int


@dataclass(frozen=True, kw_only=True)
class ActionsChanged(Event):
    type: ClassVar[str] = "actions.changed"
    action_id: int


# --- channels -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChannelCreated(Event):
    type: ClassVar[str] = "channel.created"
    channel_id: int


@dataclass(frozen=True, kw_only=True)
class ChannelUpdated(Event):
    """Its settings changed, or it was deleted (``removed``, said only then)."""

    type: ClassVar[str] = "channel.updated"
    channel_id: int
    removed: bool = False


# --- members, tokens and notifications ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MemberCreated(Event):
    """Heard by everyone; its data names the new member in the frame's ``member_id``."""

    type: ClassVar[str] = "member.created"
    new_member_id: int = field(metadata={KEY: "member_id"})


@dataclass(frozen=True, kw_only=True)
class MemberUpdated(PrivateEvent):
    """The member's settings, name or role changed: their pages re-read their own."""

    type: ClassVar[str] = "member.updated"

    @classmethod
    def data_keys(cls) -> list[str]:
        return ["member_id"]

    @property
    def data(self) -> dict[str, Any]:
        # Names the member who changed, who is also the one who hears it.
        return {"member_id": self.member_id}


SignOutReason = Literal["deactivated", "password_reset", "token_revoked"]


@dataclass(frozen=True, kw_only=True)
class MemberSignedOut(PrivateEvent):
    """The member's live connections end (the WebSocket closes after this frame)."""

    type: ClassVar[str] = "member.signed_out"
    reason: SignOutReason


@dataclass(frozen=True, kw_only=True)
class TokenCreated(PrivateEvent):
    type: ClassVar[str] = "token.created"
    token_id: int


@dataclass(frozen=True, kw_only=True)
class TokenRevoked(PrivateEvent):
    type: ClassVar[str] = "token.revoked"
    token_id: int


@dataclass(frozen=True, kw_only=True)
class NotificationCreated(PrivateEvent):
    type: ClassVar[str] = "notification.created"
    notification_id: int
    kind: str
    conversation_id: int | None
    message_id: int | None
    actor_name: str


@dataclass(frozen=True, kw_only=True)
class NotificationsRead(PrivateEvent):
    """The member read all their notifications."""

    type: ClassVar[str] = "notifications.read"
