from __future__ import annotations

import httpx

from tests.fixtures import Factory, auth


async def _setup(factory: Factory) -> tuple[str, int]:
    member = await factory.member(role="owner")
    token = await factory.token(member)
    channel = await factory.channel()
    return token, channel.id


async def test_inbound_message_appears_in_the_inbox_list_unread(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    token, channel_id = await _setup(factory)
    response = await client.post(
        f"/api/v1/channels/{channel_id}/inbound",
        json={"contact": {"external_id": "c-1", "name": "佐藤 美咲"}, "external_id": "m-1",
              "text": "カットの予約をしたいです"},
        headers=auth(token),
    )
    assert response.status_code == 201, response.text
    listing = (await client.get("/api/v1/conversations", headers=auth(token))).json()
    [item] = listing["items"]
    assert item["contact"]["display_name"] == "佐藤 美咲"
    assert item["last_message_preview"] == "カットの予約をしたいです"
    assert item["unread"] is True and item["unread_count"] == 1
    assert item["contact_id"] == response.json()["conversation_id"] or item["contact_id"]
