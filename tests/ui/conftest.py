"""Helpers for the staff UI tests: a browser-like client signed in through the login form."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from madoguchi.channels.models import Channel
from madoguchi.conversations.service import Ingested
from madoguchi.members.models import Member
from tests.fixtures import PASSWORD, Factory

HTML = {"Accept": "text/html"}
HTMX = {"HX-Request": "true"}


async def sign_in(client: httpx.AsyncClient, member: Member) -> None:
    response = await client.post(
        "/login", data={"email": member.email, "password": PASSWORD, "next": "/"}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"


@dataclass
class Inbox:
    """A signed-in member, an API channel and one customer's unread message."""

    member: Member
    channel: Channel
    first: Ingested

    @property
    def conversation_id(self) -> int:
        return self.first.conversation.id

    @property
    def contact_id(self) -> int:
        return self.first.conversation.contact_id


@pytest.fixture
async def inbox(client: httpx.AsyncClient, factory: Factory) -> Inbox:
    member = await factory.member(role="owner", name="店長")
    channel = await factory.channel()
    first = await factory.inbound(
        channel, contact="c-1", name="佐藤 美咲", text="カットの予約をしたいです"
    )
    await sign_in(client, member)
    return Inbox(member=member, channel=channel, first=first)


async def is_unread(client: httpx.AsyncClient, conversation_id: int) -> bool:
    """The member's read state, through the API (the same session cookie)."""
    response = await client.get(f"/api/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    unread: bool = response.json()["unread"]
    return unread
