"""``/api/v1/forms`` as the contract says, and the public page at each form's ``url``, over HTTP."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import httpx

from madoguchi.connectors import web
from madoguchi.contacts import service as contacts
from madoguchi.crm import fields, tags
from madoguchi.kit.context import Ctx
from tests.fixtures import Factory, auth


async def _owner(factory: Factory) -> dict[str, str]:
    return auth(await factory.token(await factory.member(role="owner")))


async def _salon(ctx: Ctx) -> int:
    await fields.create_field(ctx, key="visits", label="来店回数", type="number")
    await fields.create_field(ctx, key="first_visit", label="初回来店日", type="date")
    return (await tags.create_tag(ctx, actor=None, name="メルマガ同意")).id


def _questions(agreed: int) -> list[dict[str, Any]]:
    return [
        {"key": "name", "label": "お名前", "type": "text", "required": True, "maps_to": "name"},
        {"key": "visits", "label": "来店回数", "type": "number", "maps_to": "field:visits"},
        {"key": "first", "label": "初回来店日", "type": "date", "maps_to": "field:first_visit"},
        {"key": "menu", "label": "メニュー", "type": "choice", "choices": ["カット", "カラー"]},
        {
            "key": "agree",
            "label": "お知らせを受け取る",
            "type": "consent",
            "maps_to": f"tag:{agreed}",
        },
    ]


async def _form(client: httpx.AsyncClient, headers: dict[str, str], agreed: int) -> dict[str, Any]:
    made = await client.post(
        "/api/v1/forms",
        json={"name": "ご来店アンケート", "fields": _questions(agreed)},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return made.json()  # type: ignore[no-any-return]


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


async def test_a_form_is_made_listed_changed_and_deleted_by_owners_only(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agreed = await _salon(factory.ctx)
    owner = await _owner(factory)
    agent = auth(await factory.token(await factory.member(role="agent")))
    refused = await client.post(
        "/api/v1/forms", json={"name": "x", "fields": _questions(agreed)}, headers=agent
    )
    assert refused.status_code == 403
    form = await _form(client, owner, agreed)
    assert set(form) >= {"id", "url"}
    assert form["url"].endswith(f"/f/{form['id']}")
    assert form["fields"][3]["choices"] == ["カット", "カラー"]
    listed = await client.get("/api/v1/forms", headers=agent)
    assert [f["id"] for f in listed.json()["items"]] == [form["id"]]
    assert (
        await client.patch(f"/api/v1/forms/{form['id']}", json={"closed": True}, headers=agent)
    ).status_code == 403
    closed = await client.patch(f"/api/v1/forms/{form['id']}", json={"closed": True}, headers=owner)
    assert closed.status_code == 200 and closed.json()["closed"] is True
    assert (await client.get(_path(form["url"]))).status_code == 404
    assert (await client.delete(f"/api/v1/forms/{form['id']}", headers=agent)).status_code == 403
    assert (await client.delete(f"/api/v1/forms/{form['id']}", headers=owner)).status_code == 204
    assert (await client.get(f"/api/v1/forms/{form['id']}", headers=owner)).status_code == 404
    assert (await client.get(_path(form["url"]))).status_code == 404


async def test_a_form_naming_a_missing_field_or_tag_is_a_422_with_a_sentence(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await _owner(factory)
    for maps_to, words in (("field:nothing", "no profile field"), ("tag:12345", "no tag")):
        answer = await client.post(
            "/api/v1/forms",
            json={
                "name": "x",
                "fields": [{"key": "q", "label": "質問", "type": "text", "maps_to": maps_to}],
            },
            headers=owner,
        )
        assert answer.status_code == 422
        assert words in answer.json()["detail"]
    wrong_type = await client.post(
        "/api/v1/forms",
        json={"name": "x", "fields": [{"key": "q", "label": "質問", "type": "checkbox"}]},
        headers=owner,
    )
    assert wrong_type.status_code == 422
    assert (await client.get("/api/v1/forms", headers=owner)).json()["items"] == []


async def test_the_public_page_works_without_signing_in_under_the_pages_policy(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agreed = await _salon(factory.ctx)
    form = await _form(client, await _owner(factory), agreed)
    page = await client.get(_path(form["url"]))
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text
    for words in ("ご来店アンケート", "お名前", "必須", "カラー", "送信"):
        assert words in page.text, words
    assert 'name="viewport"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"


async def test_a_customer_answers_through_their_customer_link(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    ctx = factory.ctx
    agreed = await _salon(ctx)
    owner = await _owner(factory)
    form = await _form(client, owner, agreed)
    channel = await factory.channel()
    contact_id = (await factory.inbound(channel, name="山田 花子")).conversation.contact_id
    link = await web.create_customer_link(ctx, contact_id=contact_id)
    token = link.rsplit("/", 1)[1]
    address = f"{_path(form['url'])}?c={token}"
    shown = await client.get(address)
    assert f'action="/f/{form["id"]}?c={token}"' in shown.text
    sent = await client.post(
        address,
        data={
            "name": "山田",
            "visits": "12",
            "first": "2026-04-01",
            "menu": "カット",
            "agree": "on",
        },
    )
    assert sent.status_code == 303
    thanks = await client.get(sent.headers["location"])
    assert "ご回答ありがとうございました" in thanks.text
    contact = await client.get(f"/api/v1/contacts/{contact_id}", headers=owner)
    body = contact.json()
    assert body["display_name"] == "山田 花子"
    assert body["fields"]["visits"] == 12
    assert body["fields"]["first_visit"] == "2026-04-01"
    assert agreed in [tag["id"] for tag in body["tags"]]
    answers = (await client.get(f"/api/v1/forms/{form['id']}/answers", headers=owner)).json()
    assert [
        (a["contact_id"], a["answers"]["visits"], a["answers"]["agree"]) for a in answers["items"]
    ] == [(contact_id, 12, True)]
    # A revoked link names nobody: the form says so rather than taking the answer as someone new.
    await web.revoke_customer_link(ctx, contact_id=contact_id)
    gone = await client.post(address, data={"name": "山田"})
    assert gone.status_code == 404
    assert (
        len(
            (await client.get(f"/api/v1/forms/{form['id']}/answers", headers=owner)).json()["items"]
        )
        == 1
    )


async def test_an_anonymous_answer_makes_a_new_contact_without_a_channel(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agreed = await _salon(factory.ctx)
    owner = await _owner(factory)
    form = await _form(client, owner, agreed)
    sent = await client.post(_path(form["url"]), data={"name": "通りすがりの人", "visits": "1"})
    assert sent.status_code == 303
    items = (await client.get(f"/api/v1/forms/{form['id']}/answers", headers=owner)).json()["items"]
    assert [a["contact_name"] for a in items] == ["通りすがりの人"]
    contact = (await client.get(f"/api/v1/contacts/{items[0]['contact_id']}", headers=owner)).json()
    assert contact["fields"]["visits"] == 1
    assert contact["tags"] == []


async def test_wrong_and_missing_answers_come_back_beside_their_questions_with_what_was_typed(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agreed = await _salon(factory.ctx)
    owner = await _owner(factory)
    form = await _form(client, owner, agreed)
    before = (await client.get("/api/v1/contacts", headers=owner)).json()["items"]
    sent = await client.post(
        _path(form["url"]),
        data={"name": "", "visits": "たくさん", "first": "来月", "menu": "パーマ"},
    )
    assert sent.status_code == 422
    page = sent.text
    assert "お名前は必須です。" in page
    assert 'id="q-visits-error"' in page and "来店回数" in page
    assert 'value="たくさん"' in page and 'value="来月"' in page
    assert 'aria-invalid="true"' in page
    assert (await client.get("/api/v1/contacts", headers=owner)).json()["items"] == before
    answers = (await client.get(f"/api/v1/forms/{form['id']}/answers", headers=owner)).json()
    assert answers["items"] == []


async def test_a_signed_link_for_one_contact_fills_that_contact(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    ctx = factory.ctx
    agreed = await _salon(ctx)
    owner = await _owner(factory)
    form = await _form(client, owner, agreed)
    contact = await contacts.create_contact(ctx, display_name="LINEの佐藤")
    link = await client.get(
        f"/api/v1/forms/{form['id']}/link", params={"contact_id": contact.id}, headers=owner
    )
    assert link.status_code == 200
    sent = await client.post(_path(link.json()["url"]), data={"name": "佐藤", "visits": "5"})
    assert sent.status_code == 303
    values = (await client.get(f"/api/v1/contacts/{contact.id}", headers=owner)).json()["fields"]
    assert values["visits"] == 5
    tampered = _path(link.json()["url"]).replace(f"k={contact.id}.", f"k={contact.id + 1}.")
    assert (await client.get(tampered)).status_code == 404


async def test_answers_as_csv_are_safe_for_a_spreadsheet(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agreed = await _salon(factory.ctx)
    owner = await _owner(factory)
    form = await _form(client, owner, agreed)
    for name in ('=HYPERLINK("http://evil.example")', "鈴木"):
        sent = await client.post(_path(form["url"]), data={"name": name, "agree": "on"})
        assert sent.status_code == 303
    answer = await client.get(
        f"/api/v1/forms/{form['id']}/answers", headers={**owner, "Accept": "text/csv"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert rows[0] == [
        "回答日時",
        "お客様ID",
        "お客様名",
        "お名前",
        "来店回数",
        "初回来店日",
        "メニュー",
        "お知らせを受け取る",
    ]
    assert [row[3] for row in rows[1:]] == ["鈴木", '\'=HYPERLINK("http://evil.example")']
    assert rows[1][7] == "はい"
    assert answer.headers["x-madoguchi-replaced-cells"] == "0"


async def test_answers_in_shift_jis_write_a_stand_in_and_say_how_many_cells(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agreed = await _salon(factory.ctx)
    owner = await _owner(factory)
    form = await _form(client, owner, agreed)
    for name in ("ようこ🌷", "=🌸", "鈴木"):
        sent = await client.post(_path(form["url"]), data={"name": name, "agree": "on"})
        assert sent.status_code == 303
    answer = await client.get(
        f"/api/v1/forms/{form['id']}/answers?encoding=cp932",
        headers={**owner, "Accept": "text/csv"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=Shift_JIS"
    # お名前 and お客様名 of the two customers with an emoji: four cells.
    assert answer.headers["x-madoguchi-replaced-cells"] == "4"
    rows = list(csv.reader(io.StringIO(answer.content.decode("cp932"))))
    assert [row[3] for row in rows[1:]] == ["鈴木", "'=〓", "ようこ〓"]
    wrong = await client.get(
        f"/api/v1/forms/{form['id']}/answers?encoding=latin-1",
        headers={**owner, "Accept": "text/csv"},
    )
    assert wrong.status_code == 422


async def test_a_body_too_large_for_the_public_form_is_refused(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    agreed = await _salon(factory.ctx)
    form = await _form(client, await _owner(factory), agreed)
    huge = "x" * (factory.ctx.settings.max_body_bytes + 10)
    sent = await client.post(_path(form["url"]), data={"name": huge})
    assert sent.status_code == 413
