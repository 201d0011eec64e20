"""``GET /api/v1/audit``: owners and admins read the log newest first, filtered by member, kind
and days (in the workspace's zone), a page at a time; a bad filter is a 422 that says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from madoguchi.audit import service as audit
from madoguchi.crm import statuses
from madoguchi.kit.context import Actor, Ctx
from madoguchi.members.models import Member
from tests.fixtures import Factory, auth


async def _rename(ctx: Ctx, member: Member, name: str, at: datetime | None = None) -> None:
    """A status renamed by ``member`` (at ``at``)."""
    ctx.actor = Actor(kind="member", name=member.name, member_id=member.id)
    if at is not None:
        ctx.clock = lambda: at
    status = (await statuses.list_statuses(ctx.db))[0]
    await statuses.update_status(ctx, status_id=status.id, name=name)


@pytest.fixture
async def owner(factory: Factory) -> Member:
    return await factory.member(role="owner", name="店長")


async def test_agents_are_refused_and_admins_read_it(
    client: httpx.AsyncClient, factory: Factory, owner: Member
) -> None:
    agent = auth(await factory.token(await factory.member(role="agent")))
    admin = auth(await factory.token(await factory.member(role="admin")))
    refused = await client.get("/api/v1/audit", headers=agent)
    assert refused.status_code == 403
    assert refused.json() == {"detail": "Only owners and admins can change this."}
    assert (await client.get("/api/v1/audit")).status_code == 401
    read = await client.get("/api/v1/audit", headers=admin)
    assert read.status_code == 200
    assert set(read.json()) == {"items", "next_cursor"}
    assert set(read.json()["items"][0]) >= {"at", "actor", "kind", "subject", "before", "after"}


async def test_filtered_by_member_and_by_kind(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx, owner: Member
) -> None:
    aya = await factory.member(role="admin", name="彩")
    await _rename(ctx, owner, "A")
    await _rename(ctx, aya, "B")
    await _rename(ctx, owner, "C")
    headers = auth(await factory.token(owner))
    mine = (await client.get(f"/api/v1/audit?member={owner.id}", headers=headers)).json()
    # The token (made while the context acts as the owner) is theirs too; 彩's rename is not.
    assert [(e["kind"], (e["after"] or {}).get("name")) for e in mine["items"]] == [
        ("token.created", None),
        ("status.updated", "C"),
        ("status.updated", "A"),
    ]
    assert {e["actor"]["id"] for e in mine["items"]} == {owner.id}
    renames = (
        await client.get("/api/v1/audit", params={"kind": "status.updated"}, headers=headers)
    ).json()["items"]
    assert [(e["actor"]["name"], e["after"]["name"]) for e in renames] == [
        ("店長", "C"),
        ("彩", "B"),
        ("店長", "A"),
    ]
    both = (
        await client.get(
            "/api/v1/audit", params={"kind": "status.updated", "member": aya.id}, headers=headers
        )
    ).json()["items"]
    assert [e["before"] for e in both] == [{"name": "A"}]


async def test_filtered_by_days_in_japan_time(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx, owner: Member
) -> None:
    # 2026-03-01 23:30 in Tokyo is 14:30 UTC the same day; 2026-03-02 00:30 Tokyo is 15:30 UTC
    # on the 1st.
    late = datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    after_midnight = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    await _rename(ctx, owner, "一日", late)
    await _rename(ctx, owner, "二日", after_midnight)
    headers = auth(await factory.token(owner))

    async def names(**params: str) -> list[str]:
        params = {"kind": "status.updated", **params}
        page = await client.get("/api/v1/audit", params=params, headers=headers)
        assert page.status_code == 200, page.text
        return [e["after"]["name"] for e in page.json()["items"]]

    assert await names(**{"from": "2026-03-01", "to": "2026-03-01"}) == ["一日"]
    assert await names(**{"from": "2026-03-02"}) == ["二日"]
    assert await names(to="2026-03-01") == ["一日"]
    assert await names(**{"from": "2026-03-01", "to": "2026-03-02"}) == ["二日", "一日"]
    assert await names(**{"from": "2026-03-03"}) == []


async def test_pages_follow_the_cursor_without_gaps_or_repeats(
    client: httpx.AsyncClient, factory: Factory, ctx: Ctx, owner: Member
) -> None:
    for n in range(7):
        await _rename(ctx, owner, f"名前{n}")
    headers = auth(await factory.token(owner))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"kind": "status.updated", "limit": "3", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/audit", params=params, headers=headers)).json()
        pages += 1
        seen += [e["after"]["name"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"名前{n}" for n in reversed(range(7))]


async def test_going_back_a_page_shows_the_newer_entries_again(ctx: Ctx, owner: Member) -> None:
    for n in range(5):
        await _rename(ctx, owner, f"名前{n}")
    query = await audit.parse_query(
        ctx.db, member=None, kind="status.updated", start=None, end=None, zone="Asia/Tokyo"
    )
    first = await audit.list_page(ctx.db, query, limit=2)
    second = await audit.list_page(ctx.db, query, cursor=first.next_cursor, limit=2)
    back = await audit.list_page(ctx.db, query, newer=second.previous_cursor, limit=2)
    assert [e.id for e in back.entries] == [e.id for e in first.entries]
    assert back.previous_cursor is None and back.next_cursor == first.next_cursor
    assert first.previous_cursor is None


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        ({"member": "999999"}, "No member with id 999999."),
        ({"member": "abc"}, "member must be a member's id, not abc."),
        ({"kind": "status.renamed"}, "Unknown kind of change: status.renamed."),
        ({"from": "2026-02-30"}, "from must be a date as YYYY-MM-DD, not 2026-02-30."),
        ({"to": "yesterday"}, "to must be a date as YYYY-MM-DD, not yesterday."),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from must not be after to."),
        ({"cursor": "x1"}, "The cursor is not one this list gave."),
    ],
)
async def test_a_bad_filter_is_a_422_saying_why(
    client: httpx.AsyncClient,
    factory: Factory,
    owner: Member,
    params: dict[str, str],
    sentence: str,
) -> None:
    headers = auth(await factory.token(owner))
    answer = await client.get("/api/v1/audit", params=params, headers=headers)
    assert answer.status_code == 422
    assert answer.json() == {"detail": sentence}


async def test_older_entries_stay_readable(
    ctx: Ctx, owner: Member, client: httpx.AsyncClient, factory: Factory
) -> None:
    """An entry written before before/after were kept reads with its detail and no change."""
    entry = audit.record(
        ctx, action="segment.deleted", subject="segment 4", detail={"name": "旧セグメント"}
    )
    entry.actor_kind, entry.member_id, entry.member_name = "member", owner.id, "店長"
    await ctx.commit()
    headers = auth(await factory.token(owner))
    [item] = (
        await client.get("/api/v1/audit", params={"kind": "segment.deleted"}, headers=headers)
    ).json()["items"]
    assert item["subject"] == {"type": "segment", "id": 4, "name": "旧セグメント"}
    assert item["before"] is None and item["after"] is None
    assert item["detail"] == {"name": "旧セグメント"}
    assert item["actor"] == {"kind": "member", "id": owner.id, "name": "店長"}


def test_every_kind_has_a_label_and_an_unknown_kind_is_refused_when_written() -> None:
    assert all(label for label in audit.KINDS.values())
    with pytest.raises(ValueError, match="unknown audit kind"):
        audit.record(None, action="status.renamed", subject="status 1")  # type: ignore[arg-type]


async def test_time_zone_edges_are_whole_days(ctx: Ctx) -> None:
    query = await audit.parse_query(
        ctx.db, member=None, kind=None, start="2026-03-01", end="2026-03-01", zone="Asia/Tokyo"
    )
    assert query.start == datetime(2026, 2, 28, 15, 0, tzinfo=UTC)
    assert query.end is not None and query.end - query.start == timedelta(days=1)
