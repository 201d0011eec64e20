"""The inbox's list and searches on databases loaded beforehand, measured side by side.

``bench.run`` makes each size and measures it in turn, and divides by /healthz to cancel the
machine's drift. A million contacts take a quarter of an hour to load, so this one measures
databases already loaded (``madoguchi demo --scale N``), and cancels the drift otherwise: one
``madoguchi serve`` per database, all of them running at once, and the requests round-robin
over databases and scenarios, so that whatever the machine does meanwhile falls on each alike
(on a noisy machine, runs of the same code one after the other differed by 15 %: issue 14).
Each database is given as a PostgreSQL URL or a SQLite data directory; the ratios are each
database's p50 against the first's.

    .venv/bin/python -m bench.sizes --requests 300 \\
        postgresql://postgres@127.0.0.1:5432/madoguchi_1k \\
        postgresql://postgres@127.0.0.1:5432/madoguchi_1m
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import select

from bench import non_negative, positive
from bench.run import (
    COMMON_NAME,
    COMMON_READING,
    COMMON_WORD,
    FLAT,
    MOST_USED,
    ONE_CHARACTER,
    SMALL_PAGE,
    UNCOMMON_WORD,
    Scenario,
    _hiragana_reading,
    _rare_full_name,
    _rows,
    filter_scenarios,
    server_process,
    timed_get,
)
from madoguchi.cli import command_ctx
from madoguchi.config import Settings
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, ConversationTeamUnread
from madoguchi.demo.script import TREATMENTS
from madoguchi.members import service as members

PATH = "/api/v1/conversations"
CONTACTS = "/api/v1/contacts"
# A surname about one customer in three hundred has (the demo's surnames fall off as Zipf's law
# has it): six at a thousand contacts, 3,200 at a million.
UNCOMMON_NAME = "長谷川"
# The customers whose last visit (the demo's 施術履歴) was this many days ago: one day's visits,
# about one customer in 450 (2,251 at a million, 1 or 2 at a thousand: the pages differ, and the
# ratio says what a day's customers cost, not flatness; in pages of one, the same page at both
# sizes); and within a span of two months, a full page at every size.
LAST_VISIT = 60
# A part of an address that no customer's holds.
NOWHERE_ADDRESS = "nowhere@exa"
LAST_VISITS = [30, 90]


@dataclass
class Site:
    """One loaded database: its settings, an API token (revoked after the run), and its rare
    customer's name."""

    label: str
    settings: Settings
    token: str
    rare_name: str
    token_id: int
    # A rare name among the customers with a conversation in 未確認 (the team's): searched in
    # that view, it is found at every size (a name the view lacks costs its page nothing).
    rare_unread_name: str = ""


def settings_of(database: str, scratch: Path) -> Settings:
    """A PostgreSQL URL (its server's files in ``scratch``), or a SQLite data directory that
    holds a database already."""
    if database.startswith("postgresql"):
        return Settings(_env_file=None, data_dir=scratch, database_url=database)
    directory = Path(database)
    if not (directory / "madoguchi.db").is_file():
        raise SystemExit(f"{database}: neither a PostgreSQL URL nor a Madoguchi data directory")
    return Settings(_env_file=None, data_dir=directory)


def site_of(database: str, scratch: Path) -> Site:
    settings = settings_of(database, scratch)

    async def read() -> tuple[members.IssuedToken, str, str]:
        async with command_ctx(settings) as ctx:
            names = list(await ctx.db.scalars(select(Contact.display_name)))
            unread = list(
                await ctx.db.scalars(
                    select(Contact.display_name)
                    .join(Conversation, Conversation.contact_id == Contact.id)
                    .join(
                        ConversationTeamUnread,
                        ConversationTeamUnread.conversation_id == Conversation.id,
                    )
                    .where(Contact.hidden.is_(False))
                )
            )
            listed = await members.list_members(ctx.db)
            if not names or not listed:
                raise SystemExit(f"{database}: no contacts or members (madoguchi demo --scale N)")
            issued = await members.issue_token(ctx, member=listed[0], name="bench.sizes")
            rare_unread = _rare_full_name(names, among=unread) if unread else ""
            return issued, _rare_full_name(names), rare_unread

    issued, rare, rare_unread = asyncio.run(read())
    label = database.rsplit("/", 1)[-1]
    return Site(label, settings, issued.secret, rare, issued.token.id, rare_unread)


def revoke(site: Site) -> None:
    """The site's token revoked: the databases are someone's, and keep no key of the run's."""

    async def run() -> None:
        async with command_ctx(site.settings) as ctx:
            await members.revoke_token(ctx, token_id=site.token_id)

    asyncio.run(run())


def scenarios(site: Site) -> list[Scenario]:
    """bench.run's list, filter and search scenarios (the rare name, the tag and the status are
    each database's own), and searches inside 未確認: a member looks for a customer among what
    is still unread."""
    searched = [
        ("q: common name", COMMON_NAME),
        ("q: rare full name", site.rare_name),
        ("q: common word", COMMON_WORD),
        ("q: 1 character", ONE_CHARACTER),
        ("q: reading of the common name", COMMON_READING),
        ("q: reading of the rare full name", _hiragana_reading(site.rare_name)),
    ]
    unread = {"view": "unread"}
    filtered = filter_scenarios(site.settings, PATH)
    # A member looks among a tag's customers (a fifth of them) for who wrote a word.
    tagged = [
        Scenario(
            "filter: tag + q: uncommon word, 5 per page",
            PATH,
            {**scenario.params, "q": UNCOMMON_WORD, "limit": SMALL_PAGE},
        )
        for scenario in filtered
        if scenario.name == "filter: tag"
    ]
    return [
        Scenario("healthz", "/healthz"),
        Scenario("all", PATH),
        Scenario("all, 5 per page", PATH, {"limit": SMALL_PAGE}),
        *(Scenario(name, PATH, {"q": q}) for name, q in searched),
        Scenario("q: uncommon word, 5 per page", PATH, {"q": UNCOMMON_WORD, "limit": SMALL_PAGE}),
        *filtered,
        *tagged,
        Scenario("unread", PATH, unread),
        Scenario(
            "unread + q: rare full name",
            PATH,
            {**unread, "q": site.rare_unread_name or site.rare_name},
        ),
        Scenario("unread + q: common word", PATH, {**unread, "q": COMMON_WORD}),
        Scenario(
            "unread + q: uncommon word, 5 per page",
            PATH,
            {**unread, "q": UNCOMMON_WORD, "limit": SMALL_PAGE},
        ),
        *other_filter_scenarios(site, filtered),
        *record_scenarios(site),
        *profile_scenarios(site),
        *address_scenarios(site),
        *contact_scenarios(site),
    ]


def other_filter_scenarios(site: Site, filtered: Sequence[Scenario]) -> list[Scenario]:
    """A word searched inside other filters than one common tag: the rarest tag (VIP, a
    twentieth of the customers), the busiest channel, and the tag and the status of
    ``filtered`` (filter_scenarios') together (none when the generated data has no tags)."""
    both = next((s.params for s in filtered if s.name == "filter: tag + status"), None)
    if both is None:
        return []
    tags = _rows(site.settings, MOST_USED.format(column="tag_id", table="contact_tags"))
    channels = _rows(site.settings, MOST_USED.format(column="channel_id", table="conversations"))
    rare_tag = min(tags, key=lambda row: row[1])[0]
    channel = max(channels, key=lambda row: row[1])[0]
    # The rare tag's customers at a thousand are fifty: a common word fills a page of five
    # among them at both sizes, an uncommon one would not.
    return [
        Scenario(
            "filter: rare tag + q: common word, 5 per page",
            PATH,
            {"tag": str(rare_tag), "q": COMMON_WORD, "limit": SMALL_PAGE},
        ),
        Scenario(
            "filter: channel + q: uncommon word, 5 per page",
            PATH,
            {"channel": str(channel), "q": UNCOMMON_WORD, "limit": SMALL_PAGE},
        ),
        Scenario(
            "filter: tag + status + q: common word, 5 per page",
            PATH,
            {**both, "q": COMMON_WORD, "limit": SMALL_PAGE},
        ),
    ]


def record_scenarios(site: Site) -> list[Scenario]:
    """The inbox and the contact list of the customers whose last visit fell on a day
    (LAST_VISIT days ago) or within a span (LAST_VISITS): a record condition (none where the
    database has no such book)."""
    books = _rows(site.settings, f"SELECT id, 0 FROM record_books WHERE name = '{TREATMENTS}'")
    if not books:
        return []

    def last_visit(op: str, value: object) -> dict[str, str]:
        field = f"record.{books[0][0]}.newest_at"
        return {"filter": json.dumps([{"field": field, "op": op, "value": value}])}

    day, span = last_visit("days_ago", LAST_VISIT), last_visit("between_days_ago", LAST_VISITS)
    one = {**day, "limit": "1"}
    return [
        Scenario("filter: last visit on a day", PATH, day),
        Scenario("filter: last visit on a day, 1 per page", PATH, one),
        Scenario("filter: last visit within two months", PATH, span),
        Scenario("contacts: last visit on a day", CONTACTS, day),
        Scenario("contacts: last visit on a day, 1 per page", CONTACTS, one),
        Scenario("contacts: last visit within two months", CONTACTS, span),
    ]


def profile_scenarios(site: Site) -> list[Scenario]:
    """The inbox and the contact list filtered by a mark (the one most contacts hold: one in
    160 of the demo's), by a rare choice of a profile field (性別: その他, one in a hundred) and
    by a date field's range (生年月日 after 1990); none where the database has no marks or no
    such fields (data made before the demo had them). A rare condition fills a page of five at
    both sizes, and the inbox's own page of fifty a few rows at a thousand."""
    marks = _rows(site.settings, MOST_USED.format(column="mark_id", table="contacts"))
    keys = {key for key, _ in _rows(site.settings, "SELECT key, 0 FROM fields")}
    made: list[Scenario] = []

    def filtered(condition: dict[str, object], **params: str) -> dict[str, str]:
        return {"filter": json.dumps([condition], ensure_ascii=False), **params}

    if marks:
        mark = filtered({"field": "mark", "op": "eq", "value": max(marks, key=lambda r: r[1])[0]})
        made += [
            Scenario("filter: mark", PATH, mark),
            Scenario("filter: mark, 5 per page", PATH, {**mark, "limit": SMALL_PAGE}),
            Scenario("contacts: mark, 5 per page", CONTACTS, {**mark, "limit": SMALL_PAGE}),
        ]
    if "gender" in keys:
        rare = filtered({"field": "field.gender", "op": "eq", "value": "その他"}, limit=SMALL_PAGE)
        made += [
            Scenario("filter: profile field, rare choice, 5 per page", PATH, rare),
            Scenario("contacts: profile field, rare choice, 5 per page", CONTACTS, rare),
        ]
    if "birthday" in keys:
        born = filtered({"field": "field.birthday", "op": "after", "value": "1990-12-31"})
        made += [
            Scenario("filter: born after 1990", PATH, born),
            Scenario("contacts: born after 1990, 50 per page", CONTACTS, {**born, "limit": "50"}),
        ]
    return made


def address_scenarios(site: Site) -> list[Scenario]:
    """The inbox and the contact list filtered by 「メールアドレス」 containing a text: one found
    nowhere (every address a part of it), and a part of the newest customer's address (one row
    at both sizes); none where the database has no addresses (the demo's e-mail customers
    have theirs: one in ten, 100,000 at a million)."""
    newest = _rows(
        site.settings,
        "SELECT email, 0 FROM contacts WHERE email IS NOT NULL ORDER BY id DESC LIMIT 1",
    )
    if not newest:
        return []
    part = str(newest[0][0]).split("@")[0][-12:]

    def contains(text: str) -> dict[str, str]:
        condition = {"field": "email", "op": "contains", "value": text}
        return {"filter": json.dumps([condition])}

    nowhere, one = contains(NOWHERE_ADDRESS), contains(part)
    return [
        Scenario("filter: address found nowhere", PATH, nowhere),
        Scenario("contacts: address found nowhere", CONTACTS, nowhere),
        Scenario("filter: part of one address", PATH, one),
        Scenario("contacts: part of one address", CONTACTS, one),
    ]


def contact_scenarios(site: Site) -> list[Scenario]:
    """The contact list (顧客一覧, its page of 100), sorted by reading, and searched: a member
    looks a customer up by name, or for who wrote a word."""
    searched = [
        ("common name", COMMON_NAME),
        ("rare full name", site.rare_name),
        ("common word", COMMON_WORD),
    ]
    # An uncommon name or word fills a page of five at both sizes (a page of a hundred at a
    # million, and a few rows at a thousand, would compare two different pages).
    uncommon = [("uncommon name", UNCOMMON_NAME), ("uncommon word", UNCOMMON_WORD)]
    return [
        Scenario("contacts", CONTACTS),
        Scenario("contacts: by reading", CONTACTS, {"sort": "reading"}),
        # 五十音順 and searched: a member looks a surname up in the order of the names.
        Scenario(
            "contacts: by reading + q: uncommon name, 5 per page",
            CONTACTS,
            {"sort": "reading", "q": UNCOMMON_NAME, "limit": SMALL_PAGE},
        ),
        Scenario(
            "contacts: by reading + q: common name", CONTACTS, {"sort": "reading", "q": COMMON_NAME}
        ),
        # A name too rare for the reading index's walk: gathered after it.
        Scenario(
            "contacts: by reading + q: rare full name",
            CONTACTS,
            {"sort": "reading", "q": site.rare_name},
        ),
        *(Scenario(f"contacts + q: {name}", CONTACTS, {"q": q}) for name, q in searched),
        *(
            Scenario(f"contacts + q: {name}, 5 per page", CONTACTS, {"q": q, "limit": SMALL_PAGE})
            for name, q in uncommon
        ),
    ]


def measure(
    sites: Sequence[Site], *, requests: int, warmup: int, only: Sequence[str] | None = None
) -> list[dict[str, float]]:
    """Each site's p50 per scenario (ms), its server started beside the others' (``only``:
    the scenarios whose name holds one of these texts, and /healthz)."""
    with contextlib.ExitStack() as stack:
        clients = []
        for site in sites:
            url, _pid = stack.enter_context(server_process(site.settings))
            client = stack.enter_context(
                httpx.Client(base_url=url, headers={"Authorization": f"Bearer {site.token}"})
            )
            chosen = [
                scenario
                for scenario in scenarios(site)
                if not only
                or scenario.name == "healthz"
                or any(text in scenario.name for text in only)
            ]
            clients.append((client, chosen))
        samples: list[dict[str, list[float]]] = [{} for _ in sites]
        for round_ in range(warmup + requests):
            for (client, scenario_list), timed in zip(clients, samples, strict=True):
                for scenario in scenario_list:
                    elapsed = timed_get(client, scenario)
                    if round_ >= warmup:
                        timed.setdefault(scenario.name, []).append(elapsed)
    return [{name: statistics.median(values) for name, values in s.items()} for s in samples]


def report(sites: Sequence[Site], p50s: Sequence[dict[str, float]], *, requests: int) -> str:
    lines = [
        "## The list and searches, side by side",
        "",
        f"{requests} timed requests per scenario and database, round-robin over both; p50 in ms, "
        f"and each database's against the first's (flat: ≤ {FLAT}).",
        "",
        "| request | " + " | ".join(site.label for site in sites) + " | ratio | flat? |",
        "|---|" + "---|" * (len(sites) + 2),
    ]
    # A scenario one database cannot have (no tags in its data) is left out for all.
    for name, first in p50s[0].items():
        if any(name not in p50 for p50 in p50s[1:]):
            continue
        ratio = max(p50[name] for p50 in p50s[1:]) / first if len(p50s) > 1 else 1.0
        cells = " | ".join(f"{p50[name]:.2f}" for p50 in p50s)
        lines.append(f"| {name} | {cells} | {ratio:.2f} | {'yes' if ratio <= FLAT else 'no'} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sizes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("databases", nargs="+", help="PostgreSQL URLs or SQLite data directories")
    parser.add_argument("--requests", type=positive, default=200, help="timed requests each")
    parser.add_argument("--warmup", type=non_negative, default=60, help="untimed rounds first")
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        help="measure only the scenarios whose name holds this text (repeatable; /healthz always)",
    )
    args = parser.parse_args(argv)
    sites: list[Site] = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            # One at a time: where a later database is refused, the tokens made so far are
            # revoked all the same.
            for n, database in enumerate(args.databases):
                sites.append(site_of(database, Path(scratch) / str(n)))
                sites[-1].settings.data_dir.mkdir(exist_ok=True)
            p50s = measure(sites, requests=args.requests, warmup=args.warmup, only=args.only)
        finally:
            for site in sites:
                revoke(site)
    sys.stdout.write(report(sites, p50s, requests=args.requests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
