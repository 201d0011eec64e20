"""統計 (F39): the statistics page (owners and admins) with its charts and CSV, and the
shop's opening hours (営業時間) that its times count."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response

from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import DomainError
from madoguchi.kit.web import CtxDep
from madoguchi.members.dependencies import MemberDep
from madoguchi.stats import service as stats
from madoguchi.stats.api import StatsOut, csv_response
from madoguchi.ui.settings_pages import (
    N_,
    FormText,
    Outcome,
    SettingsPage,
    act,
    add_page,
    is_manager,
    refused,
    show,
    translated,
)
from madoguchi.workspace.hours import (
    WEEKDAYS,
    choose_opening_hours,
    opening_hours,
    parse_hours,
)

router = APIRouter()

WEEKDAY_NAMES = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)


async def _nothing(ctx: Ctx) -> dict[str, Any]:
    return {}


STATS = SettingsPage("stats", _nothing)


def _period(ctx: Ctx, period: str, first: str, last: str) -> tuple[str, stats.Period]:
    today = datetime.now(ZoneInfo(ctx.settings.timezone)).date()
    if period == "range" or (period not in ("week", "month") and (first or last)):
        return "range", stats.parse_period(first, last)
    if period == "week":
        return "week", stats.this_week(today)
    return "month", stats.this_month(today)


@router.get("/settings/stats", name="stats_page")
async def stats_page(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    period: str = "month",
    from_: str = "",
    to: str = "",
) -> Response:
    """This week, this month or a chosen range: totals, a line per day, bars per member and
    channel (uPlot), the same numbers in tables, and the CSV."""
    if not is_manager(member):
        return await refused(request, ctx, member)
    first = request.query_params.get("from", from_)
    try:
        chosen, span = _period(ctx, period, first, to)
    except DomainError as error:
        month = stats.this_month(datetime.now(ZoneInfo(ctx.settings.timezone)).date())
        outcome = Outcome(error=translated(member, error.message, **error.params), at="period")
        report = await stats.report(ctx, period=month)
        return await show(
            request,
            ctx,
            member,
            STATS,
            outcome=outcome,
            status_code=422,
            **_view(report, "range", first, to),
        )
    report = await stats.report(ctx, period=span)
    return await show(
        request,
        ctx,
        member,
        STATS,
        **_view(report, chosen, span.first.isoformat(), span.last.isoformat()),
    )


def _view(report: stats.Report, chosen: str, first: str, last: str) -> dict[str, Any]:
    out = StatsOut.of(report).model_dump(mode="json", by_alias=True)
    chart = {
        "days": [row["day"] for row in out["by_day"]],
        "opened": [row["opened"] for row in out["by_day"]],
        "closed": [row["closed"] for row in out["by_day"]],
        "channels": [row["name"] for row in out["by_channel"]],
        "channel_opened": [row["opened"] for row in out["by_channel"]],
        "members": [row["name"] for row in out["by_member"]],
        "member_opened": [row["opened"] for row in out["by_member"]],
    }
    return {
        "stats": out,
        "chart": chart,
        "chosen": chosen,
        "range_from": first,
        "range_to": last,
        "csv_query": f"from={report.period.first.isoformat()}&to={report.period.last.isoformat()}",
    }


@router.get("/settings/stats.csv", name="stats_csv")
async def stats_csv(
    request: Request,
    member: MemberDep,
    ctx: CtxDep,
    to: str = "",
    encoding: str = "utf-8",
) -> Response:
    if not is_manager(member):
        return await refused(request, ctx, member)
    period = stats.parse_period(request.query_params.get("from", ""), to)
    report = await stats.report(ctx, period=period)
    chosen = "cp932" if encoding == "cp932" else "utf-8"
    return csv_response(report, language=member.language, encoding=chosen)


# --- opening hours ----------------------------------------------------------------------------


async def _hours(ctx: Ctx) -> dict[str, Any]:
    hours = await opening_hours(ctx.db)
    shown = hours.as_dict() if hours else {}
    return {
        "hours_set": hours is not None,
        "weekdays": [
            (key, name, shown.get(key)) for key, name in zip(WEEKDAYS, WEEKDAY_NAMES, strict=True)
        ],
        "time_zone": ctx.settings.timezone,
    }


HOURS = SettingsPage("opening_hours", _hours)
add_page(router, HOURS)


@router.post("/settings/opening-hours")
async def save_hours(
    request: Request, member: MemberDep, ctx: CtxDep, mode: FormText = "set"
) -> Response:
    form = await request.form()

    async def change() -> object:
        if mode == "clear":
            await choose_opening_hours(ctx, None)
            return None
        given: dict[str, Any] = {}
        for key in WEEKDAYS:
            if form.get(f"{key}_open_day"):
                given[key] = {
                    "open": str(form.get(f"{key}_open", "")),
                    "close": str(form.get(f"{key}_close", "")),
                }
        await choose_opening_hours(ctx, parse_hours(given))
        return None

    return await act(
        request,
        ctx,
        member,
        HOURS,
        change,
        at="hours",
        draft={k: str(v) for k, v in form.items()},
        notice=translated(member, N_("Saved.")),
    )
