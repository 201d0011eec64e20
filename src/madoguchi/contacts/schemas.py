from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from madoguchi.contacts.repository import ContactDetail
from madoguchi.kit.schemas import Label


class ChannelRef(BaseModel):
    id: int
    kind: str
    name: str


class ContactOut(BaseModel):
    id: int
    channel: ChannelRef | None
    external_id: str | None
    channel_name: str
    display_name: str
    avatar_url: str | None
    email: str | None
    phone: str | None
    # フリガナ in full-width katakana (F46); suggested from a kanji name when none was given.
    reading: str | None
    mail_opt_in: bool
    hidden: bool
    blocked: bool
    status: Label | None
    mark: Label | None
    tags: list[Label]
    fields: dict[str, Any]
    conversation_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, detail: ContactDetail) -> ContactOut:
        c = detail.contact
        return cls(
            id=c.id,
            channel=(
                ChannelRef(id=detail.channel.id, kind=detail.channel.kind, name=detail.channel.name)
                if detail.channel
                else None
            ),
            external_id=c.external_id,
            channel_name=c.channel_name,
            display_name=c.display_name,
            avatar_url=c.avatar_url,
            email=c.email,
            phone=c.phone,
            reading=c.reading,
            mail_opt_in=c.mail_opt_in,
            hidden=c.hidden,
            blocked=c.blocked,
            status=Label.of(detail.status),
            mark=Label.of(detail.mark),
            tags=[label for tag in detail.tags if (label := Label.of(tag))],
            fields=detail.values,
            conversation_ids=detail.conversation_ids,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )


class ContactPageOut(BaseModel):
    items: list[ContactOut]
    next_cursor: int | None


class ContactUpdate(BaseModel):
    """Fields to change; those left out stay as they are (``null`` clears status, mark, e-mail
    and phone)."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, max_length=255)
    # Strict: "yes", 1 or "true" is a mistake to answer with a 422, not a guess.
    status: StrictInt | StrictStr | None = None
    mark: StrictInt | StrictStr | None = None
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    # Kana only (hiragana, katakana or half-width: kept as katakana); blank or null goes back
    # to the reading suggested for the name.
    reading: str | None = Field(default=None, max_length=200)
    mail_opt_in: StrictBool | None = None
    hidden: StrictBool | None = None
    blocked: StrictBool | None = None


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    external_id: str | None = Field(default=None, max_length=255)
    reading: str | None = Field(default=None, max_length=200)


class MergeIn(BaseModel):
    """Merge ``other`` into the contact of the address (F43); ``keep``: for a field both have
    (``display_name``, ``reading``, ``email``, ``phone``, ``status``, ``mark``, ``mail_opt_in``
    or a profile field's key), whose value stays. Unsaid: the kept contact's."""

    model_config = ConfigDict(extra="forbid")
    other: StrictInt
    keep: dict[str, Literal["this", "other"]] = Field(default_factory=dict, max_length=200)


class ContactBrief(BaseModel):
    id: int
    display_name: str
    reading: str | None
    email: str | None
    phone: str | None


class DuplicateOut(BaseModel):
    contact: ContactBrief
    other: ContactBrief
    # Why they look like one person: "phone", "email", "reading".
    reasons: list[str]


class DuplicatesOut(BaseModel):
    items: list[DuplicateOut]


class MergeOut(BaseModel):
    """A merge into the contact that can still be undone (F43)."""

    id: int
    other: ContactBrief
    at: datetime
    undo_until: datetime
    # False while a later merge of either contact comes first (undo that one first).
    undoable: bool


class MergesOut(BaseModel):
    items: list[MergeOut]


class UnmergeOut(BaseModel):
    """After an undone merge: the contact merged into, and the one that is its own again."""

    kept: ContactOut
    restored: ContactOut
