from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000)


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str
    role: str
    send_shortcut: str
    language: str
    notify_assigned: bool
    notify_mentions: bool
    active: bool
    created_at: datetime


class MemberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    name: str = Field(max_length=100)
    role: Literal["owner", "admin", "agent"] = "agent"
    password: str | None = Field(default=None, max_length=1000)


class MeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    send_shortcut: Literal["enter", "mod_enter"] | None = None
    language: Literal["ja", "en"] | None = None
    notify_assigned: bool | None = None
    notify_mentions: bool | None = None


class MemberList(BaseModel):
    items: list[MemberOut]
