"""設定 › 操作履歴: owners and admins see every change in Japanese (who, what kind, the subject,
each field before → after), filter by member, kind and days, and page back and forth; an
agent is refused."""

from __future__ import annotations

import re

import httpx
import pytest

from madoguchi.crm import statuses
from madoguchi.kit.context import Actor, Ctx
from madoguchi.members.models import Member
from tests.fixtures import Factory
from tests.ui.conftest import HTML, HTMX, sign_in


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner", name="店長")


async def _signed_in(client: httpx.AsyncClient, member: Member) -> httpx.AsyncClient:
    await sign_in(client, member)
    return client


def _entries(page: str) -> list[str]:
    """Each entry's text, tags stripped, spaces squeezed."""
    found = re.findall(r'<li class="set-audit-entry".*?</li>', page, flags=re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", item)).strip() for item in found]


async def test_a_renamed_status_and_a_customer_s_tags_read_in_japanese(
    client: httpx.AsyncClient, factory: Factory, owner: Member
) -> None:
    web = await _signed_in(client, owner)
    [status] = [
        s for s in (await web.get("/api/v1/statuses")).json()["items"] if s["name"] == "対応中"
    ]
    assert (
        await web.patch(f"/api/v1/statuses/{status['id']}", json={"name": "対応済み"})
    ).status_code == 200
    ingested = await factory.inbound(await factory.channel(), contact="c-1", name="山田 花子")
    contact_id = ingested.conversation.contact_id
    tag = (await web.post("/api/v1/tags", json={"name": "VIP"})).json()
    assert (await web.put(f"/api/v1/contacts/{contact_id}/tags/{tag['id']}")).status_code == 204
    assert (await web.patch("/api/v1/workspace", json={"unread": "member"})).status_code == 200

    page = (await web.get("/settings/audit", headers=HTML)).text
    entries = _entries(page)
    assert any(
        "店長" in e
        and "対応ステータスを変更" in e
        and "対応ステータス「対応済み」" in e
        and "名前 対応中 → 対応済み" in e
        for e in entries
    ), entries
    assert any(
        "お客様のタグを変更" in e and "お客様「山田 花子」" in e and "タグ （なし） → VIP" in e
        for e in entries
    ), entries
    assert any(
        "ワークスペースの設定を変更" in e
        and "設定「未確認の扱い」" in e
        and "チームで共有 → メンバーごと" in e
        for e in entries
    ), entries
    # The newest first, in Japan time.
    assert "ワークスペースの設定を変更" in entries[0]
    assert re.search(
        r'<time class="set-audit-at" datetime="[^"]+">\d{4}/\d{1,2}/\d{1,2} \d{2}:\d{2}</time>',
        page,
    )


async def test_the_filter_narrows_by_member_kind_and_day_and_says_when_nothing_matches(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx, owner: Member
) -> None:
    aya = await factory.member(role="admin", name="彩")
    status = (await statuses.list_statuses(ctx.db))[0]
    ctx.actor = Actor(kind="member", name=aya.name, member_id=aya.id)
    await statuses.update_status(ctx, status_id=status.id, name="彩が変更")
    ctx.actor = Actor(kind="member", name=owner.name, member_id=owner.id)
    await statuses.update_status(ctx, status_id=status.id, name="店長が変更")
    web = await _signed_in(client, owner)

    page = (
        await web.get(
            "/settings/audit", params={"member": aya.id, "kind": "status.updated"}, headers=HTML
        )
    ).text
    entries = _entries(page)
    assert len(entries) == 1 and "彩が変更" in entries[0] and "店長が変更" not in entries[0]
    # The form keeps the choice, and offers every member and every kind in Japanese.
    assert f'<option value="{aya.id}" selected>彩</option>' in page
    assert '<option value="status.updated" selected>対応ステータスを変更</option>' in page
    assert '<option value="contacts.imported">お客様をインポート</option>' in page

    nothing = await web.get(
        "/settings/audit", params={"from": "2000-01-01", "to": "2000-01-02"}, headers=HTMX
    )
    assert nothing.status_code == 200
    assert "この条件に当てはまる操作はありません。" in nothing.text
    assert "<html" not in nothing.text  # htmx gets the panel only


async def test_a_bad_date_is_refused_on_the_page_in_japanese(
    client: httpx.AsyncClient, owner: Member
) -> None:
    web = await _signed_in(client, owner)
    refused = await web.get(
        "/settings/audit", params={"from": "2026-03-02", "to": "2026-03-01"}, headers=HTML
    )
    assert refused.status_code == 422
    assert "開始日（from）は終了日（to）より後にできません。" in refused.text
    assert 'aria-invalid="true"' in refused.text


async def test_pages_go_older_and_back_newer(
    client: httpx.AsyncClient, ctx: Ctx, owner: Member
) -> None:
    status = (await statuses.list_statuses(ctx.db))[0]
    ctx.actor = Actor(kind="member", name=owner.name, member_id=owner.id)
    for n in range(35):
        await statuses.update_status(ctx, status_id=status.id, name=f"名前{n:02d}")
    web = await _signed_in(client, owner)
    first = (await web.get("/settings/audit?kind=status.updated", headers=HTML)).text
    assert len(_entries(first)) == 30 and "名前34" in _entries(first)[0]
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older and 'rel="prev"' not in first
    second = (await web.get(older.group(1).replace("&amp;", "&"), headers=HTML)).text
    entries = _entries(second)
    assert len(entries) == 5 and "名前04" in entries[0] and "名前00" in entries[-1]
    assert "kind=status.updated" in older.group(1)
    newer = re.search(r'rel="prev" href="([^"]+)"', second)
    assert newer and 'rel="next"' not in second
    back = (await web.get(newer.group(1).replace("&amp;", "&"), headers=HTML)).text
    assert _entries(back) == _entries(first)


async def test_an_agent_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    web = await _signed_in(client, await factory.member(role="agent"))
    refused = await web.get("/settings/audit", headers=HTML)
    assert refused.status_code == 403
    assert "set-audit-entry" not in refused.text
