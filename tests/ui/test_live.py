"""The one request a tab makes after a live event (ui/live.py) and the script modules' addresses
(ui/scripts.py)."""

from __future__ import annotations

import re

import httpx

from madoguchi.ui.render import MODULES_DIR, module_url, modules_version
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, Inbox

PARTS = ["row", "messages", "header", "team", "reply-window", "read-toggle"]


def parts_of(html: str) -> list[str]:
    return re.findall(r'<template data-live-part="([a-z-]+)">', html)


async def test_one_answer_carries_every_part_the_tab_shows(
    client: httpx.AsyncClient, factory: Factory, inbox: Inbox
) -> None:
    newer = await factory.inbound(inbox.channel, contact="c-1", text="もう一通です")
    url = f"/ui/live/conversations/{inbox.conversation_id}"
    answer = await client.get(
        url, params={"part": PARTS, "view": "unread", "after": inbox.first.message.id}, headers=HTMX
    )
    assert answer.status_code == 200, answer.text
    assert parts_of(answer.text) == PARTS
    assert answer.headers["x-madoguchi-unread"] == "1"
    assert f'id="row-{inbox.conversation_id}"' in answer.text
    found = [int(i) for i in re.findall(r'data-message-id="(\d+)"', answer.text)]
    assert found == [newer.message.id]  # only what the tab does not show yet
    assert 'id="thread-header"' in answer.text
    assert 'id="team-part"' in answer.text
    assert 'id="reply-window"' in answer.text
    assert 'id="read-toggle"' in answer.text


async def test_a_row_that_left_the_tab_comes_back_empty(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    await client.post(f"/ui/conversations/{inbox.conversation_id}/read", headers=HTMX)
    answer = await client.get(
        f"/ui/live/conversations/{inbox.conversation_id}",
        params={"part": ["row"], "view": "unread"},
        headers=HTMX,
    )
    assert parts_of(answer.text) == ["row"]
    assert "row-" not in answer.text  # read: it leaves 未確認
    assert answer.headers["x-madoguchi-unread"] == "0"


async def test_a_conversation_that_is_gone_answers_only_its_empty_row(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    answer = await client.get("/ui/live/conversations/999999", params={"part": PARTS}, headers=HTMX)
    assert answer.status_code == 200
    assert parts_of(answer.text) == ["row"]
    assert "row-" not in answer.text


async def test_pages_load_the_modules_of_one_release_cached_for_good(
    client: httpx.AsyncClient, inbox: Inbox
) -> None:
    page = (await client.get(f"/c/{inbox.conversation_id}", headers=HTML)).text
    assert f'<script type="module" src="{module_url("main.js")}"></script>' in page
    settings = (await client.get("/settings", headers=HTML)).text
    assert f'<script type="module" src="{module_url("settings.js")}"></script>' in settings

    version = modules_version()
    # Every module the entry imports, relatively, is served under the same version.
    imported = set(re.findall(r'from "\./([a-z-]+\.js)"', (MODULES_DIR / "main.js").read_text()))
    assert {"dom.js", "live.js", "list.js", "composer.js", "panel.js"} <= imported
    for name in imported | {"main.js", "settings.js"}:
        module = await client.get(f"/static/modules/{version}/{name}")
        assert module.status_code == 200, name
        assert module.headers["content-type"].startswith("text/javascript")
        assert module.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert module.text == (MODULES_DIR / name).read_text()
    # Another release's address gets today's file, kept by no cache.
    old = await client.get("/static/modules/0000000000/main.js")
    assert old.status_code == 200
    assert old.headers["cache-control"] == "no-cache"
    for missing in ("nothing.js", "..%2Fcss%2Fapp.css", "Main.js"):
        assert (await client.get(f"/static/modules/{version}/{missing}")).status_code == 404
