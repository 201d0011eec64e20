"""What customers and members type is shown as words, never run: hostile texts in every place a
text reaches a page (a customer's name and messages, notes, memos, tags, field values, templates,
the conversation memo, a search), opened in Chromium. No script runs, no dialog opens, no page
error is raised, and a template-looking text is shown as typed."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import sign_in
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth

pytestmark = pytest.mark.e2e

RUN = "window.__pwned=(window.__pwned||0)+1"
HOSTILE = [
    f"<script>{RUN}</script>",
    f"<img src=x onerror={RUN}>",
    f'"><img src=x onerror="{RUN}">',
    f"'><svg onload={RUN}>",
    f"<svg><script>{RUN}</script></svg>",
    f'<iframe srcdoc="<script>parent.{RUN}</script>">',
    f"<body onload={RUN}>",
    f"<details open ontoggle={RUN}>",
    f'<a href="javascript:{RUN}">link</a>',
    f"javascript:{RUN}",
    f'https://x.example/"><img src=x onerror={RUN}>',
    f"https://x.example/'onmouseover='{RUN}'",
    f"https://x.example/@<img src=x onerror={RUN}>",
    f"@<img src=x onerror={RUN}>",
    f"[click](javascript:{RUN})",
    f"</textarea><script>{RUN}</script>",
    f"</title><script>{RUN}</script>",
    f"</script><script>{RUN}</script>",
    f'<style>@import "javascript:{RUN}";</style>',
    f"<math><mtext><img src=x onerror={RUN}></mtext></math>",
    f'<input autofocus onfocus="{RUN}">',
    f'<video><source onerror="{RUN}"></video>',
    f'<object data="javascript:{RUN}"></object>',
    f'<meta http-equiv="refresh" content="0;url=javascript:{RUN}">',
    f"&lt;img src=x onerror={RUN}&gt;",
    "{{ 7*7 }} {% raw %}",
    "${7*7} #{7*7} <%= 7*7 %>",
    "%(name)s %s {0} {name}",
    "\u202eevil\u202c 右から左",
    f'<base href="javascript:{RUN}//">',
    f'<form action="javascript:{RUN}"><button>送信</button></form>',
    f'<div style="background:url(javascript:{RUN})">x</div>',
    f'<noscript><p title="</noscript><img src=x onerror={RUN}>">',
    f"<template><img src=x onerror={RUN}></template>",
]


async def _nothing_ran(page: Page, dialogs: list[str], errors: list[str]) -> None:
    assert await page.evaluate("window.__pwned || 0") == 0
    assert dialogs == [] and errors == []


async def test_hostile_texts_are_shown_as_words_everywhere(
    live_server: LiveServer, factory: Factory, browser: Browser
) -> None:
    assert len(HOSTILE) == 34
    owner = await factory.member(role="owner", name="店長")
    token = await factory.token(owner)
    channel = await factory.channel()
    base = live_server.url
    conversation_ids: list[int] = []
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        field = await api.post(
            "/api/v1/fields", json={"key": "memo", "label": "<b>備考</b>", "type": "text"}
        )
        assert field.status_code == 201, field.text
        await api.post("/api/v1/templates", json={"name": HOSTILE[1], "text": HOSTILE[0]})
        for n, hostile in enumerate(HOSTILE):
            posted = await api.post(
                f"/api/v1/channels/{channel.id}/inbound",
                json={
                    "contact": {"external_id": f"u{n}", "name": hostile[:100]},
                    "external_id": f"m{n}",
                    "text": hostile,
                },
            )
            assert posted.status_code == 201, posted.text
            conversation_id = posted.json()["conversation_id"]
            conversation_ids.append(conversation_id)
            url = f"/api/v1/conversations/{conversation_id}"
            contact_id = (await api.get(url)).json()["contact_id"]
            answers = [
                await api.post(f"{url}/messages", json={"text": hostile, "kind": "note"}),
                await api.post(
                    f"/api/v1/contacts/{contact_id}/memos", json={"title": hostile, "body": hostile}
                ),
                await api.put(
                    f"/api/v1/contacts/{contact_id}/fields/memo", json={"value": hostile}
                ),
            ]
            if n < 8:  # tag names are short
                tag = await api.post("/api/v1/tags", json={"name": hostile[:50]})
                answers.append(tag)
                answers.append(
                    await api.put(f"/api/v1/contacts/{contact_id}/tags/{tag.json()['id']}")
                )
            assert [a.status_code for a in answers if a.status_code >= 300] == [], [
                a.text for a in answers if a.status_code >= 300
            ]

    expect.set_options(timeout=5000)
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: errors.append(str(error)))
    await sign_in(page, base, owner.email, live=False)

    await expect(page.locator(f"#row-{conversation_ids[-1]}")).to_be_visible()
    await _nothing_ran(page, dialogs, errors)
    for index in (0, 1, 10, 12, 13, 25):
        conversation_id = conversation_ids[index]
        await page.goto(f"{base}/c/{conversation_id}")
        await expect(page.locator("#thread-messages")).to_contain_text(HOSTILE[index][:20])
        await _nothing_ran(page, dialogs, errors)
    # A template-looking text is shown as typed, not evaluated.
    await page.goto(f"{base}/c/{conversation_ids[25]}")
    await expect(page.locator("#thread-messages")).to_contain_text("{{ 7*7 }} {% raw %}")
    await page.goto(f"{base}/?q={HOSTILE[0][:20]}")
    await page.wait_for_load_state("networkidle")
    await _nothing_ran(page, dialogs, errors)
    for path in ("/contacts", "/settings/tags", "/settings/templates", "/settings/fields"):
        await page.goto(f"{base}{path}")
        await page.wait_for_load_state("networkidle")
        await _nothing_ran(page, dialogs, errors)
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        contact_id = (await api.get(f"/api/v1/conversations/{conversation_ids[2]}")).json()[
            "contact_id"
        ]
    await page.goto(f"{base}/contacts/{contact_id}")
    await page.wait_for_load_state("networkidle")
    await _nothing_ran(page, dialogs, errors)
    await context.close()
