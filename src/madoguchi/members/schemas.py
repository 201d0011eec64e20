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
    # A reset password: only changing it (POST /api/v1/me/password) is allowed until then.
    password_must_change: bool
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


class MemberUpdate(BaseModel):
    """What an owner or admin changes about a member (any of these)."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["owner", "admin", "agent"] | None = None
    active: bool | None = None
    name: str | None = Field(default=None, max_length=100)


class PasswordReset(BaseModel):
    """A one-time password: the member must choose their own at their next sign-in."""

    password: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current: str = Field(max_length=1000)
    new: str = Field(max_length=1000)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100, description="What the token is for.")


class TokenCreated(BaseModel):
    """The token's secret is in this answer only: only its hash is kept."""

    id: int
    name: str
    token: str
    created_at: datetime


class TokenOut(BaseModel):
    id: int
    name: str
    member_id: int
    member_name: str
    created_at: datetime
    # Noted at most once a minute.
    last_used_at: datetime | None


class TokenList(BaseModel):
    items: list[TokenOut]
