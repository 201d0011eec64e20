"""The contact page and the panel refusing what they must: an agent deleting a customer, and a
status that is not one of the choices."""

from __future__ import annotations

import httpx
import pytest

from madoguchi.audit import service as audit
from madoguchi.contacts import service as contacts
from madoguchi.crm import statuses
from madoguchi.kit.context import Ctx
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in


@pytest.fixture
async def contact_id(factory: Factory) -> int:
    channel = await factory.channel()
    return (await factory.inbound(channel, name="山田 花子")).conversation.contact_id


async def test_an_agent_can_neither_open_nor_send_the_delete_confirmation(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, contact_id: int
) -> None:
    await sign_in(client, await factory.member(role="agent", name="スタッフ"))
    confirm = await client.get(f"/contacts/{contact_id}/delete", headers=HTML)
    assert confirm.status_code == 403
    assert "お客様を削除できるのはオーナーと管理者だけです。" in confirm.text
    sent = await client.post(f"/contacts/{contact_id}/delete", headers=HTML)
    assert sent.status_code == 403
    assert "お客様を削除できるのはオーナーと管理者だけです。" in sent.text
    assert (await client.get(f"/contacts/{contact_id}", headers=HTML)).status_code == 200
    assert (await contacts.get_contact(ctx.db, contact_id=contact_id)).display_name == "山田 花子"


async def test_an_owner_deletes_from_the_page_and_the_audit_names_them(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, contact_id: int
) -> None:
    owner = await factory.member(role="owner", name="店長")
    await sign_in(client, owner)
    sent = await client.post(f"/contacts/{contact_id}/delete")
    assert sent.status_code == 303
    [entry] = [e for e in await audit.list_entries(ctx.db) if e.action == "contact.deleted"]
    assert (entry.member_id, entry.member_name) == (owner.id, "店長")


async def test_a_status_that_is_not_a_choice_is_refused_and_none_clears(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, contact_id: int
) -> None:
    await sign_in(client, await factory.member(role="agent"))
    doing = (await statuses.find_status(ctx.db, "対応中")).id
    await ctx.db.rollback()  # the app writes next: this test's session holds no lock

    async def post(**form: str) -> httpx.Response:
        return await client.post(f"/ui/contacts/{contact_id}/profile", data=form, headers=HTMX)

    async def status_id() -> int | None:
        ctx.db.expire_all()
        found = (await contacts.get_contact(ctx.db, contact_id=contact_id)).status_id
        await ctx.db.rollback()
        return found

    assert (await post(status=str(doing))).status_code == 200
    assert await status_id() == doing
    for junk in ("abc", "-1", "1.5", "²", "99999999999999999999"):
        refused = await post(status=junk)
        assert refused.status_code == 422, junk
        assert f"{junk} は選択肢にありません。" in refused.text
        assert await status_id() == doing
    refused_mark = await post(mark="クレーム")
    assert refused_mark.status_code == 422
    assert (await post(status="none")).status_code == 200
    assert await status_id() is None
    assert (await post(status=str(doing))).status_code == 200
    assert (await post(status="")).status_code == 200
    assert await status_id() is None
