"""The benchmark's own code path on tiny sizes, so that it cannot rot. It checks that figures come
out, never what they are: timings belong in docs/benchmarks.md, measured on a quiet machine."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
from pathlib import Path

import pytest
from bench import run as bench

from madoguchi.config import Settings


def table(report: str, heading: str) -> list[list[str]]:
    """The cells of the first Markdown table after ``heading``, without its header rows."""
    lines = report.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def number(cell: str) -> float:
    return float(cell.replace(",", "").removesuffix(" s"))


def test_quick_benchmark_reports_latency_flatness_and_ingest_figures(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    argv = ["--quick", "--sizes", "20,40", "--requests", "3", "--warmup", "1", "--ingest", "10"]
    code = bench.main([*argv, "--out", str(out)])
    report = out.read_text(encoding="utf-8")
    # Three requests on a busy machine may move /healthz: then the run says so, and exits 3.
    assert code == (3 if "No verdict" in report else 0)

    made = table(report, "## Data")
    assert [row[0] for row in made] == ["20", "40"]
    scenarios = ["healthz", "all", "all, page 2", "unread", "q: common name"]
    scenarios += ["q: rare full name", "q: common word", "q: uncommon word", "q: 1 character"]
    scenarios += ["q: reading of the common name", "q: reading of the rare full name"]
    scenarios += ["all, 5 per page", "q: uncommon word, 5 per page"]
    scenarios += ["filter: tag", "filter: tag + status"]
    scenarios += ["board: status column", "board: none column", "board: every column", "bare SQL"]
    for size in ("20", "40"):
        rows = table(report, f"## Inbox list at {size} contacts")
        assert [row[0].split(" (")[0].split(":")[0] for row in rows] == [
            name.split(":")[0] for name in scenarios
        ]
        for row in rows:
            p50, p95, ratio = (number(cell) for cell in row[2:5])
            assert 0 < p50 <= p95 and ratio > 0
        assert number(rows[1][1]) == int(size)  # all conversations
        assert number(rows[5][1]) >= 1  # the rare name is someone's
    flatness = table(report, "## Flatness: 40 vs 20 contacts")
    assert len(flatness) == len(scenarios)  # each but healthz, then healthz itself
    assert all(number(row[1]) > 0 and number(row[2]) > 0 for row in flatness)
    filters = table(report, "## Filters against the unfiltered list")
    assert [(row[0], row[1]) for row in filters] == [
        (size, name) for size in ("20", "40") for name in ("filter: tag", "filter: tag + status")
    ]
    assert all(number(row[2]) > 0 and number(row[3]) > 0 for row in filters)
    ingest = table(report, "## Inbound ingest")
    assert [(row[0], row[1], row[2]) for row in ingest] == [
        ("20", "1", "10"),
        ("20", "2", "10"),
        ("40", "1", "10"),
        ("40", "2", "10"),
    ]
    assert all(number(row[3]) > 0 and number(row[5]) > 0 for row in ingest)
    webhooks = table(report, "## LINE webhook events accepted")
    assert [(row[0], row[1]) for row in webhooks] == [("20", "10"), ("40", "10")]
    assert all(number(row[2]) > 0 and number(row[4]) > 0 for row in webhooks)


def _sized(size: int, healthz_ms: float, list_ms: float) -> bench.SizeResult:
    latency = {
        "healthz": bench.Stats((healthz_ms,) * 5),
        "all": bench.Stats((list_ms,) * 5),
    }
    return bench.SizeResult(
        size=size,
        messages=size,
        generate_seconds=1.0,
        scenarios=[bench.Scenario("healthz", "/healthz"), bench.Scenario("all", "/api")],
        latency=latency,
        sql_baseline=bench.Stats((0.1,) * 5),
        ingest=[],
    )


@pytest.mark.parametrize(
    ("large_healthz", "refused"), [(1.0, False), (1.29, False), (1.31, True), (0.7, True)]
)
def test_no_flatness_verdict_when_healthz_itself_moved_more_than_30_percent(
    large_healthz: float, refused: bool
) -> None:
    results = [_sized(1_000, 1.0, 3.0), _sized(100_000, large_healthz, 3.0)]
    assert bench.verdict_refused(results) is refused
    report = bench.render(results, bench.parse_args(["--quick"]))
    flatness = table(report, "## Flatness")
    assert ("No verdict" in report) is refused
    assert flatness[0][-1] == ("(no verdict)" if refused else "yes")


@pytest.mark.parametrize(
    ("made_in", "loads", "waited"),
    [
        # A big size: waits while the load is high, stops once it is down.
        (600.0, [3.0, 2.0, 1.5, 0.6], 15.0),
        # Never longer than a quarter of the time the size took to make...
        (20.0, [3.0] * 10, 5.0),
        # ...nor than SETTLE_MAX_SECONDS; and a small size waits next to nothing.
        (10_000.0, [3.0] * 100, bench.SETTLE_MAX_SECONDS),
        (0.2, [3.0] * 10, 0.05),
        (600.0, [0.4], 0.0),
    ],
)
def test_a_size_is_measured_once_the_machine_has_settled(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    made_in: float,
    loads: list[float],
    waited: float,
) -> None:
    """Making a million contacts leaves the machine busy for a while after: /healthz measured
    then moved by a third and the report refused its verdict. The benchmark waits (bounded)."""
    readings = iter(loads)
    last = [loads[-1]]

    def load() -> tuple[float, float, float]:
        last[0] = next(readings, last[0])
        return (last[0], 0.0, 0.0)

    slept: list[float] = []
    monkeypatch.setattr(bench.os, "getloadavg", load)
    site = bench.Site(
        Settings(_env_file=None, data_dir=tmp_path, database_url=None),
        token="",
        api_channel_id=0,
        line_channel_id=0,
        rare_name="",
        messages=0,
        generate_seconds=made_in,
        drop=lambda: None,
    )
    seconds, _load = bench.settle(site, sleep=slept.append)
    assert seconds == pytest.approx(waited)
    assert sum(slept) == pytest.approx(waited)
    assert all(0 < pause <= 5.0 for pause in slept)


def test_p95_of_few_samples_lies_among_them() -> None:
    stats = bench.Stats((5.0, 1.0, 3.0))
    assert stats.p50 == 3.0
    assert 3.0 <= stats.p95 <= 5.0
    assert bench.Stats((2.0,)).p95 == 2.0


def test_the_rules_benchmark_acts_on_every_message_it_takes_in(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import os

    from bench import rules as rules_bench

    argv = ["--messages", "20", "--repeats", "1"]
    if os.environ.get("DATABASE_URL"):
        argv += ["--database-url", os.environ["DATABASE_URL"]]
    figures = rules_bench.main(argv)
    assert figures["acted"] == 20 and figures["ratio"] > 0
    assert figures["share"] > 0
    assert "| with rules / without (whole runs) |" in capsys.readouterr().out


def test_the_floor_benchmark_measures_the_app_beside_a_bare_fastapi_route(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench/floor.py's whole path (both servers, every probe answering as expected)."""
    from bench import floor

    assert floor.main(["--requests", "3", "--warmup", "1"]) == 0
    rows = table(capsys.readouterr().out, "## The request floor")
    assert [row[0] for row in rows] == [probe.name for probe in floor.PROBES]
    assert all(number(row[1]) > 0 and number(row[3]) > 0 for row in rows)


def test_the_ingest_benchmark_posts_beside_a_bare_fastapi_route(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench/ingest.py's whole path: both servers, the API channel's rounds, a LINE body."""
    from bench import ingest

    database_url = os.environ.get("DATABASE_URL")
    argv = ["--messages", "12", "--clients", "2", "--rounds", "1"]
    argv += ["--line-events", "3", "--line-bodies", "1"]
    if database_url:
        argv += ["--database-url", database_url, "--processes", "2"]
    assert ingest.main(argv) == 0
    out = capsys.readouterr().out
    [row] = table(out, "## Inbound ingest")
    assert number(row[1]) > 0 and number(row[2]) > 0
    assert "LINE webhook, a signed body of 3 events: p50" in out


def test_the_sizes_benchmark_measures_loaded_databases_side_by_side(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """bench/sizes.py's whole path: two databases loaded beforehand, their servers running at
    once, every scenario answering, a ratio per scenario."""
    import asyncio

    from bench import sizes
    from bench.run import scratch_settings

    from madoguchi.cli import command_ctx
    from madoguchi.demo import load_scale

    async def load(settings: Settings, contacts: int) -> None:
        async with command_ctx(settings) as ctx:
            await load_scale(ctx, contacts=contacts)

    database_url = os.environ.get("DATABASE_URL")
    with (
        scratch_settings(database_url, "sizes_a") as small,
        scratch_settings(database_url, "sizes_b") as large,
    ):
        asyncio.run(load(small, 20))
        asyncio.run(load(large, 40))
        databases = [s.database_url or str(s.data_dir) for s in (small, large)]
        with pytest.raises(SystemExit, match="neither a PostgreSQL URL nor"):
            sizes.main([databases[0], str(tmp_path / "nothing here")])
        assert asyncio.run(_token_names(small)) == []  # the first one's token, revoked
        assert sizes.main([*databases, "--requests", "2", "--warmup", "1"]) == 0
        for settings in (small, large):  # the run's tokens are revoked
            assert asyncio.run(_token_names(settings)) == []
        measured = [s.name for s in sizes.scenarios(sizes.Site("", small, "", "x", 0))]
        everything = capsys.readouterr().out
        # A few scenarios alone (and /healthz, the machine's own drift).
        argv = [*databases, "--requests", "1", "--warmup", "0", "--only", "by reading"]
        assert sizes.main([*argv, "--only", "rare tag"]) == 0
        some = capsys.readouterr().out
    assert {
        "filter: tag + status",
        "filter: tag + q: uncommon word, 5 per page",
        "unread + q: uncommon word, 5 per page",
        "contacts + q: uncommon name, 5 per page",
        "filter: rare tag + q: common word, 5 per page",
        "filter: channel + q: uncommon word, 5 per page",
        "filter: tag + status + q: common word, 5 per page",
        "contacts: by reading + q: uncommon name, 5 per page",
        "contacts: by reading + q: rare full name",
        "filter: last visit on a day",
        "contacts: last visit on a day, 1 per page",
        "contacts: last visit within two months",
        "filter: mark",
        "contacts: mark, 5 per page",
        "filter: profile field, rare choice, 5 per page",
        "contacts: born after 1990, 50 per page",
        "filter: address found nowhere",
        "contacts: part of one address",
    } <= set(measured)
    rows = table(everything, "## The list and searches, side by side")
    assert [row[0] for row in rows] == measured
    assert all(number(row[1]) > 0 and number(row[2]) > 0 and number(row[3]) > 0 for row in rows)
    assert {row[4] for row in rows} <= {"yes", "no"}
    rows = table(some, "## The list and searches, side by side")
    assert [row[0] for row in rows] == [
        name for name in measured if name == "healthz" or "by reading" in name or "rare tag" in name
    ]


async def _token_names(settings: Settings) -> list[str]:
    from madoguchi.cli import command_ctx
    from madoguchi.members import service as members

    async with command_ctx(settings) as ctx:
        return [row.token.name for row in await members.list_tokens(ctx.db)]


def test_the_intake_benchmark_times_the_writer_by_batch_size(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench/intake.py's whole path: a fresh database per run, batches of each size."""
    from bench import intake

    argv = ["--batches", "1,3", "--messages", "6", "--warmup", "2", "--repeats", "2"]
    if os.environ.get("DATABASE_URL"):
        argv += ["--database-url", os.environ["DATABASE_URL"]]
    assert intake.main(argv) == 0
    rows = table(capsys.readouterr().out, "## The intake's writer alone")
    assert [row[0] for row in rows] == ["1", "3"]
    assert all(number(row[1].strip("*").removesuffix(" ms")) > 0 for row in rows)
    assert [row[3] for row in rows] == ["6", "2"]  # each message, then in threes


def test_the_unread_benchmark_times_both_walks(tmp_path: Path) -> None:
    import asyncio

    from bench import unread
    from bench.run import scratch_settings

    with scratch_settings(None, "unread") as settings:
        figures = asyncio.run(unread.measure(settings, 30, 1))
    assert all(value > 0 for value in figures.values())
    assert "| first page |" in unread.report(30, figures)


def test_the_live_benchmark_times_every_delivery_to_every_member() -> None:
    from bench import live

    services = bool(os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"))
    processes = 2 if services else 1
    argv = ["--members", "4", "--messages", "2", "--clients", "2", "--processes", str(processes)]
    argv += ["--warmup", "1"]
    pinned = live.split_cpus() is not None
    cpus = os.sched_getaffinity(0)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert live.main([*argv, "--pin"] if pinned else argv) == 0
    report = printed.getvalue()
    if pinned:  # the servers on one CPU, the clients on the others; this process as it was
        assert "The servers on one CPU, the clients on the others" in report
        assert os.sched_getaffinity(0) == cpus
    rows = table(report, "## Live delivery")
    # Two messages counted, each to four members, after one that warmed the servers up.
    assert "(8 deliveries), after 1 not counted." in report
    assert [row[0] for row in rows] == [
        "delivery p50",
        "delivery p99",
        "the first message after start: slowest delivery",
    ] + [f"process {n} memory (RSS)" for n in range(1, processes + 1)]
    assert all(number(row[1].split()[0]) > 0 for row in rows)


def test_the_stats_benchmark_reads_the_same_month_at_both_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench/stats.py's whole path at tiny sizes: the generator's pace keeps the month asked the
    same size (30 days at 10 a day) while the history doubles."""
    import os

    from bench import stats as stats_bench

    argv = ["--sizes", "300,600", "--per-day", "10", "--repeats", "2"]
    if os.environ.get("DATABASE_URL"):
        argv += ["--database-url", os.environ["DATABASE_URL"]]
    assert stats_bench.main(argv) == 0
    report = capsys.readouterr().out
    rows = table(report, "## Statistics for a month")
    assert [row[0] for row in rows] == ["300", "600"]
    assert [row[2] for row in rows] == ["300", "300"]  # the month holds the same number
    assert all(
        0 < number(row[3].removesuffix(" ms")) <= number(row[4].removesuffix(" ms")) for row in rows
    )
    assert "Ratio p95 600 / 300" in report


def test_the_export_benchmark_streams_every_conversation_in_a_process_of_its_own(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench/export.py's whole path at a tiny size, in each format it measures."""
    from bench import export as export_bench

    argv = ["--size", "12", "--formats", "csv,txt"]
    if os.environ.get("DATABASE_URL"):
        argv += ["--database-url", os.environ["DATABASE_URL"]]
    assert export_bench.main(argv) == 0
    report = capsys.readouterr().out
    rows = table(report, "## Export of every conversation")
    assert "12 conversations" in report
    assert [row[0] for row in rows] == ["csv", "txt"]
    assert all(int(row[2].split()[0]) > 0 for row in rows)  # chunks sent
    # Seconds, to a tenth: a dozen conversations may take less than 0.05 s.
    assert all(number(row[3]) >= 0 for row in rows)


@pytest.mark.parametrize(
    ("module", "argv", "said"),
    [
        ("bench.ingest", ["--line-bodies", "0"], "0 is less than 1"),
        ("bench.run", ["--sizes", "1000,x"], "'x' is not a whole number"),
        ("bench.intake", ["--batches", "1,0"], "0 is less than 1"),
        ("bench.live", ["--warmup", "-1"], "-1 is less than 0"),
        ("bench.stats", ["--repeats", "many"], "'many' is not a whole number"),
    ],
)
def test_a_benchmark_refuses_a_count_it_cannot_use_with_a_sentence(
    module: str, argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: --line-bodies 0 measured for a minute, then died on an empty median.
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
