"""``madoguchi demo --scale N``: N contacts with histories made from ``pools``, fast."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from madoguchi import search
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.config import Settings
from madoguchi.contacts import reading as readings
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import (
    Conversation,
    ConversationTeamUnread,
    ConversationUnread,
    Message,
)
from madoguchi.crm import fields, marks, records, tags
from madoguchi.crm.models import (
    ContactTag,
    Field,
    FieldValue,
    Record,
    RecordBook,
    RecordSpan,
    Tag,
    TagFolder,
)
from madoguchi.demo.histories import (
    ContactHistory,
    HistoryMessage,
    HistoryRecord,
    HistoryValue,
    Written,
    write_histories,
)
from madoguchi.demo.pools import (
    CHANNEL_KIND_WEIGHTS,
    CHANNEL_KINDS,
    COLOURS,
    CUSTOMER_HOURS,
    DAYS,
    EMOJI,
    FLOWS,
    FOLLOW_UPS,
    GIVEN_NAMES,
    HOURS,
    MENUS,
    SCALE_BATCH,
    SCALE_BIRTH_YEARS,
    SCALE_BIRTHDAY_SHARE,
    SCALE_CRM_SEED,
    SCALE_DAYS,
    SCALE_GENDERS,
    SCALE_MARK_SHARE,
    SCALE_OTHER_TAGS,
    SCALE_PROFILE_SEED,
    SCALE_RANKS,
    SCALE_SEED,
    SCALE_STATUSES_READ,
    SCALE_STATUSES_UNREAD,
    SCALE_TAGS,
    SCALE_VISIT_COUNTS,
    SCALE_VISIT_DAYS,
    SCALE_VISIT_SHARE,
    SCALE_VISITS_SEED,
    SURNAME_WEIGHTS,
    SURNAMES,
    UNREAD_SHARE,
)
from madoguchi.demo.salon import (
    CLOSED_WEEKDAY,
    SALON_MEMBERS,
    Staff,
    default_status_ids,
    demo_channels,
    demo_fields,
    salon_zone,
    timeline,
)
from madoguchi.demo.script import RECORD_BOOKS, RECORD_MENUS, STAFF_LABELS, TREATMENTS
from madoguchi.events import InProcessBus
from madoguchi.kit.collector import collector_paused
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import Database, table_of
from madoguchi.kit.errors import Invalid
from madoguchi.kit.security import new_password
from madoguchi.members import service as members
from madoguchi.members.models import Member, Role
from madoguchi.notifications.models import Notification


@dataclass(frozen=True)
class ScaleResult:
    contacts: int
    messages: int
    unread: int
    # Members made because there were none: e-mail → password.
    new_members: dict[str, str] = field(default_factory=dict)


@dataclass
class _ScaleMaker:
    """Makes one contact's history at a time, from the pools above."""

    channels: dict[str, Channel]
    staff: list[Staff]
    zone: tzinfo
    now: datetime
    rng: random.Random
    # Makes this run's external ids differ from every earlier run's.
    salt: str
    # Statuses and tags by name, and the generator that picks them.
    status_ids: dict[str, int]
    tag_ids: dict[str, int]
    crm_rng: random.Random
    # The 施術履歴 book, and the generator of visits.
    book_id: int
    visit_rng: random.Random
    # The marks, the 性別 and 生年月日 fields, and the generator that picks them.
    mark_ids: tuple[int, ...]
    profile_fields: dict[str, Field]
    profile_rng: random.Random
    serial: int = 0

    def _mark(self) -> int | None:
        rng = self.profile_rng
        marked = rng.random() < SCALE_MARK_SHARE
        return rng.choice(self.mark_ids) if marked and self.mark_ids else None

    def _values(self) -> tuple[HistoryValue, ...]:
        """性別 for two in five (SCALE_GENDERS), 生年月日 for one in five."""
        rng, made = self.profile_rng, []
        roll = rng.random()
        for choice, share in SCALE_GENDERS:
            if roll < share:
                made.append(self._value("gender", choice))
                break
            roll -= share
        if rng.random() < SCALE_BIRTHDAY_SHARE:
            first, last = (date(year, 1, 1).toordinal() for year in SCALE_BIRTH_YEARS)
            made.append(self._value("birthday", date.fromordinal(rng.randrange(first, last))))
        return tuple(made)

    def _value(self, key: str, value: str | date) -> HistoryValue:
        field = self.profile_fields[key]
        return HistoryValue(field.id, fields.stored_columns(field, value))

    def _status(self, unread: bool) -> int | None:
        roll = self.crm_rng.random()
        for name, share in SCALE_STATUSES_UNREAD if unread else SCALE_STATUSES_READ:
            if roll < share:
                return self.status_ids[name]
            roll -= share
        return None

    def _tags(self) -> tuple[int, ...]:
        rng = self.crm_rng
        chosen = []
        roll = rng.random()
        for _folder, name, share in SCALE_RANKS:
            if roll < share:
                chosen.append(self.tag_ids[name])
                break
            roll -= share
        for _folder, name, share in SCALE_OTHER_TAGS:
            if rng.random() < share:
                chosen.append(self.tag_ids[name])
        return tuple(chosen)

    def _visits(self, person: Staff) -> tuple[HistoryRecord, ...]:
        """1 to 5 visits over the last two years, in salon hours, for most contacts."""
        rng = self.visit_rng
        if rng.random() >= SCALE_VISIT_SHARE:
            return ()
        counts, weights = zip(*SCALE_VISIT_COUNTS, strict=True)
        staff = person.short_name if person.short_name in STAFF_LABELS.values() else "店長"
        today = self.now.astimezone(self.zone).date()
        visits = []
        for _ in range(rng.choices(counts, weights)[0]):
            day = today - timedelta(days=rng.randrange(SCALE_VISIT_DAYS))
            at = datetime.combine(day, time(rng.randrange(11, 19), rng.choice((0, 30))), self.zone)
            while at.weekday() == CLOSED_WEEKDAY or at >= self.now:
                at -= timedelta(days=1)
            menu = rng.choice(list(RECORD_MENUS))
            visits.append(
                HistoryRecord(
                    book_id=self.book_id,
                    at=at.astimezone(UTC),
                    values={"menu": menu, "staff": staff, "price": RECORD_MENUS[menu]},
                    author_id=person.member.id,
                    written_at=min(at + timedelta(hours=2), self.now).astimezone(UTC),
                )
            )
        return tuple(sorted(visits, key=lambda visit: visit.at))

    def _channel_name(self, kind: str, surname: tuple[str, str], given: tuple[str, ...]) -> str:
        rng = self.rng
        kanji, kana, romaji = given
        roll = rng.random()
        match kind:
            case ChannelKind.line:
                if roll < 0.3:
                    return kana
                if roll < 0.5:
                    return kana + rng.choice(EMOJI)
                if roll < 0.7:
                    return romaji.capitalize()
                if roll < 0.85:
                    return f"{surname[0]} {kanji}"
                return f"{romaji}.{surname[1][0]}"
            case ChannelKind.instagram:
                if roll < 0.4:
                    return f"{romaji}_{rng.randrange(100, 10000)}"
                if roll < 0.7:
                    return f"{romaji}.{surname[1]}"
                suffix = rng.choice(("__", "_hair", ".m", "_0"))
                return f"{romaji}{suffix}{rng.randrange(1, 100)}"
            case ChannelKind.web if roll < 0.5:
                return f"ゲスト {rng.randrange(1000, 10000)}"
            case _:
                return f"{surname[0]} {kanji}"

    def _external_id(self, kind: str) -> str:
        """A new id of this kind: the run's salt, then a serial. Ids a run makes follow each
        other, as a channel's own do over time: each is written at the end of the unique
        indexes of (channel, external id). Random ids went anywhere in those indexes; at a
        million contacts the messages' index outgrew PostgreSQL's buffers, and each page it
        touched was written whole to the WAL again after every checkpoint (docs/benchmarks.md:
        a third of the WAL's bytes)."""
        self.serial += 1
        digest = f"{self.salt}{self.serial:016x}"
        match kind:
            case ChannelKind.line:
                return "U" + digest
            case ChannelKind.instagram:
                return str(int(f"{self.salt[:8]}{self.serial:08x}", 16))
            case ChannelKind.email:
                return f"customer.{digest}@example.jp"
            case ChannelKind.web:
                return f"visitor-{digest}"
            case _:
                return digest

    def _steps(self, unread: bool) -> list[tuple[str, str]]:
        """(who, pattern) for 3 to 12 messages; an unread one ends with the customer's."""
        rng = self.rng
        steps: list[tuple[str, str]] = []
        for flow in rng.sample(FLOWS, rng.choice((1, 1, 2, 2, 3))):
            for who, variants in flow:
                if who == "n" and rng.random() < 0.5:
                    continue
                steps.append((who, rng.choice(variants)))
        steps = steps[:12]
        if unread:
            # Cut after the last reply, then the customer writes again.
            while steps[-1][0] != "r" and len(steps) > 2:
                steps.pop()
            steps = [*steps[:11], ("c", rng.choice(FOLLOW_UPS))]
        elif len(steps) < 3:
            steps.append(("c", "ありがとうございます！"))
        return steps

    def _delay(self, who: str, previous: str) -> int:
        """Minutes between two messages."""
        if who == "c":
            return self.rng.randrange(0, 5) if previous == "c" else self.rng.randrange(2, 240)
        return self.rng.randrange(1, 30) if who == "n" else self.rng.randrange(3, 180)

    def history(self) -> ContactHistory:
        rng = self.rng
        kind = rng.choices(CHANNEL_KINDS, CHANNEL_KIND_WEIGHTS)[0]
        surname = rng.choices(SURNAMES, SURNAME_WEIGHTS)[0]
        given = rng.choice(GIVEN_NAMES)
        channel_name = self._channel_name(kind, (surname[0], surname[1]), tuple(given))
        person = rng.choice(self.staff)
        # Notes come from a colleague (the owner, first) telling the person in charge.
        colleague = next((s for s in self.staff if s is not person), person)
        unread = rng.random() < UNREAD_SHARE
        steps = self._steps(unread)
        whos = [who for who, _ in steps]
        # The salon's 【担当者】顧客氏名 display name, for customers someone is in charge of.
        in_charge = "n" in whos or rng.random() < 0.45
        display_name = (
            f"【{person.short_name}】{surname[0]} {given[0]}" if in_charge else channel_name
        )
        menu, price = rng.choice(MENUS)
        words = {
            "sama": f"{surname[0]}様",
            "staff": person.short_name,
            "day": rng.choice(DAYS),
            "hour": rng.choice(HOURS),
            "menu": menu,
            "price": price,
            "colour": rng.choice(COLOURS),
            "points": str(rng.randrange(1, 10)),
        }
        first_day = (self.now - timedelta(days=rng.random() * SCALE_DAYS)).astimezone(self.zone)
        times = timeline(
            first_day=first_day.date(),
            start=time(rng.choice(CUSTOMER_HOURS), rng.randrange(60)),
            steps=[
                (who != "c", self._delay(who, whos[index - 1]) if index else 0)
                for index, who in enumerate(whos)
            ],
            zone=self.zone,
            now=self.now,
        )
        messages = []
        for (who, pattern), at in zip(steps, times, strict=True):
            body = pattern.format_map(words)
            if who == "c":
                external_id = self._external_id("message")
                messages.append(HistoryMessage.customer(body, at, external_id=external_id))
                continue
            sender_id = (person if who == "r" else colleague).member.id
            messages.append(HistoryMessage.staff(body, at, reply=who == "r", sender_id=sender_id))
        return ContactHistory(
            channel=self.channels[kind],
            external_id=self._external_id(kind),
            channel_name=channel_name,
            display_name=display_name,
            messages=messages,
            read=not unread,
            assignee_id=person.member.id if in_charge else None,
            status_id=self._status(unread),
            tag_ids=self._tags(),
            records=self._visits(person),
            mark_id=self._mark(),
            values=self._values(),
        )


def _short_name(member: Member) -> str:
    """店長 for the owner, else the given name (the last word of the name)."""
    return "店長" if member.role == Role.owner else member.name.split()[-1]


async def _scale_tag_ids(ctx: Ctx) -> dict[str, int]:
    """The scale's tags by name: those in their folders already (the demo's), else new ones."""
    found: dict[str, int] = {}
    for folder, name in SCALE_TAGS:
        tag_id = await ctx.db.scalar(
            select(Tag.id)
            .join(TagFolder, TagFolder.id == Tag.folder_id)
            .where(Tag.name == name, TagFolder.name == folder, TagFolder.parent_id.is_(None))
            .order_by(Tag.id)
            .limit(1)
        )
        if tag_id is None:
            tag_id = (await tags.create_tag(ctx, actor=None, name=name, folder=folder)).id
        found[name] = tag_id
    return found


async def _treatments_book_id(ctx: Ctx) -> int:
    """The salon's 施術履歴 book: the demo's, else a new one with the same fields."""
    found = await ctx.db.scalar(select(RecordBook.id).where(RecordBook.name == TREATMENTS))
    if found is not None:
        return int(found)
    fields = dict(RECORD_BOOKS)[TREATMENTS]
    return (await records.create_book(ctx, name=TREATMENTS, fields=fields)).id


def _sum(made: Written, written: Written) -> Written:
    return Written(
        contacts=made.contacts + written.contacts,
        messages=made.messages + written.messages,
        unread=made.unread + written.unread,
    )


# PostgreSQL: batches written at once, each writer in a transaction of its own. While one
# writer waits for the server (most of a batch's time goes to its indexes), the next batch is
# made here: both CPUs work. SQLite has one writer at a time anyway.
SCALE_WRITERS = 2


async def _write_side_by_side(
    ctx: Ctx,
    batches: Iterator[list[ContactHistory]],
    members: list[Member],
    written: Callable[[], None],
) -> Written:
    sessions = async_sessionmaker(ctx.db.bind, expire_on_commit=False)
    queue: asyncio.Queue[list[ContactHistory] | None] = asyncio.Queue(maxsize=1)
    made: list[Written] = []
    unchecked = await _may_skip_checks(ctx)

    async def write() -> None:
        async with sessions() as session:
            writer = Ctx(
                db=session,
                bus=ctx.bus,
                settings=ctx.settings,
                clock=ctx.clock,
                actor=ctx.actor,
            )
            while (batch := await queue.get()) is not None:
                await search.bulk_transaction(session)
                if unchecked:
                    await session.execute(_SKIP_CHECKS)
                made.append(await write_histories(writer, histories=batch, members=members))
                await writer.commit()
                written()

    async def make() -> None:
        for batch in batches:
            await queue.put(batch)
        for _ in range(SCALE_WRITERS):
            await queue.put(None)

    # A writer's failure cancels the others and the maker.
    async with asyncio.TaskGroup() as group:
        for _ in range(SCALE_WRITERS):
            group.create_task(write())
        group.create_task(make())
    return functools.reduce(_sum, made, Written(contacts=0, messages=0, unread=0))


# PostgreSQL checks each row a writer adds against the rows it refers to, one statement per
# reference (a contact's ~36 took 15 % of the server's time loading a million). The loader's
# rows refer only to rows it made or found before them, so where its role may (a superuser's,
# as with pg_restore --disable-triggers, or one granted SET on session_replication_role from
# PostgreSQL 15 on) its own transactions skip those checks; every reference is checked after
# a load in the tests. Another role's load checks them as before.
_SKIP_CHECKS = text("SELECT set_config('session_replication_role', 'replica', true)")
_SUPERUSER = text(
    "SELECT current_setting('is_superuser') = 'on', current_setting('server_version_num')::int"
)
_MAY_SET = text("SELECT has_parameter_privilege('session_replication_role', 'SET')")


async def _may_skip_checks(ctx: Ctx) -> bool:
    superuser, version = (await ctx.db.execute(_SUPERUSER)).one()
    if superuser or version < 150_000:  # before 15, a superuser's alone
        return bool(superuser)
    return bool((await ctx.db.execute(_MAY_SET)).scalar_one())


# PostgreSQL: from this many contacts on, processes of their own make and write shares of them
# beside this one. A million contacts took more Python than one process has (727 CPU-seconds,
# the server waiting on it: issue 14); ids come from the tables' sequences, so shares never
# collide. SQLite has one writer at a time anyway.
SCALE_PARALLEL_FROM = 50_000


def scale_processes(ctx: Ctx, contacts: int) -> int:
    """How many processes ``load_scale`` uses by default."""
    if ctx.dialect != "postgresql" or contacts < SCALE_PARALLEL_FROM:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


async def _maker(ctx: Ctx, active: list[Member], *, part: int) -> _ScaleMaker:
    """The maker of one share: the first share's generators are the ones a single process
    uses; each other share has its own (and every maker its own salt)."""
    return _ScaleMaker(
        channels=await demo_channels(ctx),
        staff=[Staff(member=member, short_name=_short_name(member)) for member in active],
        zone=salon_zone(ctx),
        now=ctx.now(),
        rng=random.Random(SCALE_SEED + part),
        salt=secrets.token_hex(8),
        status_ids=await default_status_ids(ctx),
        tag_ids=await _scale_tag_ids(ctx),
        crm_rng=random.Random(SCALE_CRM_SEED + part),
        book_id=await _treatments_book_id(ctx),
        visit_rng=random.Random(SCALE_VISITS_SEED + part),
        mark_ids=tuple(mark.id for mark in await marks.list_marks(ctx.db)),
        profile_fields=await demo_fields(ctx, keys=("gender", "birthday")),
        profile_rng=random.Random(SCALE_PROFILE_SEED + part),
    )


# Batches written between two collections of cyclic garbage while a share loads: the
# automatic collector is off meanwhile (kit.collector), its full walks of the batches' rows
# and of the reading dictionary having taken a third of a loading process's Python. Each
# batch leaves some garbage in cycles: collected every five, the largest process held 840 MB
# loading 300,000 contacts (770 with the collector on; every twenty, 1,110).
SCALE_COLLECT_EVERY = 5


async def _load_share(ctx: Ctx, maker: _ScaleMaker, contacts: int, active: list[Member]) -> Written:
    batches = (
        [maker.history() for _ in range(min(SCALE_BATCH, contacts - start))]
        for start in range(0, contacts, SCALE_BATCH)
    )
    readings.warm()  # loaded before the collector leaves what is there out of its walks
    with collector_paused(SCALE_COLLECT_EVERY) as written:
        if ctx.dialect == "postgresql":
            return await _write_side_by_side(ctx, batches, active, written)
        made = Written(contacts=0, messages=0, unread=0)
        for batch in batches:
            made = _sum(made, await write_histories(ctx, histories=batch, members=active))
            await ctx.commit()
            written()
        return made


@dataclass
class _Helper:
    """A process of its own loading one share (its answer: what it wrote, or why not)."""

    process: multiprocessing.process.BaseProcess | None
    answers: multiprocessing.connection.Connection | None

    @classmethod
    def start(cls, settings: Settings, contacts: int, part: int) -> _Helper:
        if not part:
            return cls(None, None)  # the first share is the caller's own
        spawn = multiprocessing.get_context("spawn")
        mine, theirs = spawn.Pipe(duplex=False)
        process = spawn.Process(
            target=_share_main, args=(settings, contacts, part, theirs), daemon=True
        )
        process.start()
        theirs.close()
        return cls(process, mine)

    async def result(self) -> Written:
        assert self.process is not None and self.answers is not None
        answers = self.answers
        answer = await asyncio.to_thread(lambda: answers.recv() if answers.poll(None) else None)
        await asyncio.to_thread(self.process.join)
        if not isinstance(answer, Written):
            raise RuntimeError(f"A loading process stopped: {answer}")
        return answer

    def stop(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join(10)


def _share_main(
    settings: Settings, contacts: int, part: int, answers: multiprocessing.connection.Connection
) -> None:
    """A helper process: its share loaded, and what it wrote (or its error) sent back."""
    try:
        answers.send(asyncio.run(_share(settings, contacts, part)))
    except BaseException as error:
        answers.send(f"{type(error).__name__}: {error}")
        raise


async def _share(settings: Settings, contacts: int, part: int) -> Written:
    database = Database(settings.sqlalchemy_url)
    try:
        async with database.write_sessions() as session:
            ctx = Ctx(db=session, bus=InProcessBus(), settings=settings)
            active = list(
                await session.scalars(
                    select(Member).where(Member.active.is_(True)).order_by(Member.id)
                )
            )
            maker = await _maker(ctx, active, part=part)
            await ctx.commit()
            return await _load_share(ctx, maker, contacts, active)
    finally:
        await database.dispose()


# Tables the inbox reads by index-only scans: COPY leaves their pages unmarked in the
# visibility map, so until a VACUUM such a scan visits the table for every row. With the
# conversations' search entries (their keys and signatures walked newest first): a day's last
# visits at a million took 1.6 times a thousand's, a search's walk 1.2 times, with these left
# to autovacuum (off on this project's CI server), 1.0-1.2 vacuumed (3.8 s more at a million).
SCALE_VACUUMED = (Contact, ContactTag, Conversation, Record, RecordSpan, FieldValue)
# Rows written once, whose statistics plans need.
SCALE_ANALYZED = (
    Message,
    ConversationUnread,
    ConversationTeamUnread,
    Notification,
)


async def _tidy(ctx: Ctx) -> None:
    """PostgreSQL after a load: the tables index-only scans read vacuumed (their pages marked
    all-visible) and every table's statistics gathered. Autovacuum would do both, but only
    later, and not at all where it is off: until then an index-only scan visits the table for
    each row (the inbox filtered by a tag and a status, 9.8 -> 7.8 ms at a million contacts),
    and a plan made without statistics walks the wrong index. VACUUM cannot run in a
    transaction: on a connection of its own."""
    vacuumed = ", ".join(
        [*(table_of(model).name for model in SCALE_VACUUMED), search.CONVERSATIONS]
    )
    analyzed = [table_of(model).name for model in SCALE_ANALYZED]
    analyzed += [search.CONTACTS.name, search.MESSAGES.name]
    engine = ctx.db.bind
    assert isinstance(engine, AsyncEngine)
    async with engine.connect() as connection:
        own = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await own.execute(text(f"VACUUM (ANALYZE) {vacuumed}"))
        await own.execute(text(f"ANALYZE {', '.join(analyzed)}"))


async def load_scale(ctx: Ctx, *, contacts: int, processes: int | None = None) -> ScaleResult:
    """``contacts`` contacts with 3–12 message conversations over the last year, about 30%
    unread, about 80% with a status (未対応 for most unread ones, 完了 for most others) and tags
    (顧客ランク VIP 5%, 常連 35%, 新規 15%; Instagram 20%; くせ毛 25%), about 70% with 1–5
    visits (施術履歴 records) over the last two years, written in batches (each committed).
    Adds to what the database already holds. On PostgreSQL ``processes`` share the work
    (``scale_processes`` by default); the first share is this process's, made as one process
    alone would make it."""
    if contacts < 1:
        raise Invalid("Make at least one contact.")
    active = list(
        await ctx.db.scalars(select(Member).where(Member.active.is_(True)).order_by(Member.id))
    )
    new_members: dict[str, str] = {}
    if not active:
        for key, _email, name, role in SALON_MEMBERS:
            email, password = f"{key}.scale@example.com", new_password()
            active.append(
                await members.create_member(
                    ctx, email=email, name=name, role=role, password=password
                )
            )
            new_members[email] = password
    if processes is None:
        processes = scale_processes(ctx, contacts)
    if ctx.dialect != "postgresql":
        processes = 1
    shares = [contacts // processes + (part < contacts % processes) for part in range(processes)]
    # Made here first: the channels, tags and book the other processes find.
    maker = await _maker(ctx, active, part=0)
    async with search.bulk_loading(ctx.db):
        helpers = [_Helper.start(ctx.settings, share, part) for part, share in enumerate(shares)]
        try:
            made = await _load_share(ctx, maker, shares[0], active)
            for helper in helpers[1:]:
                made = _sum(made, await helper.result())
        finally:
            for helper in helpers[1:]:
                helper.stop()
    if ctx.dialect == "postgresql":
        await _tidy(ctx)
    return ScaleResult(
        contacts=made.contacts,
        messages=made.messages,
        unread=made.unread,
        new_members=new_members,
    )
