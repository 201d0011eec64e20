"""The step sequences page (ステップ配信): an owner builds one in Japanese, a wrong one is refused
with a sentence and nothing kept, an agent is turned away."""

from __future__ import annotations

import httpx

from madoguchi.automation import templates
from madoguchi.crm import records
from madoguchi.kit.context import Ctx
from tests.fixtures import Factory
from tests.ui.conftest import HTMX, sign_in
from tests.ui.settings_support import api_items


async def test_an_owner_builds_a_sequence_on_the_settings_page(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    owner = await factory.member(role="owner")
    book = await records.create_book(ctx, name="来店記録", fields=[])
    template = await templates.create_template(
        ctx, name="お礼", text="{name}様、ありがとうございました。"
    )
    book_id, template_id = book.id, template.id
    await ctx.db.commit()
    await sign_in(client, owner)

    page = await client.get("/settings/sequences")
    assert page.status_code == 200
    assert "ステップ配信" in page.text and "新しいステップ配信" in page.text
    assert f'value="record.added:{book_id}"' in page.text
    assert "記録が追加されたとき: 来店記録" in page.text

    form = {
        "name": "初回来店フォロー",
        "trigger": f"record.added:{book_id}",
        "delay": ["2", "30", ""],
        "unit": ["days", "days", "days"],
        "kind": ["template", "text", "text"],
        "text": ["", "{{name}}様、その後いかがですか？", ""],
        "template": [str(template_id), "", ""],
        "stop_on_reply": "1",
        "stop_segment": "",
    }
    # No step at all: refused with a Japanese sentence, nothing kept, what was typed kept.
    empty = await client.post(
        "/settings/sequences",
        data={**form, "kind": ["text"] * 3, "text": [""] * 3, "template": [""] * 3},
        headers=HTMX,
    )
    assert empty.status_code == 422
    assert "ステップを1つ以上" in empty.text
    assert 'value="初回来店フォロー"' in empty.text
    assert await api_items(client, "sequences") == []
    unknown = await client.post(
        "/settings/sequences", data={**form, "text": ["", "{{nickname}}様", ""]}, headers=HTMX
    )
    assert unknown.status_code == 422 and "nickname" in unknown.text

    saved = await client.post("/settings/sequences", data=form, headers=HTMX)
    assert saved.status_code == 200, saved.text
    assert "ステップ配信を保存しました" in saved.text
    [made] = await api_items(client, "sequences")
    assert made["trigger"] == {"type": "record.added", "book": book_id}
    assert made["steps"] == [
        {"delay_seconds": 2 * 86400, "template": template_id},
        {"delay_seconds": 30 * 86400, "text": "{{name}}様、その後いかがですか？"},
    ]
    assert made["stop_on_reply"] is True and made["stop_unless_segment"] is None
    listed = await client.get("/settings/sequences")
    assert "2日後" in listed.text and "30日後" in listed.text
    assert "まだ誰も始まっていません" in listed.text

    # Edited in place: an hour instead of two days, switched off.
    changed = await client.post(
        f"/settings/sequences/{made['id']}/update",
        data={**form, "delay": ["1", "30", ""], "unit": ["hours", "days", "days"]},
        headers=HTMX,
    )
    assert changed.status_code == 200, changed.text
    [edited] = await api_items(client, "sequences")
    assert edited["steps"][0]["delay_seconds"] == 3600 and edited["enabled"] is False

    gone = await client.post(f"/settings/sequences/{made['id']}/delete", headers=HTMX)
    assert gone.status_code == 200
    assert await api_items(client, "sequences") == []


async def test_an_agent_cannot_open_the_sequences(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    await sign_in(client, await factory.member(role="agent"))
    assert (await client.get("/settings/sequences")).status_code == 403
    refused = await client.post("/settings/sequences", data={"name": "x"}, headers=HTMX)
    assert refused.status_code == 403
