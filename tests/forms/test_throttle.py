"""Anonymous answers to a public form are throttled per client address (each makes a contact, so
a script could otherwise flood the CRM); answers through a contact's own link are not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from madoguchi.app import create_app
from madoguchi.config import Settings
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.forms import service as forms
from madoguchi.forms.models import FormAnswer
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from madoguchi.kit.errors import TooManyAttempts

LIMIT = 10  # the default: ten anonymous answers per address per ten minutes
QUESTIONS = [{"key": "name", "label": "お名前", "type": "text", "maps_to": "name"}]


async def _count(ctx: Ctx, model: Any) -> int:
    await ctx.db.rollback()  # what is committed now, not what this session saw before
    count = int(await ctx.db.scalar(select(func.count()).select_from(model)) or 0)
    await ctx.db.rollback()  # SQLite's one writer: the app's requests need the lock back
    return count


@pytest.fixture
async def behind_proxy(database: Database, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its loopback peer named as a trusted proxy (as tests/test_proxies.py)."""
    app = create_app(settings.model_copy(update={"trusted_proxies": "127.0.0.1"}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _answer(
    client: httpx.AsyncClient, path: str, name: str, forwarded_for: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.post(path, data={"name": name}, headers=headers)


async def test_the_eleventh_anonymous_answer_from_one_address_is_a_429_and_stores_nothing(
    client: httpx.AsyncClient, ctx: Ctx
) -> None:
    form = await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)
    path = f"/f/{form.id}"
    # A forwarded address from a peer that is not a trusted proxy is not believed.
    sent = [await _answer(client, path, f"客{n}", f"203.0.113.{n}") for n in range(LIMIT)]
    assert [answer.status_code for answer in sent] == [303] * LIMIT
    contacts_before = await _count(ctx, Contact)
    refused = await _answer(client, path, "11人目", "198.51.100.7")
    assert refused.status_code == 429
    assert "短時間に多くの回答が送られました" in refused.text
    assert 'value="11人目"' in refused.text  # what was typed is kept for a later try
    assert await _count(ctx, FormAnswer) == LIMIT
    assert await _count(ctx, Contact) == contacts_before


async def test_answers_through_a_contacts_own_link_are_not_throttled(
    client: httpx.AsyncClient, ctx: Ctx
) -> None:
    form = await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)
    for n in range(LIMIT):
        assert (await _answer(client, f"/f/{form.id}", f"客{n}")).status_code == 303
    assert (await _answer(client, f"/f/{form.id}", "もう一人")).status_code == 429
    known = await contacts.create_contact(ctx, display_name="LINEの佐藤")
    link = await forms.contact_link(ctx, form_id=form.id, contact_id=known.id)
    path = link.removeprefix(ctx.settings.base_url.rstrip("/"))
    assert path.startswith(f"/f/{form.id}?k=")
    for _ in range(3):
        assert (await _answer(client, path, "佐藤")).status_code == 303
    assert await _count(ctx, FormAnswer) == LIMIT + 3


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_count(
    behind_proxy: httpx.AsyncClient, ctx: Ctx
) -> None:
    form = await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)
    path = f"/f/{form.id}"
    flood = [await _answer(behind_proxy, path, "x", "198.51.100.7") for _ in range(LIMIT + 1)]
    assert [a.status_code for a in flood] == [303] * LIMIT + [429]
    # Whatever it writes to the left of what the proxy appended, that client stays limited.
    assert (await _answer(behind_proxy, path, "x", "192.0.2.1, 198.51.100.7")).status_code == 429
    # Another customer behind the same proxy (the salon's shop Wi-Fi next door) is not.
    assert (await _answer(behind_proxy, path, "隣の客", "198.51.100.8")).status_code == 303


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_the_limit_comes_from_the_settings_and_lifts_after_its_window(ctx: Ctx) -> None:
    clock = _Clock()
    ctx.clock = clock
    ctx.settings = ctx.settings.model_copy(
        update={"form_answers_per_address": 2, "form_answers_window_minutes": 5}
    )
    form = await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)

    async def answer(address: str | None = "203.0.113.9") -> None:
        await forms.answer_form(ctx, form_id=form.id, given={"name": "客"}, address=address)

    await answer()
    await answer()
    with pytest.raises(TooManyAttempts):
        await answer()
    await answer("203.0.113.10")  # another address
    await answer(None)  # no address (a service call of our own): not throttled
    clock.now += timedelta(minutes=4)
    with pytest.raises(TooManyAttempts):
        await answer()
    clock.now += timedelta(minutes=2)
    await answer()
    assert await _count(ctx, FormAnswer) == 5


async def test_two_processes_share_one_count(
    client: httpx.AsyncClient, behind_proxy: httpx.AsyncClient, ctx: Ctx
) -> None:
    # Two apps on one database, as two server processes: the count is in the database, not in
    # either one's memory (the second app's peer is a trusted proxy forwarding the same client).
    form = await forms.create_form(ctx, name="ご来店アンケート", fields=QUESTIONS)
    path = f"/f/{form.id}"
    sent = []
    for n in range(LIMIT + 2):
        if n % 2:
            sent.append(await _answer(behind_proxy, path, f"客{n}", "127.0.0.1"))
        else:
            sent.append(await _answer(client, path, f"客{n}"))
    assert [a.status_code for a in sent] == [303] * LIMIT + [429, 429]
    assert await _count(ctx, FormAnswer) == LIMIT
