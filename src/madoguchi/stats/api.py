"""``/api/v1/stats``: statistics for a period (owners and admins), as JSON or CSV."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field

from madoguchi.kit import spreadsheet
from madoguchi.kit.ids import MAX_ID
from madoguchi.kit.web import CtxDep, csv_download
from madoguchi.members.dependencies import MemberDep
from madoguchi.members.service import ensure_manager
from madoguchi.stats import service as stats
from madoguchi.stats.service import Group, Report, Row, Times

router = APIRouter(prefix="/api/v1", tags=["stats"])

CSV = "text/csv"


class TimesOut(BaseModel):
    median_seconds: int | None
    p90_seconds: int | None

    @classmethod
    def of(cls, times: Times) -> TimesOut:
        return cls(median_seconds=times.median_seconds, p90_seconds=times.p90_seconds)


class CountsOut(BaseModel):
    opened: int
    closed: int
    # None: not counted this way (by tag; customers' messages by member; under a filter).
    messages_in: int | None
    messages_out: int | None
    first_response: TimesOut
    resolution: TimesOut

    @classmethod
    def counts(cls, group: Group) -> dict[str, object]:
        return {
            "opened": group.opened,
            "closed": group.closed,
            "messages_in": group.messages_in,
            "messages_out": group.messages_out,
            "first_response": TimesOut.of(group.first_response),
            "resolution": TimesOut.of(group.resolution),
        }


class DayOut(CountsOut):
    day: date


class ChannelOut(CountsOut):
    channel_id: int
    name: str
    kind: str


class MemberOut(CountsOut):
    # None: unassigned conversations, and replies no member sent.
    member_id: int | None
    name: str


class TagOut(CountsOut):
    tag_id: int
    name: str


class StatsOut(CountsOut):
    from_: date = Field(serialization_alias="from")
    to: date
    time_zone: str
    # Whether times count the opening hours only (set on /api/v1/workspace).
    opening_hours: bool
    by_day: list[DayOut]
    by_channel: list[ChannelOut]
    by_member: list[MemberOut]
    by_tag: list[TagOut]

    @classmethod
    def of(cls, report: Report) -> StatsOut:
        def key(row: Row) -> int:
            assert row.key is not None
            return row.key

        return cls.model_validate(
            {
                "from_": report.period.first,
                "to": report.period.last,
                "time_zone": report.time_zone,
                "opening_hours": report.opening_hours,
                **CountsOut.counts(report.total),
                "by_day": [DayOut(day=day, **CountsOut.counts(g)) for day, g in report.by_day],
                "by_channel": [
                    ChannelOut(
                        channel_id=key(r), name=r.name, kind=r.kind, **CountsOut.counts(r.group)
                    )
                    for r in report.by_channel
                ],
                "by_member": [
                    MemberOut(member_id=r.key, name=r.name, **CountsOut.counts(r.group))
                    for r in report.by_member
                ],
                "by_tag": [
                    TagOut(tag_id=key(r), name=r.name, **CountsOut.counts(r.group))
                    for r in report.by_tag
                ],
            }
        )


def csv_response(report: Report, *, language: str, encoding: str) -> Response:
    encoded = spreadsheet.encode_csv(stats.csv_text(report, language=language), encoding)
    name = f"stats-{report.period.first.isoformat()}-{report.period.last.isoformat()}.csv"
    return csv_download(encoded, encoding=encoding, filename=name)


@router.get(
    "/stats",
    response_model=StatsOut,
    responses={200: {"content": {CSV: {}}, "description": "JSON, or CSV with Accept: text/csv."}},
)
async def get_stats(
    member: MemberDep,
    ctx: CtxDep,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    member_id: Annotated[int | None, Query(alias="member", ge=1, le=MAX_ID)] = None,
    tag: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    channel: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    accept: Annotated[str | None, Header()] = None,
    encoding: Literal["utf-8", "cp932"] = "utf-8",
) -> Response | StatsOut:
    """Statistics for the days ``from``–``to`` (YYYY-MM-DD, both included, in the workspace's
    time zone, at most two years), optionally for one assignee (``member``), conversation tag
    (``tag``) or channel (``channel``). Owners and admins. ``Accept: text/csv``: the same as CSV
    (UTF-8 with a BOM, or ``encoding=cp932``)."""
    ensure_manager(member)
    period = stats.parse_period(from_, to)
    filters = stats.Filters(member_id=member_id, tag_id=tag, channel_id=channel)
    report = await stats.report(ctx, period=period, filters=filters)
    if accept is not None and CSV in accept.lower():
        return csv_response(report, language=member.language, encoding=encoding)
    return StatsOut.of(report)
