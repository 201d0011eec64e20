"""``/api/v1/contacts`` refusing what it must: an agent deleting a customer, a value of the wrong
type, and numbers or dates out of range — each a clear 4xx, nothing changed."""

from __future__ import annotations

import json

import httpx
import pytest

from madoguchi.members.models import Member
from tests.fixtures import Factory, auth


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner")


@pytest.fixture
async def token(factory: Factory, owner: Member) -> str:
    return await factory.token(owner)


@pytest.fixture
async def contact_id(factory: Factory) -> int:
    channel = await factory.channel()
    return (await factory.inbound(channel, name="山田 花子")).conversation.contact_id


async def _contact(client: httpx.AsyncClient, token: str, contact_id: int) -> httpx.Response:
    return await client.get(f"/api/v1/contacts/{contact_id}", headers=auth(token))


async def test_an_agent_cannot_delete_a_customer_but_an_admin_can(
    client: httpx.AsyncClient, factory: Factory, token: str, contact_id: int
) -> None:
    agent = await factory.token(await factory.member(role="agent"))
    refused = await client.delete(f"/api/v1/contacts/{contact_id}", headers=auth(agent))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only owners and admins can delete a customer."
    assert (await _contact(client, token, contact_id)).json()["conversation_ids"]

    admin = await factory.token(await factory.member(role="admin"))
    deleted = await client.delete(f"/api/v1/contacts/{contact_id}", headers=auth(admin))
    assert deleted.status_code == 204
    assert (await _contact(client, token, contact_id)).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"mail_opt_in": "yes"},
        {"mail_opt_in": "true"},
        {"blocked": 1},
        {"hidden": 0},
        {"hidden": "false"},
        {"status": True},
        {"mark": 1.0},
    ],
)
async def test_patch_refuses_values_of_the_wrong_type(
    client: httpx.AsyncClient, token: str, contact_id: int, change: dict[str, object]
) -> None:
    response = await client.patch(
        f"/api/v1/contacts/{contact_id}", json=change, headers=auth(token)
    )
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], str)
    contact = (await _contact(client, token, contact_id)).json()
    assert (contact["mail_opt_in"], contact["blocked"], contact["hidden"]) == (
        False,
        False,
        False,
    )
    assert (contact["status"], contact["mark"]) == (None, None)


async def test_a_text_field_refuses_a_number(
    client: httpx.AsyncClient, token: str, contact_id: int
) -> None:
    field = {"key": "staff", "label": "担当者", "type": "text"}
    assert (await client.post("/api/v1/fields", json=field, headers=auth(token))).status_code == 201
    for value in (123, 1.5, True, ["鈴木"]):
        response = await client.put(
            f"/api/v1/contacts/{contact_id}/fields/staff",
            json={"value": value},
            headers=auth(token),
        )
        assert response.status_code == 422, value
        assert response.json()["detail"] == "担当者 takes text."
    assert (await _contact(client, token, contact_id)).json()["fields"] == {}
    shown = await client.patch("/api/v1/fields/1", json={"show_in_chat": "no"}, headers=auth(token))
    assert shown.status_code == 422


async def test_an_empty_text_condition_is_a_422_with_a_sentence(
    client: httpx.AsyncClient, token: str, contact_id: int
) -> None:
    for value in ("", "   "):
        condition = {"field": "text", "op": "contains", "value": value}
        response = await client.get(
            "/api/v1/contacts", params={"filter": json.dumps([condition])}, headers=auth(token)
        )
        assert response.status_code == 422
        assert response.json()["detail"] == "The text condition needs a word to look for."
    field = {"key": "staff", "label": "担当者", "type": "text"}
    assert (await client.post("/api/v1/fields", json=field, headers=auth(token))).status_code == 201
    for op in ("contains", "eq"):
        condition = {"field": "field.staff", "op": op, "value": ""}
        response = await client.get(
            "/api/v1/contacts", params={"filter": json.dumps([condition])}, headers=auth(token)
        )
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "担当者 takes a text (to find contacts without one, use empty)."
        )


HUGE = 99999999999999999999


@pytest.mark.parametrize(
    ("condition", "detail"),
    [
        (
            {"field": "channel", "op": "eq", "value": HUGE},
            f"An id is a whole number from 1 to 2147483647, not {HUGE}.",
        ),
        (
            {"field": "status", "op": "eq", "value": HUGE},
            f"An id is a whole number from 1 to 2147483647, not {HUGE}.",
        ),
        (
            {"field": "tag", "op": "in", "value": [str(HUGE)]},
            f"An id is a whole number from 1 to 2147483647, not {HUGE}.",
        ),
        (
            {"field": "assignee", "op": "eq", "value": 2**31},
            "An id is a whole number from 1 to 2147483647, not 2147483648.",
        ),
        (
            {"field": "record.施術履歴.newest_at", "op": "days_ago", "value": 99999999999},
            "days_ago takes a number of days from 0 (today) to 36500.",
        ),
        (
            {"field": "record.施術履歴.any_at", "op": "between_days_ago", "value": [0, 10**12]},
            "between_days_ago takes two numbers of days from 0 to 36500, like [7, 30].",
        ),
        (
            {"field": "record.施術履歴.newest_at", "op": "before", "value": "0001-01-01"},
            "A date must be between the years 1900 and 2999.",
        ),
        (
            {"field": "record.施術履歴.newest_at", "op": "after", "value": "9999-12-31"},
            "A date must be between the years 1900 and 2999.",
        ),
    ],
)
async def test_numbers_and_dates_out_of_range_in_a_filter_are_422(
    client: httpx.AsyncClient,
    token: str,
    contact_id: int,
    condition: dict[str, object],
    detail: str,
) -> None:
    book = await client.post("/api/v1/record-books", json={"name": "施術履歴"}, headers=auth(token))
    assert book.status_code == 201
    response = await client.get(
        "/api/v1/contacts", params={"filter": json.dumps([condition])}, headers=auth(token)
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == detail


@pytest.mark.parametrize(
    "at",
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59",
    ],
)
async def test_a_record_dated_at_the_calendars_ends_is_422(
    client: httpx.AsyncClient, token: str, contact_id: int, at: str
) -> None:
    book = await client.post("/api/v1/record-books", json={"name": "施術履歴"}, headers=auth(token))
    response = await client.post(
        f"/api/v1/contacts/{contact_id}/records",
        json={"book": book.json()["id"], "at": at},
        headers=auth(token),
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "A date must be between the years 1900 and 2999."
    listed = await client.get(f"/api/v1/contacts/{contact_id}/records", headers=auth(token))
    assert listed.json()["items"] == []


async def test_ids_past_the_databases_range_are_404_or_422(
    client: httpx.AsyncClient, token: str, contact_id: int
) -> None:
    for path in (
        f"/api/v1/contacts/{HUGE}",
        f"/api/v1/contacts/{2**31}/memos",
        f"/api/v1/contacts/{contact_id}/records?book={HUGE}",
        f"/api/v1/records/{HUGE}",
    ):
        response = await client.get(path, headers=auth(token))
        assert response.status_code == 404, (path, response.text)
    for method, path, body in (
        ("PATCH", f"/api/v1/contacts/{contact_id}", {"status": HUGE}),
        ("PATCH", f"/api/v1/contacts/{contact_id}", {"mark": 2**31}),
        ("PUT", f"/api/v1/contacts/{contact_id}/tags", {"ids": [HUGE]}),
        ("PUT", f"/api/v1/contacts/{contact_id}/tags/{HUGE}", None),
        ("PATCH", f"/api/v1/statuses/{HUGE}", {"name": "x"}),
        ("PATCH", f"/api/v1/marks/{HUGE}", {"name": "x"}),
        ("DELETE", f"/api/v1/tags/{HUGE}", None),
        ("DELETE", f"/api/v1/contacts/{contact_id}/memos/{HUGE}", None),
        ("DELETE", f"/api/v1/fields/{HUGE}", None),
        ("DELETE", f"/api/v1/record-books/{HUGE}", None),
    ):
        response = await client.request(method, path, json=body, headers=auth(token))
        assert response.status_code == 404, (method, path, response.text)
    listed = await client.get("/api/v1/contacts", params={"cursor": HUGE}, headers=auth(token))
    assert listed.status_code == 422
    by_channel = await client.get("/api/v1/contacts", params={"channel": HUGE}, headers=auth(token))
    assert by_channel.status_code == 422
