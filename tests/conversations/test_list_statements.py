"""The inbox list reads a page in a fixed number of statements, whatever its size (issue 14):
what each row shows beside it (its contact, status, mark, tags, channel, unread count) is read
for the whole page at once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from tests.fixtures import Factory, auth

# A session's statements for a page: the member behind the token, the page's rows, the
# contacts with their labels, the channels, the tags, the workspace's 未確認 setting, the
# unread counts (and SQLite's BEGIN).
BUDGET = 8


async def _read(client: httpx.AsyncClient, token: str, limit: int) -> tuple[int, Any]:
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The token's last use, noted once a minute, is not the page's.
        if not statement.startswith("UPDATE api_tokens"):
            statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        response = await client.get(
            "/api/v1/conversations", params={"limit": limit}, headers=auth(token)
        )
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert response.status_code == 200, response.text
    return len(statements), response.json()


@pytest.mark.parametrize("per_member", [False, True], ids=["team unread", "own unread"])
async def test_a_page_of_twelve_costs_the_statements_a_page_of_two_does(
    client: httpx.AsyncClient, factory: Factory, per_member: bool
) -> None:
    owner = await factory.member(role="owner")
    token = await factory.token(owner)
    channel = await factory.channel()
    for n in range(12):
        await factory.inbound(channel, contact=f"c{n}", name=f"客 {n}", text=f"問い合わせ {n}")
    if per_member:
        await factory.unread_per_member()
    await factory.ctx.db.commit()
    headers = auth(token)
    status = (
        await client.post("/api/v1/statuses", json={"name": "見積もり待ち"}, headers=headers)
    ).json()
    tag = (await client.post("/api/v1/tags", json={"name": "VIP"}, headers=headers)).json()
    mark = (await client.get("/api/v1/marks", headers=headers)).json()["items"][0]
    listed = (await client.get("/api/v1/conversations", headers=headers)).json()["items"]
    for item in listed:
        contact_id = item["contact"]["id"]
        patched = await client.patch(
            f"/api/v1/contacts/{contact_id}",
            json={"status": status["id"], "mark": mark["id"]},
            headers=headers,
        )
        assert patched.status_code == 200, patched.text
        tagged = await client.put(
            f"/api/v1/contacts/{contact_id}/tags/{tag['id']}", headers=headers
        )
        assert tagged.status_code == 204, tagged.text

    small, two = await _read(client, token, 2)
    large, twelve = await _read(client, token, 12)
    assert len(two["items"]) == 2 and len(twelve["items"]) == 12
    for item in twelve["items"]:
        assert item["contact"]["status"]["id"] == status["id"]
        assert item["contact"]["mark"]["id"] == mark["id"]
        assert [t["id"] for t in item["contact"]["tags"]] == [tag["id"]]
        assert item["channel"]["id"] == channel.id
        assert item["unread"] is True and item["unread_count"] == 1
    assert small == large <= BUDGET
