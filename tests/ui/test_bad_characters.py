"""Input no database can keep, refused at the door: the NUL character (PostgreSQL refuses it in
text) and numbers or dates out of range. Each is a clear 422 and nothing is stored."""

from __future__ import annotations

import httpx

from madoguchi.kit.nul import refusal_for
from tests.fixtures import Factory
from tests.ui.conftest import HTMX, Inbox


async def stored_texts(client: httpx.AsyncClient, conversation_id: int) -> list[str]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}/messages")
    return [m["text"] for m in response.json()["items"]]


async def test_a_nul_in_json_a_form_or_a_query_is_a_clear_422(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    url = f"/api/v1/conversations/{inbox.conversation_id}/messages"
    before = await stored_texts(client, inbox.conversation_id)

    in_json = await client.post(url, json={"text": "a\u0000b"})
    assert in_json.status_code == 422
    assert in_json.json()["detail"] == "Text cannot contain the NUL character (U+0000)."
    renamed = await client.patch(
        f"/api/v1/contacts/{inbox.contact_id}", json={"display_name": "佐藤\u0000様"}
    )
    assert renamed.status_code == 422

    in_form = await client.post(
        f"/ui/conversations/{inbox.conversation_id}/messages",
        data={"text": "ご予約\u0000ありがとうございます", "kind": "reply"},
        headers=HTMX,
    )
    assert in_form.status_code == 422
    assert in_form.text == "テキストにNUL文字（U+0000）は使えません。"

    searched = await client.get("/api/v1/conversations", params={"q": "予約\u0000"})
    assert searched.status_code == 422
    assert await stored_texts(client, inbox.conversation_id) == before

    half = await client.post(
        url,
        content='{"text": "\\ud83d だけ"}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert half.status_code == 422
    assert half.json()["detail"] == (
        "Text cannot contain half of a character (a lone UTF-16 surrogate)."
    )
    whole = await client.post(
        url,
        content='{"text": "\\ud83d\\ude00 ありがとう"}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert whole.status_code == 201 and whole.json()["text"] == "😀 ありがとう"

    # A backslash and "u0000" written as text are five characters, not a NUL: kept as typed.
    typed = await client.post(url, json={"text": "escape: \\u0000"})
    assert typed.status_code == 201, typed.text
    assert typed.json()["text"] == "escape: \\u0000"


def test_what_counts_as_a_nul() -> None:
    assert refusal_for(b"q=%00", b"", "")
    assert refusal_for(b"", b'{"a": ["x", {"b": "\\u0000"}]}', "application/json")
    assert refusal_for(b"", b'{"\\u0000": 1}', "application/json")
    assert not refusal_for(b"", b'{"a": "\\\\u0000"}', "application/json")
    assert refusal_for(b"", b"text=a%00b", "application/x-www-form-urlencoded")
    assert not refusal_for(b"", b"text=100%25", "application/x-www-form-urlencoded")
    assert not refusal_for(b"", b'{"broken": ', "application/json")
    assert refusal_for(b"", b'{"a": "\\uD800"}', "application/json")
    assert not refusal_for(b"", b'{"a": "\\ud83d\\ude00"}', "application/json")


async def test_numbers_and_dates_out_of_range_are_422_not_500(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    huge = 99999999999999999999999
    read = await client.post(f"/api/v1/conversations/{huge}/read")
    assert read.status_code in (404, 422), read.text
    listed = await client.get("/api/v1/conversations", params={"tag": str(huge)})
    assert listed.status_code in (404, 422), listed.text
    snoozed = await client.post(
        f"/api/v1/conversations/{inbox.conversation_id}/snooze",
        json={"until": "9999-12-31T23:59:59-12:00"},
    )
    assert snoozed.status_code == 422, snoozed.text
    fragment = await client.post(
        f"/ui/conversations/{huge}/read",
        headers=HTMX,
    )
    assert fragment.status_code in (404, 422)


async def test_a_customer_message_with_a_nul_is_kept_without_it(factory: Factory) -> None:
    channel = await factory.channel()
    ingested = await factory.inbound(
        channel, contact="c\x00-9", name="田中\x00様", text="予約\x00します", external_id="m\x001"
    )
    assert ingested.message.text == "予約します"
    assert ingested.message.external_id == "m1"
