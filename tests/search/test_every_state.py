"""A search for words in 一覧 looks through every conversation (issue 13, item 2): closed, snoozed
and hidden customers are found too; a state view chosen on purpose keeps its own rule. Both the
search walk (words alone) and the filtered list (words and another condition) follow it, and so
does the live check (in_view)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import httpx

from madoguchi.contacts import service as contacts
from madoguchi.conversations import repository, workflow
from madoguchi.conversations.repository import InboxQuery, View
from madoguchi.crm.filters import Condition
from madoguchi.kit.context import Ctx
from tests.fixtures import Factory, auth


def _word() -> str:
    return "".join(chr(0x5000 + secrets.randbelow(0x2000)) for _ in range(3))


async def test_a_search_finds_a_customer_whatever_the_state(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    member = await factory.member(role="owner")
    channel = await factory.channel()
    word = _word()
    ids = {}
    for state in ("open", "closed", "snoozed", "hidden"):
        ingested = await factory.inbound(
            channel, contact=f"c-{state}-{word}", name=f"{word} {state}", text="こんにちは"
        )
        ids[state] = ingested.conversation.id
        contact_id = ingested.conversation.contact_id
        if state == "closed":
            await workflow.close(ctx, conversation_id=ids[state], actor=member)
        elif state == "snoozed":
            until = datetime.now(UTC) + timedelta(days=3)
            await workflow.snooze(ctx, conversation_id=ids[state], until=until, actor=member)
        elif state == "hidden":
            await contacts.update_contact(
                ctx, contact_id=contact_id, changes=contacts.ContactChanges(hidden=True)
            )
    await ctx.db.commit()

    async def found(query: InboxQuery) -> set[int]:
        page = await repository.list_conversations(ctx.db, member_id=member.id, query=query)
        return {conversation.id for conversation in page.conversations}

    everything = set(ids.values())
    # Words alone (the search walk), and words with another condition (the filtered list).
    assert await found(InboxQuery(q=word)) == everything
    channel_too = (Condition("channel", "eq", channel.id),)
    assert await found(InboxQuery(q=word, conditions=channel_too)) == everything
    # Without words 一覧 stays the open work.
    assert await found(InboxQuery(conditions=channel_too)) == {ids["open"]}
    # A state view chosen on purpose keeps its rule, words or not.
    assert await found(InboxQuery(view=View.closed, q=word)) == {ids["closed"]}
    assert await found(InboxQuery(view=View.snoozed, q=word)) == {ids["snoozed"]}
    assert await found(InboxQuery(view=View.hidden, q=word)) == {ids["hidden"]}
    assert await found(InboxQuery(view=View.mine, q=word)) == set()
    for conversation_id in everything:
        assert await repository.in_view(
            ctx.db, member_id=member.id, query=InboxQuery(q=word), conversation_id=conversation_id
        )
    assert not await repository.in_view(
        ctx.db, member_id=member.id, query=InboxQuery(), conversation_id=ids["closed"]
    )

    # The API follows the same rule, and says each result's state.
    headers = auth(await factory.token(member))
    listed = (await client.get("/api/v1/conversations", params={"q": word}, headers=headers)).json()
    states = {item["id"]: (item["state"], item["contact"]["hidden"]) for item in listed["items"]}
    assert states == {
        ids["open"]: ("open", False),
        ids["closed"]: ("closed", False),
        ids["snoozed"]: ("snoozed", False),
        ids["hidden"]: ("open", True),
    }
    closed_only = await client.get(
        "/api/v1/conversations", params={"q": word, "view": "closed"}, headers=headers
    )
    assert [item["id"] for item in closed_only.json()["items"]] == [ids["closed"]]
