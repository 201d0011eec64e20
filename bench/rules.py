"""What rules cost inbound ingest (issue 11: ≤ 10 % with 20 rules defined).

The same customers' messages are taken in twice, each time in a fresh database: through the one
inbound path (``connectors.inbound.receive``, as every channel does), then the worker acts on
what they noted until nothing is left. Once with no rule (the baseline: the trigger rows are
written and dropped), once with 20 rules on ``message.received`` — 19 whose words are not in
the messages and a time-of-day condition, and one that matches one message in twenty and puts a
tag on the customer. Two figures: the whole second run over the first (≤ 1.10 meets the goal;
noisy on a shared machine), and, steadier, within each run with rules the worker's time on the
triggers over the messages' ingest time (≤ 0.10 meets it).

    .venv/bin/python -m bench.rules --messages 2000
    .venv/bin/python -m bench.rules --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bench import positive
from bench.run import scratch_settings
from madoguchi.automation import rules, runner
from madoguchi.channels import service as channels
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.connectors import inbound
from madoguchi.crm import tags
from madoguchi.events import InProcessBus
from madoguchi.jobs import Worker
from madoguchi.kit.db import Database

GOAL = 1.10
RULES = 20
CUSTOMERS = 200


async def _define_rules(settings: Settings) -> None:
    async with command_ctx(settings) as ctx:
        tag = await tags.create_tag(ctx, actor=None, name="返品")
        for n in range(RULES - 1):
            await rules.create_rule(
                ctx,
                name=f"ルール{n}",
                when="message.received",
                conditions=[
                    {"field": "text", "op": "contains_any", "value": [f"合言葉{n}", f"暗号{n}"]},
                    {"field": "time", "op": "between", "value": ["00:00", "23:59"]},
                ],
                actions=[{"type": "add_tag", "tag_id": tag.id}],
            )
        await rules.create_rule(
            ctx,
            name="返品",
            when="message.received",
            conditions=[{"field": "text", "op": "contains_any", "value": ["返品"]}],
            actions=[{"type": "add_tag", "tag_id": tag.id}],
        )


async def measure(settings: Settings, *, messages: int, with_rules: bool) -> dict[str, float]:
    async with command_ctx(settings) as ctx:
        channel = await channels.create_channel(ctx, kind="api", name="API")
        channel_id = channel.id
    if with_rules:
        await _define_rules(settings)
    database = Database(settings.sqlalchemy_url)
    worker = Worker(settings=settings, database=database, bus=InProcessBus())
    try:
        started = time.perf_counter()
        for n in range(messages):
            text = "返品できますか" if n % 20 == 0 else f"{n}番目のお問い合わせです。予約の件で"
            async with worker.ctx() as ctx:
                await inbound.receive(
                    ctx,
                    inbound.Inbound(
                        channel_id=channel_id,
                        kind="api",
                        sender=f"customer-{n % CUSTOMERS}",
                        name=f"お客さま{n % CUSTOMERS}",
                        text=text,
                        message_id=f"m-{n}",
                        exact=True,
                    ),
                )
        ingested = time.perf_counter() - started
        acted = 0
        while True:
            done = await runner.run_due(worker.ctx)
            acted += done
            if not done:
                break
        total = time.perf_counter() - started
    finally:
        await database.dispose()
    return {
        "messages": messages,
        "ingest": ingested,
        "act": total - ingested,
        "total": total,
        "acted": acted,
    }


def run_once(database_url: str | None, *, messages: int, with_rules: bool) -> dict[str, float]:
    with scratch_settings(database_url, "rules") as settings:
        return asyncio.run(measure(settings, messages=messages, with_rules=with_rules))


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=positive, default=1000)
    parser.add_argument("--repeats", type=positive, default=3, help="pairs of runs, interleaved")
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args(argv)
    # A warm-up run, so neither measured run pays for the first imports and connections.
    run_once(options.database_url, messages=min(100, options.messages), with_rules=True)
    bare_runs, ruled_runs = [], []
    for _ in range(options.repeats):  # interleaved: a busy moment of the machine hits both
        bare_runs.append(
            run_once(options.database_url, messages=options.messages, with_rules=False)
        )
        ruled_runs.append(
            run_once(options.database_url, messages=options.messages, with_rules=True)
        )

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    bare, ruled = median(bare_runs, "total"), median(ruled_runs, "total")
    # The steadier figure: within each run, the worker's time on the triggers over the time the
    # messages took to come in (the same machine moment for both).
    share = median([{"x": r["act"] / r["ingest"]} for r in ruled_runs], "x")
    bare_share = median([{"x": r["act"] / r["ingest"]} for r in bare_runs], "x")
    ratio = ruled / bare
    acted = ruled_runs[0]["acted"]
    print(
        f"| messages | {options.messages:,} from {CUSTOMERS} customers, "
        f"{options.repeats} runs each |"
    )
    print(
        f"| no rule (baseline), median | {bare:.2f} s = {options.messages / bare:,.0f} messages/s; "
        f"the worker on the triggers {median(bare_runs, 'act'):.2f} s "
        f"= {bare_share:.1%} of ingest |"
    )
    print(
        f"| {RULES} rules, median | {ruled:.2f} s ({acted:,.0f} triggers acted on per run); "
        f"the worker on the triggers {median(ruled_runs, 'act'):.2f} s = {share:.1%} of ingest |"
    )
    print(f"| with rules / without (whole runs) | {ratio:.3f} (goal ≤ {GOAL:.2f}) |")
    print(f"| rules' work / ingest, same run | {share:.3f} (goal ≤ {GOAL - 1:.2f}) |")
    return {"ratio": ratio, "share": share, "acted": acted}


if __name__ == "__main__":
    main()
