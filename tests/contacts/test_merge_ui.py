"""Merging in the staff UI (F43): the 「同じ人かもしれません」 card, the list of possible
duplicates, the merge dialog choosing per field, refusals in Japanese, and old links that
redirect."""

from __future__ import annotations

import httpx

from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.kit.context import Ctx
from tests.fixtures import Factory
from tests.ui.conftest import sign_in


async def _twins(ctx: Ctx) -> tuple[int, int]:
    a = await contacts.create_contact(
        ctx, display_name="佐藤 花子", email="hanako@example.jp", phone="090-1111-2222"
    )
    b = await contacts.create_contact(
        ctx, display_name="さとう はなこ", email="hanako@example.jp", phone="080-3333-4444"
    )
    return a.id, b.id


async def test_the_contact_page_suggests_the_same_person_and_the_list_shows_pairs(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    a, b = await _twins(ctx)
    await sign_in(client, await factory.member(role="agent"))
    page = await client.get(f"/contacts/{a}")
    assert "同じ人かもしれません" in page.text
    assert f"/contacts/{a}/merge?other={b}" in page.text
    assert "同じメールアドレス" in page.text and "同じフリガナ" in page.text
    listed = await client.get("/contacts/duplicates")
    assert listed.status_code == 200
    assert "佐藤 花子" in listed.text and "さとう はなこ" in listed.text
    assert f"/contacts/{b}/merge?other={a}" in listed.text


async def test_the_dialog_lists_conflicting_fields_and_merges_with_the_choices(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    a, b = await _twins(ctx)
    await sign_in(client, await factory.member(role="agent"))
    dialog = await client.get(f"/contacts/{a}/merge", params={"other": b})
    assert dialog.status_code == 200
    # Names and phones differ; the reading and the e-mail address are the same: no choice.
    for key in ("display_name", "phone"):
        assert f'name="keep:{key}"' in dialog.text
    for key in ("reading", "email"):
        assert f'name="keep:{key}"' not in dialog.text

    merged = await client.post(
        f"/contacts/{a}/merge",
        data={"other": str(b), "keep:phone": "other", "keep:display_name": "this"},
    )
    assert merged.status_code == 303
    assert merged.headers["location"] == f"/contacts/{a}?done=merged"
    await ctx.db.rollback()
    kept = await ctx.db.get(Contact, a)
    assert kept is not None
    assert (kept.display_name, kept.phone) == ("佐藤 花子", "080-3333-4444")

    # The merged-away contact's page leads to the kept one.
    old = await client.get(f"/contacts/{b}")
    assert (old.status_code, old.headers["location"]) == (303, f"/contacts/{a}")
    shown = await client.get(f"/contacts/{a}?done=merged")
    assert "統合しました" in shown.text
    assert "同じ人かもしれません" not in shown.text


async def test_a_refused_merge_says_why_in_japanese_and_changes_nothing(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    a, b = await _twins(ctx)
    await sign_in(client, await factory.member(role="agent"))
    itself = await client.post(f"/contacts/{a}/merge", data={"other": str(a)})
    assert itself.status_code == 422
    assert "同じお客様どうしは統合できません" in itself.text
    unknown = await client.post(
        f"/contacts/{a}/merge", data={"other": str(b), "keep:nosuch": "this"}
    )
    assert unknown.status_code == 422
    assert "残す項目が不明です: nosuch" in unknown.text
    missing = await client.post(f"/contacts/{a}/merge", data={"other": "999999"})
    assert missing.status_code == 404
    nobody = await client.get(f"/contacts/{a}/merge")
    assert nobody.status_code == 404
    await ctx.db.rollback()
    other = await ctx.db.get(Contact, b)
    assert other is not None and other.merged_into_id is None
