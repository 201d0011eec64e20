"""セグメント: named conditions over contacts, counted and listed as they hold now."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from madoguchi.audit.models import AuditEntry
from madoguchi.contacts import service as contacts
from madoguchi.crm import fields, records, statuses, tags
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database
from tests.fixtures import Factory, auth


async def _salon(ctx: Ctx, factory: Factory) -> dict[str, int]:
    """Four customers: 佐藤 visited 30 days ago and 60 days ago; 鈴木 first visited two days
    ago; 高橋 waits for an answer and is VIP; 田中 has nothing."""
    await records.create_book(ctx, name="来店記録", fields=[])
    await fields.create_field(ctx, key="points", label="ポイント", type="number")
    vip = await tags.create_tag(ctx, actor=None, name="VIP")
    new = await tags.create_tag(ctx, actor=None, name="新規")
    waiting = await statuses.create_status(ctx, name="返信待ち", color="#d97706")
    ids = {}
    for name in ("佐藤", "鈴木", "高橋", "田中"):
        contact = await contacts.create_contact(ctx, display_name=name)
        ids[name] = contact.id
    now = ctx.now()
    for name, days in (("佐藤", 30), ("佐藤", 60), ("鈴木", 2)):
        await records.create_record(
            ctx,
            contact_id=ids[name],
            book="来店記録",
            at=now - timedelta(days=days),
            values_={},
            author=None,
        )
    await contacts.update_contact(
        ctx,
        contact_id=ids["高橋"],
        changes=contacts.ContactChanges(status=waiting.id, set_status=True),
    )
    await tags.add_tag(ctx, contact_id=ids["高橋"], tag_id=vip.id)
    await tags.add_tag(ctx, contact_id=ids["鈴木"], tag_id=new.id)
    await fields.set_value(ctx, contact_id=ids["高橋"], key="points", value=120)
    return {**ids, "vip": vip.id, "new": new.id}


async def _names(client: httpx.AsyncClient, headers: dict[str, str], segment_id: int) -> set[str]:
    answer = await client.get(f"/api/v1/segments/{segment_id}/contacts", headers=headers)
    assert answer.status_code == 200, answer.text
    return {item["display_name"] for item in answer.json()["items"]}


async def test_segments_from_the_seeds_hold_the_right_customers_now(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    salon = await _salon(ctx, factory)
    owner = auth(await factory.token(await factory.member(role="owner")))
    wanted = {
        "最終来店から30日": (
            [{"field": "record.来店記録.newest_at", "op": "days_ago", "value": 30}],
            {"佐藤"},
        ),
        "初回来店から2日": (
            [{"field": "record.来店記録.oldest_at", "op": "days_ago", "value": 2}],
            {"鈴木"},
        ),
        "返信待ち": ([{"field": "status", "op": "eq", "value": "返信待ち"}], {"高橋"}),
        "VIPでも新規でもない": (
            [{"field": "tag", "op": "not_in", "value": [salon["vip"], salon["new"]]}],
            {"佐藤", "田中"},
        ),
        "来店記録なしでポイント100以上": (
            [
                {"field": "record.来店記録.any_at", "op": "empty"},
                {"field": "field.points", "op": "gte", "value": 100},
            ],
            {"高橋"},
        ),
    }
    for name, (conditions, members) in wanted.items():
        made = await client.post(
            "/api/v1/segments", json={"name": name, "conditions": conditions}, headers=owner
        )
        assert made.status_code == 201, made.text
        assert made.json()["count"] == len(members) and made.json()["problem"] is None
        assert await _names(client, owner, made.json()["id"]) == members, name
    listed = (await client.get("/api/v1/segments", headers=owner)).json()["items"]
    assert {s["name"]: s["count"] for s in listed} == {
        name: len(members) for name, (_, members) in wanted.items()
    }
    preview = await client.post(
        "/api/v1/segments/preview",
        json={"conditions": [{"field": "tag", "op": "in", "value": ["VIP", "新規"]}]},
        headers=owner,
    )
    assert preview.status_code == 200
    assert preview.json()["count"] == 2
    assert {c["display_name"] for c in preview.json()["items"]} == {"高橋", "鈴木"}


async def test_bad_segments_are_refused_with_a_sentence_and_nothing_is_stored(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory, database: Database
) -> None:
    await _salon(ctx, factory)
    owner = auth(await factory.token(await factory.member(role="owner")))
    agent = auth(await factory.token(await factory.member(role="agent", name="美咲")))
    url = "/api/v1/segments"
    for conditions, status, says in (
        ([{"field": "field.nothing", "op": "eq", "value": 1}], 404, "nothing"),
        ([{"field": "record.カルテ.newest_at", "op": "days_ago", "value": 1}], 404, "カルテ"),
        ([{"field": "record.来店記録.newest_at", "op": "days_ago", "value": "昨日"}], 422, ""),
        ([{"field": "tag", "op": "eq", "value": "存在しないタグ"}], 404, ""),
        ([], 422, "at least one condition"),
        ([{"field": "assignee", "op": "eq", "value": "me"}], 422, "not me"),
        ([{"field": "colour", "op": "eq", "value": 1}], 422, ""),
    ):
        refused = await client.post(
            url, json={"name": "だめ", "conditions": conditions}, headers=owner
        )
        assert refused.status_code == status, (conditions, refused.text)
        assert says in refused.json()["detail"]
    made = await client.post(
        url,
        json={"name": "ポイント", "conditions": [{"field": "field.points", "op": "not_empty"}]},
        headers=owner,
    )
    assert made.status_code == 201
    twin = await client.post(
        url,
        json={"name": "ポイント", "conditions": [{"field": "status", "op": "empty"}]},
        headers=owner,
    )
    assert twin.status_code == 409
    assert (
        await client.post(
            url,
            json={"name": "x", "conditions": [{"field": "status", "op": "empty"}]},
            headers=agent,
        )
    ).status_code == 403
    assert [s["name"] for s in (await client.get(url, headers=agent)).json()["items"]] == [
        "ポイント"
    ]

    # The field goes: the segment says why it cannot count, and is not lost.
    [points] = [f for f in await fields.list_fields(ctx.db) if f.key == "points"]
    await fields.delete_field(ctx, field_id=points.id)
    segment = (await client.get(f"{url}/{made.json()['id']}", headers=owner)).json()
    assert segment["count"] is None and "points" in segment["problem"]

    renamed = await client.patch(
        f"{url}/{made.json()['id']}",
        json={"name": "状態なし", "conditions": [{"field": "status", "op": "empty"}]},
        headers=owner,
    )
    assert renamed.status_code == 200 and renamed.json()["count"] == 3
    assert (await client.delete(f"{url}/{made.json()['id']}", headers=agent)).status_code == 403
    assert (await client.delete(f"{url}/{made.json()['id']}", headers=owner)).status_code == 204
    assert (await client.get(f"{url}/{made.json()['id']}", headers=owner)).status_code == 404
    async with database.read_sessions() as session:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "segment.deleted")
        )
    assert entry is not None and entry.detail == {"name": "状態なし"}


async def test_an_owner_builds_a_segment_on_the_settings_page_seeing_its_count(
    client: httpx.AsyncClient, ctx: Ctx, factory: Factory
) -> None:
    from tests.ui.conftest import HTML, HTMX, sign_in

    await _salon(ctx, factory)
    await sign_in(client, await factory.member(role="owner", name="店長"))
    page = (await client.get("/settings/segments", headers=HTML)).text
    assert "セグメントはまだありません。" in page
    assert "来店記録: 最新の記録日" in page and "ポイント" in page

    rows = {
        "field": ["record.来店記録.newest_at", "tag", ""],
        "op": ["between_days_ago", "not_in", "eq"],
        "value": ["20、40", "VIP", ""],
    }
    preview = await client.post("/settings/segments/preview", data=rows, headers=HTMX)
    assert preview.status_code == 200
    assert "1 人" in preview.text and "佐藤" in preview.text
    wrong = await client.post(
        "/settings/segments/preview",
        data={"field": ["field.nothing"], "op": ["eq"], "value": ["1"]},
        headers=HTMX,
    )
    assert "nothing" in wrong.text and 'class="form-error"' in wrong.text

    added = await client.post(
        "/settings/segments", data={"name": "最終来店から1か月前後", **rows}, headers=HTMX
    )
    assert added.status_code == 200
    assert "セグメント「最終来店から1か月前後」を追加しました。" in added.text
    assert "1 人" in added.text
    [segment] = (await client.get("/api/v1/segments")).json()["items"]
    assert segment["conditions"] == [
        {"field": "record.来店記録.newest_at", "op": "between_days_ago", "value": [20, 40]},
        {"field": "tag", "op": "not_in", "value": ["VIP"]},
    ]
    # Shown back as typed.
    assert 'value="20、40"' in added.text

    refused = await client.post(
        "/settings/segments",
        data={"name": "空", "field": [""], "op": ["eq"], "value": [""]},
        headers=HTMX,
    )
    assert refused.status_code == 422
    assert "セグメントには条件が1つ以上必要です。" in refused.text

    changed = await client.post(
        f"/settings/segments/{segment['id']}/update",
        data={"name": "返信待ち", "field": ["status"], "op": ["eq"], "value": ["返信待ち"]},
        headers=HTMX,
    )
    assert changed.status_code == 200 and "保存しました" in changed.text
    assert (await client.get(f"/api/v1/segments/{segment['id']}")).json()["count"] == 1


def test_the_segment_benchmark_runs_on_a_few_contacts(tmp_path: Path) -> None:
    """bench/segments.py's whole path, so it cannot rot (it checks that figures come out, and
    that the segment it times is a real one: some scale contacts have visits)."""
    if os.environ.get("DATABASE_URL"):
        pytest.skip("the benchmark makes its own database; once, on SQLite, is enough")
    from bench.segments import measure, report

    from madoguchi.config import Settings
    from madoguchi.kit.migrate import upgrade

    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=None)  # type: ignore[call-arg]
    upgrade(settings)
    figures = asyncio.run(measure(settings, 60, 2))
    assert figures["all"] == 60 and 0 <= figures["matches"] <= 60
    assert figures["shown"] == min(figures["matches"], 50)
    assert all(figures[name] > 0 for name in ("count", "page", "bare", "bare_page"))
    assert "first page" in report(figures)
