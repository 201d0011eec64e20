"""What the tests of the chat and team settings pages share: reading what the pages changed,
through the JSON API or (for what the API never shows, such as secrets) the services."""

from __future__ import annotations

import re
from typing import Any

import httpx

from madoguchi.channels import service as channels
from madoguchi.kit.context import Ctx


async def api_items(client: httpx.AsyncClient, path: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/{path}")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def api_named(
    client: httpx.AsyncClient, path: str, name: str, key: str = "name"
) -> dict[str, Any]:
    [item] = [item for item in await api_items(client, path) if item[key] == name]
    return item


async def stored_channel(ctx: Ctx, channel_id: int) -> dict[str, Any]:
    """A channel as stored, secrets in clear (the test's own transaction is ended at once:
    on SQLite it would hold the write lock)."""
    ctx.db.expire_all()
    try:
        channel = await channels.get_channel(ctx.db, channel_id=channel_id)
        return {
            "name": channel.name,
            "enabled": channel.enabled,
            "settings": dict(channel.settings),
        }
    finally:
        await ctx.db.rollback()


def section(html: str, element_id: str) -> str:
    """The HTML of the element with this id, up to the next element of the same kind with an
    id of the same family (enough to look inside one card or one form)."""
    start = html.index(f'id="{element_id}"')
    tag_start = html.rindex("<", 0, start)
    tag = re.match(r"<(\w+)", html[tag_start:])
    assert tag is not None
    depth, position = 0, tag_start
    opening, closing = re.compile(rf"<{tag.group(1)}[\s>]"), f"</{tag.group(1)}>"
    while True:
        next_open = opening.search(html, position + 1)
        next_close = html.index(closing, position + 1)
        if next_open and next_open.start() < next_close:
            depth += 1
            position = next_open.start()
        elif depth:
            depth -= 1
            position = next_close
        else:
            return html[tag_start : next_close + len(closing)]


def input_names(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"', html))
