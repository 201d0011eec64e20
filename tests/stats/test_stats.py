"""Statistics (F39) against hand-counted data: opening hours across a closed night, a day
boundary that Asia/Tokyo and UTC see differently, the live rollup against its rebuild, CSV in
both encodings, bad input and permissions."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from madoguchi.channels.models import Channel
from madoguchi.conversations import service as conversations
from madoguchi.conversations import workflow
from madoguchi.kit.context import Ctx
from madoguchi.members.models import Member
from madoguchi.stats import service as stats
from madoguchi.stats.api import StatsOut
from madoguchi.workspace.hours import choose_opening_hours, parse_hours
from tests.fixtures import Factory, auth

WEEK = {"from": "2026-11-02", "to": "2026-11-08"}  # Monday to Sunday
HOURS = {
    **{day: {"open": "10:00", "close": "19:00"} for day in ("mon", "tue", "wed", "thu", "fri")},
    "sat": {"open": "10:00", "close": "15:00"},
    "sun": None,
}


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 on Tokyo's clock (UTC+9), as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - timedelta(hours=9)


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 10, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@dataclass
class Shop:
    owner: Member
    aya: Member
    line: Channel
    mail: Channel
    a: int
    b: int
    c: int
    booking_tag: int


async def _inbound(ctx: Ctx, factory: Factory, channel: Channel, contact: str) -> int:
    got = await factory.inbound(channel, contact=contact, name=contact, text="予約できますか")
    return got.conversation.id


async def make_shop(ctx: Ctx, factory: Factory, *, hours: bool = True) -> Shop:
    """Three conversations, hand-counted in the tests below (Tokyo time, opening hours
    Mon–Fri 10–19, Sat 10–15, Sun closed):

    A (LINE, aya): in Mon 2 18:30; reply Tue 3 10:15 (30 + 15 min open = 2,700 s; 15 h 45 min
      on the clock); closed Tue 3 11:00 with the tag 予約 (30 + 60 min = 5,400 s).
    B (mail, nobody): in Mon 2 08:30 (Sun 1 23:30 UTC: a day earlier in UTC); reply Mon 10:30
      (1,800 s open; 2 h on the clock); closed Mon 12:00 (7,200 s open; 3.5 h on the clock).
    C (LINE, aya): in Sat 7 14:00; reply Mon 9 09:00, after the week (Sat 14–15: 3,600 s).
    """
    clock = Clock()
    ctx.clock = clock
    owner = await factory.member(role="owner", name="店長")
    aya = await factory.member(name="あや")
    line = await factory.channel(kind="api", name="LINE窓口")
    mail = await factory.channel(kind="api", name="メール窓口")
    if hours:
        await choose_opening_hours(ctx, parse_hours(HOURS))
    tag = await workflow.create_conversation_tag(ctx, name="予約")

    async def reply(conversation_id: int, by: Member) -> None:
        await conversations.send_message(
            ctx, conversation_id=conversation_id, member=by, text="はい", kind="reply"
        )

    clock.at = jst(2, 8, 30)
    b = await _inbound(ctx, factory, mail, "b-san")
    clock.at = jst(2, 10, 30)
    await reply(b, owner)
    clock.at = jst(2, 12)
    await workflow.close(ctx, conversation_id=b, actor=owner)
    clock.at = jst(2, 18, 30)
    a = await _inbound(ctx, factory, line, "a-san")
    await workflow.assign(ctx, conversation_id=a, member_id=aya.id, actor=owner)
    clock.at = jst(3, 10, 15)
    await reply(a, aya)
    clock.at = jst(3, 11)
    await workflow.close(ctx, conversation_id=a, actor=aya, tag_ids=[tag.id])
    clock.at = jst(7, 14)
    c = await _inbound(ctx, factory, line, "c-san")
    await workflow.assign(ctx, conversation_id=c, member_id=aya.id, actor=owner)
    clock.at = jst(9, 9)
    await reply(c, aya)
    return Shop(owner, aya, line, mail, a, b, c, tag.id)


async def week(ctx: Ctx, **filters: Any) -> dict[str, Any]:
    period = stats.parse_period(WEEK["from"], WEEK["to"])
    report = await stats.report(ctx, period=period, filters=stats.Filters(**filters))
    return StatsOut.of(report).model_dump(mode="json", by_alias=True)


async def test_numbers_count_opening_hours_across_a_closed_night(
    ctx: Ctx, factory: Factory
) -> None:
    shop = await make_shop(ctx, factory)
    got = await week(ctx)
    assert (got["opened"], got["closed"]) == (3, 2)
    assert (got["messages_in"], got["messages_out"]) == (3, 2)  # C's reply is on the 9th
    assert got["first_response"] == {"median_seconds": 2700, "p90_seconds": 3600}
    assert got["resolution"] == {"median_seconds": 6300, "p90_seconds": 7200}
    assert got["opening_hours"] is True and got["time_zone"] == "Asia/Tokyo"
    days = {d["day"]: d for d in got["by_day"]}
    assert len(days) == 7
    assert [days["2026-11-02"][k] for k in ("opened", "closed", "messages_in", "messages_out")] == [
        2,
        1,
        2,
        1,
    ]
    assert [days["2026-11-03"][k] for k in ("opened", "closed", "messages_in", "messages_out")] == [
        0,
        1,
        0,
        1,
    ]
    assert days["2026-11-07"]["opened"] == 1 and days["2026-11-08"]["opened"] == 0
    channels = {c["name"]: c for c in got["by_channel"]}
    assert channels["LINE窓口"]["opened"] == 2 and channels["メール窓口"]["opened"] == 1
    assert channels["LINE窓口"]["first_response"]["median_seconds"] == 3150  # 2,700 and 3,600
    assert channels["メール窓口"]["resolution"]["median_seconds"] == 7200
    for key in ("opened", "closed", "messages_in", "messages_out"):
        assert sum(c[key] for c in got["by_channel"]) == got[key]
        assert sum(d[key] for d in got["by_day"]) == got[key]
    members = {m["member_id"]: m for m in got["by_member"]}
    assert members[shop.aya.id]["opened"] == 2 and members[shop.aya.id]["closed"] == 1
    assert members[None]["opened"] == 1  # B has no assignee
    assert members[shop.aya.id]["messages_out"] == 1 and members[shop.owner.id]["messages_out"] == 1
    assert sum(m["opened"] for m in got["by_member"]) == 3
    assert got["by_tag"] == [
        {
            "tag_id": shop.booking_tag,
            "name": "予約",
            "opened": 1,
            "closed": 1,
            "messages_in": None,
            "messages_out": None,
            "first_response": {"median_seconds": 2700, "p90_seconds": 2700},
            "resolution": {"median_seconds": 5400, "p90_seconds": 5400},
        }
    ]


async def test_without_opening_hours_every_hour_counts(ctx: Ctx, factory: Factory) -> None:
    await make_shop(ctx, factory, hours=False)
    got = await week(ctx)
    # A: 15 h 45 min; B: 2 h; C: Sat 14:00 → Mon 09:00 = 43 h.
    assert got["first_response"] == {"median_seconds": 56_700, "p90_seconds": 154_800}
    # A: 16.5 h; B: 3.5 h.
    assert got["resolution"] == {"median_seconds": 36_000, "p90_seconds": 59_400}
    assert got["opening_hours"] is False


async def test_days_follow_the_workspace_zone_and_rebuild_gives_the_live_numbers(
    ctx: Ctx, factory: Factory
) -> None:
    await make_shop(ctx, factory)
    live = await week(ctx)
    sunday_utc = stats.parse_period("2026-11-01", "2026-11-01")
    assert (await stats.report(ctx, period=sunday_utc)).total.opened == 0  # Tokyo: Monday
    rebuilt = await stats.rebuild(ctx)
    assert rebuilt.conversations == 3
    assert await week(ctx) == live
    assert await stats.rebuild(ctx) == rebuilt  # idempotent
    assert await week(ctx) == live
    in_utc = replace(ctx, settings=ctx.settings.model_copy(update={"timezone": "UTC"}))
    await stats.rebuild(in_utc)
    # In UTC, B's message (Sun 1 23:30 UTC) opens it on Sunday the 1st.
    sunday = await stats.report(in_utc, period=sunday_utc)
    assert (sunday.total.opened, sunday.total.messages_in) == (1, 1)


async def test_reopen_clears_the_close_and_delete_takes_the_counts_away(
    ctx: Ctx, factory: Factory
) -> None:
    shop = await make_shop(ctx, factory)
    ctx.clock.at = jst(4, 10)  # type: ignore[attr-defined]
    await workflow.reopen(ctx, conversation_id=shop.a, actor=shop.owner)
    got = await week(ctx)
    assert got["closed"] == 1 and got["resolution"]["median_seconds"] == 7200
    await workflow.delete_conversation(ctx, conversation_id=shop.b, actor=shop.owner)
    got = await week(ctx)
    assert (got["opened"], got["closed"], got["messages_in"], got["messages_out"]) == (2, 0, 2, 1)
    live = got
    await stats.rebuild(ctx)
    assert await week(ctx) == live


async def test_filters_narrow_the_conversations(ctx: Ctx, factory: Factory) -> None:
    shop = await make_shop(ctx, factory)
    by_tag = await week(ctx, tag_id=shop.booking_tag)
    assert (by_tag["opened"], by_tag["closed"], by_tag["messages_in"]) == (1, 1, None)
    by_member = await week(ctx, member_id=shop.aya.id)
    assert (by_member["opened"], by_member["messages_out"], by_member["messages_in"]) == (
        2,
        1,
        None,
    )
    by_channel = await week(ctx, channel_id=shop.mail.id)
    assert (by_channel["opened"], by_channel["messages_in"]) == (1, 1)


async def test_medians_and_p90s_follow_one_definition_on_every_database(
    ctx: Ctx, factory: Factory
) -> None:
    """On PostgreSQL the medians and p90s are computed in SQL (percentile_cont and
    percentile_disc, grouped by channel and by member at once); on SQLite here. Both must give
    times_of's numbers: odd and even counts (101, 51, 50), 0.9 × n whole (70, for a tag) or not,
    an unassigned group, durations missing for some conversations."""
    import random

    from sqlalchemy import insert, update

    from madoguchi.conversations.models import ConversationTagging
    from madoguchi.stats.models import ConversationFacts

    ctx.clock = Clock()
    ctx.clock.at = jst(4, 12)
    members = [await factory.member(name=name) for name in ("あや", "けん")]
    channels = [await factory.channel(name=name) for name in ("LINE窓口", "メール窓口")]
    tags = [await workflow.create_conversation_tag(ctx, name=name) for name in ("予約", "質問")]
    ids = [
        await _inbound(ctx, factory, channels[n % 2], f"c{n}")
        for n in range(101)  # the whole period: 101; a channel: 51 and 50
    ]
    chance = random.Random(12)
    expected: dict[tuple[str, Any], dict[str, list[int]]] = {}
    for n, conversation_id in enumerate(ids):
        assignee = None if n % 3 == 0 else members[n % 2].id
        first = None if n % 11 == 0 else chance.randrange(1, 50_000)
        resolved = chance.randrange(1, 90_000)
        await ctx.db.execute(
            update(ConversationFacts)
            .where(ConversationFacts.conversation_id == conversation_id)
            .values(
                assignee_id=assignee,
                first_response_seconds=first,
                closed_day=jst(5, 12).date(),
                resolution_seconds=resolved,
            )
        )
        keys = [("total", None), ("channel", channels[n % 2].id), ("member", assignee)]
        if n < 70:
            keys.append(("tag", tags[0].id))
            await ctx.db.execute(
                insert(ConversationTagging).values(
                    conversation_id=conversation_id, tag_id=tags[0].id
                )
            )
        for key in keys:
            held = expected.setdefault(key, {"first_response": [], "resolution": []})
            if first is not None:
                held["first_response"].append(first)
            held["resolution"].append(resolved)
    await ctx.db.commit()

    got = await stats.report(ctx, period=stats.parse_period("2026-11-01", "2026-11-30"))
    found = {("total", None): got.total}
    found |= {("channel", row.key): row.group for row in got.by_channel}
    found |= {("member", row.key): row.group for row in got.by_member}
    found |= {("tag", row.key): row.group for row in got.by_tag if row.group.opened}
    assert set(found) == set(expected)
    for key, held in expected.items():
        for side in ("first_response", "resolution"):
            assert getattr(found[key], side) == stats.times_of(held[side]), (key, side)
    assert found[("tag", tags[0].id)].opened == 70
    assert [row.group.opened for row in got.by_tag] == [70, 0]


# --- the API -----------------------------------------------------------------------------------


async def test_api_answers_json_and_csv_in_both_encodings(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    shop = await make_shop(ctx, factory)
    await ctx.db.commit()
    token = await factory.token(shop.owner)
    response = await client.get("/api/v1/stats", params=WEEK, headers=auth(token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["from"] == "2026-11-02" and body["to"] == "2026-11-08"
    assert (body["opened"], body["closed"]) == (3, 2)

    response = await client.get(
        "/api/v1/stats", params=WEEK, headers={**auth(token), "Accept": "text/csv"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "区分"
    total = rows[1]
    assert total[3:11] == ["3", "2", "3", "2", "2700", "3600", "6300", "7200"]
    assert any(row[2] == "LINE窓口" for row in rows)

    response = await client.get(
        "/api/v1/stats",
        params={**WEEK, "encoding": "cp932"},
        headers={**auth(token), "Accept": "text/csv"},
    )
    assert "Shift_JIS" in response.headers["content-type"]
    rows = list(csv.reader(io.StringIO(response.content.decode("cp932"))))
    assert rows[1][3:5] == ["3", "2"] and any(row[2] == "メール窓口" for row in rows)


async def test_csv_cells_cannot_be_formulas(
    ctx: Ctx, factory: Factory, client: httpx.AsyncClient
) -> None:
    owner = await factory.member(role="owner")
    await workflow.create_conversation_tag(ctx, name="=HYPERLINK(1)")
    token = await factory.token(owner)
    response = await client.get(
        "/api/v1/stats", params=WEEK, headers={**auth(token), "Accept": "text/csv"}
    )
    assert "'=HYPERLINK(1)" in response.content.decode("utf-8-sig")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-11-08", "to": "2026-11-02"}, "from must not be later than to"),
        ({"from": "2024-01-01", "to": "2026-01-02"}, "at most two years"),
        ({"from": "2026-11-2", "to": "2026-11-08"}, "YYYY-MM-DD"),
        ({"from": "2026-02-30", "to": "2026-11-08"}, "YYYY-MM-DD"),
        ({"to": "2026-11-08"}, "from=YYYY-MM-DD"),
        ({**WEEK, "member": "999"}, "No member with id 999"),
        ({**WEEK, "tag": "999"}, "No conversation tag with id 999"),
        ({**WEEK, "channel": "999"}, "No channel with id 999"),
    ],
)
async def test_bad_input_is_refused_with_a_sentence(
    factory: Factory, client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    owner = await factory.member(role="owner")
    owner.language = "en"
    await factory.ctx.db.commit()
    token = await factory.token(owner)
    response = await client.get("/api/v1/stats", params=params, headers=auth(token))
    assert response.status_code == 422
    assert message in response.text


async def test_only_owners_and_admins_see_statistics(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    agent = await factory.member(role="agent")
    admin = await factory.member(role="admin")
    refused = await client.get(
        "/api/v1/stats", params=WEEK, headers=auth(await factory.token(agent))
    )
    assert refused.status_code == 403
    allowed = await client.get(
        "/api/v1/stats", params=WEEK, headers=auth(await factory.token(admin))
    )
    assert allowed.status_code == 200
    assert (await client.get("/api/v1/stats", params=WEEK)).status_code == 401


async def test_opening_hours_through_the_workspace_api(
    factory: Factory, client: httpx.AsyncClient
) -> None:
    owner = await factory.member(role="owner")
    agent = await factory.member(role="agent")
    token = await factory.token(owner)
    response = await client.patch(
        "/api/v1/workspace", json={"opening_hours": HOURS}, headers=auth(token)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["opening_hours"]["mon"] == {"open": "10:00", "close": "19:00"}
    assert body["opening_hours"]["sun"] is None and body["time_zone"] == "Asia/Tokyo"
    seen = await client.get("/api/v1/workspace", headers=auth(await factory.token(agent)))
    assert seen.json()["opening_hours"] == body["opening_hours"]
    for bad in (
        {"mon": {"open": "19:00", "close": "10:00"}},
        {"mon": {"open": "9時", "close": "18:00"}},
        {"someday": None},
        {"mon": None},
    ):
        refused = await client.patch(
            "/api/v1/workspace", json={"opening_hours": bad}, headers=auth(token)
        )
        assert refused.status_code == 422, bad
    forbidden = await client.patch(
        "/api/v1/workspace", json={"opening_hours": None}, headers=auth(await factory.token(agent))
    )
    assert forbidden.status_code == 403
    cleared = await client.patch(
        "/api/v1/workspace", json={"opening_hours": None}, headers=auth(token)
    )
    assert cleared.json()["opening_hours"] is None


async def test_the_demo_fills_the_statistics_page_and_rebuild_agrees(ctx: Ctx) -> None:
    from madoguchi import demo

    await demo.load_demo(ctx)
    today = ctx.now().astimezone(ZoneInfo(ctx.settings.timezone)).date()
    recent = stats.Period(today - timedelta(days=29), today)
    live = StatsOut.of(await stats.report(ctx, period=recent)).model_dump(mode="json")
    assert live["opened"] > 0 and live["closed"] > 0 and live["messages_in"] > 0
    assert live["messages_out"] > 0 and live["first_response"]["median_seconds"] is not None
    assert any(row["opened"] for row in live["by_member"] if row["member_id"] is not None)
    assert any(row["closed"] for row in live["by_tag"])
    await stats.rebuild(ctx)
    assert StatsOut.of(await stats.report(ctx, period=recent)).model_dump(mode="json") == live


async def test_the_rebuild_command_counts_again_and_says_how_much(
    ctx: Ctx, factory: Factory, settings: Any
) -> None:
    from tests.test_cli import run

    await make_shop(ctx, factory)
    await ctx.db.commit()
    live = await week(ctx)
    await ctx.db.rollback()
    for _ in range(2):
        result = run(settings, "stats", "rebuild")
        assert result.returncode == 0, result.stderr
        assert "3 conversations" in result.stdout
    assert await week(ctx) == live
