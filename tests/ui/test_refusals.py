"""One handler answers a domain refusal: a staff UI fragment gets the translated sentence, in
the language of the member it was made for, where the API gets {"detail"} JSON."""

from __future__ import annotations

import httpx

from tests.fixtures import Factory, auth


async def test_a_refused_fragment_says_why_in_the_members_language(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    japanese = auth(await factory.token(await factory.member(role="owner")))
    english_member = await factory.member(role="owner")
    english = auth(await factory.token(english_member))
    assert (
        await client.patch("/api/v1/me", json={"language": "en"}, headers=english)
    ).status_code == 200
    fragment = {"HX-Request": "true"}

    answer = await client.get("/ui/contacts/999999/tags/edit", headers={**japanese, **fragment})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text == "ID 999999 のお客様は見つかりません。"

    answer = await client.get("/ui/contacts/999999/tags/edit", headers={**english, **fragment})
    assert (answer.status_code, answer.text) == (404, "No contact with id 999999.")

    # A refusal from the service inside a form post, too (an empty tag name).
    contact_id = (await factory.inbound(await factory.channel())).conversation.contact_id
    answer = await client.post(
        f"/ui/contacts/{contact_id}/tags/new", data={"name": " "}, headers={**japanese, **fragment}
    )
    assert answer.status_code == 422 and answer.text and not answer.text.startswith("{")

    # The API keeps its JSON.
    api = await client.get("/api/v1/contacts/999999", headers=japanese)
    assert api.status_code == 404 and api.json() == {"detail": "No contact with id 999999."}
