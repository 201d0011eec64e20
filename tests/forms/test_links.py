"""``{{form:<id>}}`` in a template or a broadcast: each customer gets their own signed link to the
form, and answering through it fills that customer; a form that does not exist is refused when the
text is saved."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from madoguchi.automation import templates
from madoguchi.broadcasts import segments
from madoguchi.broadcasts import service as broadcasts
from madoguchi.channels.models import Channel
from madoguchi.config import Settings
from madoguchi.events import InProcessBus
from madoguchi.forms import service as forms
from madoguchi.forms.links import placeholder
from madoguchi.forms.models import FormAnswer
from madoguchi.jobs import Worker
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import Invalid
from tests.channels.conftest import Recorder, line, recorder, recorder_server
from tests.fixtures import Factory, auth

__all__ = ["line", "recorder", "recorder_server"]

QUESTIONS = [{"key": "visits", "label": "来店回数", "type": "number"}]
LINK = re.compile(r"https?://\S+/f/(\d+)\?k=\S+")


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


async def _answered_by(database: Database, form_id: int) -> list[int]:
    async with database.read_sessions() as session:
        rows = await session.scalars(
            select(FormAnswer.contact_id).where(FormAnswer.form_id == form_id)
        )
        return sorted(rows)


async def test_a_sent_template_carries_the_contacts_own_link_that_identifies_them(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, database: Database, line: Channel
) -> None:
    form = await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)
    template = await templates.create_template(
        ctx, name="アンケートのお願い", text="{name}様、アンケートはこちら: " + placeholder(form.id)
    )
    sato = (await factory.inbound(line, contact="U1", name="佐藤 美咲")).conversation
    suzuki = (await factory.inbound(line, contact="U2", name="鈴木 彩")).conversation
    sent = [
        await templates.send_template(
            ctx, conversation_id=conversation.id, template_id=template.id, member=None
        )
        for conversation in (sato, suzuki)
    ]
    texts = [message.text or "" for message in sent]
    assert texts[0].startswith("佐藤 美咲様、アンケートはこちら: http")
    links = [LINK.search(text) for text in texts]
    assert all(links) and links[0] != links[1]
    assert {int(found.group(1)) for found in links if found} == {form.id}
    # Each link is the contact's own: what Suzuki answers through hers goes to her.
    url = links[1].group(0) if links[1] else ""
    assert url == await forms.contact_link(ctx, form_id=form.id, contact_id=suzuki.contact_id)
    answered = await client.post(_path(url), data={"visits": "3"})
    assert answered.status_code == 303
    assert await _answered_by(database, form.id) == [suzuki.contact_id]
    # The composer's preview fills it the same way, for the conversation it is asked for.
    shown = await templates.preview(
        ctx, template_id=template.id, conversation_id=sato.id, member=None
    )
    assert shown.text == texts[0]


async def test_a_template_or_broadcast_naming_a_missing_form_is_refused_when_saved(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, line: Channel
) -> None:
    line_id = line.id  # read before the rollbacks below expire it
    owner = auth(await factory.token(await factory.member(role="owner")))
    form_id = (await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)).id
    for text in ("こちら: " + placeholder(form_id + 1), "こちら: {{ form:abc }}", "{form:999}"):
        refused = await client.post(
            "/api/v1/templates", json={"name": "案内", "text": text}, headers=owner
        )
        assert refused.status_code == 422, refused.text
        assert "which does not exist" in refused.json()["detail"]
    try:
        await templates.create_template(ctx, name="案内", text=placeholder(form_id + 7))
    except Invalid as error:
        assert error.message.startswith("The text links the form {{form:")
    else:
        raise AssertionError("a template naming a missing form was stored")
    assert await templates.list_templates(ctx.db) == []
    await ctx.db.rollback()  # SQLite's one writer: the app's requests need the lock
    made = await client.post(
        "/api/v1/templates",
        json={"name": "案内", "text": "こちら: {{ form:" + str(form_id) + " }}"},
        headers=owner,
    )
    assert made.status_code == 201, made.text

    segment = await segments.create_segment(
        ctx, name="LINE", conditions=[{"field": "channel", "op": "eq", "value": line_id}]
    )
    body: dict[str, Any] = {"segment": segment.id, "text": placeholder(form_id + 1)}
    refused = await client.post("/api/v1/broadcasts", json=body, headers=owner)
    assert refused.status_code == 422, refused.text
    assert placeholder(form_id + 1) in refused.json()["detail"]
    assert (await client.get("/api/v1/broadcasts", headers=owner)).json()["items"] == []


async def test_a_broadcast_pushes_each_contact_their_own_link(
    client: httpx.AsyncClient,
    ctx: Ctx,
    factory: Factory,
    settings: Settings,
    database: Database,
    line: Channel,
    recorder: Recorder,
) -> None:
    form = await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)
    ids = {}
    for user, name in (("U1", "佐藤 美咲"), ("U2", "鈴木 彩")):
        ingested = await factory.inbound(line, contact=user, name=name, text="こんにちは")
        ids[user] = ingested.conversation.contact_id
    segment = await segments.create_segment(
        ctx, name="LINE", conditions=[{"field": "channel", "op": "eq", "value": line.id}]
    )
    await broadcasts.create_broadcast(
        ctx,
        new=broadcasts.NewBroadcast(
            segment_id=segment.id, text="アンケートはこちら: " + placeholder(form.id)
        ),
        actor=None,
    )
    recorder.answer("POST", "/v2/bot/message/push", (200, {}), (200, {}))
    await Worker(settings=settings, database=database, bus=InProcessBus()).tick()
    # The same words, but a link of each one's own: pushed one by one, not one multicast.
    assert recorder.calls("POST", "/v2/bot/message/multicast") == []
    pushed = {
        call.json()["to"]: call.json()["messages"][0]["text"]
        for call in recorder.calls("POST", "/v2/bot/message/push")
    }
    assert set(pushed) == {"U1", "U2"}
    for user, text in pushed.items():
        found = LINK.search(text)
        assert text.startswith("アンケートはこちら: ") and found is not None
        own = await forms.contact_link(ctx, form_id=form.id, contact_id=ids[user])
        assert found.group(0) == own
    answered = await client.post(_path(LINK.search(pushed["U1"]).group(0)), data={"visits": "1"})  # type: ignore[union-attr]
    assert answered.status_code == 303
    assert await _answered_by(database, form.id) == [ids["U1"]]
