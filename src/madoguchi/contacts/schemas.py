from __future__ import annotations

from datetime import datetime
from typing import Any

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
    mail_opt_in: StrictBool | None = None
    hidden: StrictBool | None = None
    blocked: StrictBool | None = None


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=50)
    external_id: str | None = Field(default=None, max_length=255)
