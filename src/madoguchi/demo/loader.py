"""``madoguchi demo``: loads the salon's script (``script``) through the services, each run
with a clock turned back to when it happened."""

from __future__ import annotations

import contextlib
import random
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select

from madoguchi.automation import filters, macros, rules, templates
from madoguchi.broadcasts import segments, steps
from madoguchi.broadcasts import service as broadcasts
from madoguchi.channels.models import ChannelKind
from madoguchi.contacts import service as contacts
from madoguchi.conversations import scheduled, workflow
from madoguchi.conversations.models import (
    Message,
    MessageKind,
)
from madoguchi.crm import fields, marks, memos, records, tags
from madoguchi.demo.histories import ContactHistory, HistoryMessage, write_histories
from madoguchi.demo.salon import (
    CLOSED_WEEKDAY,
    OPENS,
    SALON_MEMBERS,
    default_status_ids,
    demo_channels,
    demo_fields,
    salon_zone,
    timeline,
)
from madoguchi.demo.script import (
    BOOKED_ACTION,
    BOOKED_TEMPLATE,
    BROADCASTS,
    CONVERSATION_TAGS,
    CUSTOMERS,
    FORMS,
    MESSAGE_FILTERS,
    POINTS_PER_VISIT,
    RECORD_BOOKS,
    RECORD_MENUS,
    RULES,
    SCRIPTS,
    SEGMENTS,
    SEQUENCES,
    STAFF_LABELS,
    SUPPORT_LOG,
    TAG_FOLDERS,
    TEMPLATES,
    TREATMENTS,
    VIP_ACTION,
    Customer,
    Visit,
)
from madoguchi.forms import service as forms
from madoguchi.kit.context import Ctx
from madoguchi.kit.security import new_password
from madoguchi.members import service as members
from madoguchi.members.models import Member


@dataclass(frozen=True)
class DemoResult:
    owner_email: str
    owner_password: str
    # Every member's e-mail and password, the owner's first.
    passwords: dict[str, str]
    contacts: int
    messages: int
    unread: int


def _customer_id(kind: str, name: str, rng: random.Random) -> str:
    """An id shaped like the channel's own (LINE user id, Instagram-scoped id, address…)."""
    match kind:
        case ChannelKind.line:
            return "U" + rng.randbytes(16).hex()
        case ChannelKind.instagram:
            return str(rng.randrange(10**16, 10**17))
        case ChannelKind.email:
            local = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())
            return f"{local or 'customer'}.{rng.randrange(1000, 9999)}@example.jp"
        case ChannelKind.web:
            return f"visitor-{rng.randbytes(8).hex()}"
        case _:
            return f"form-{rng.randbytes(6).hex()}"


def _new_customer_id(kind: str, name: str, rng: random.Random, taken: set[str]) -> str:
    """A customer id of the channel's shape that no other demo customer has: an address is
    one of 9,000 (customer.1000 to customer.9998 for a name without a Latin letter), and two
    customers drawn alike made the load fail on the contacts' unique (channel, id), about once
    in 1,500 loads. Drawn again until it is new (taken holds the ids of the channel's kind)."""
    while True:
        found = _customer_id(kind, name, rng)
        if found not in taken:
            taken.add(found)
            return found


def _message_id(kind: str, rng: random.Random) -> str:
    match kind:
        case ChannelKind.line:
            return str(rng.randrange(10**17, 10**18))
        case ChannelKind.instagram:
            return "mid." + rng.randbytes(12).hex()
        case ChannelKind.email:
            return f"<{rng.randbytes(10).hex()}@mail.example.jp>"
        case _:
            return rng.randbytes(10).hex()


class _Clock:
    """What ``ctx.now()`` answers while the demo is written: the time something happened (a
    visit, a close), or the real time when none is set."""

    def __init__(self, real: Callable[[], datetime]) -> None:
        self.real = real
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at if self.at is not None else self.real()

    @contextlib.contextmanager
    def set(self, at: datetime | None) -> Iterator[None]:
        previous, self.at = self.at, at
        try:
            yield
        finally:
            self.at = previous


@dataclass(frozen=True)
class _Workspace:
    """What the salon's settings hold, by name."""

    tags: dict[str, int]
    conversation_tags: dict[str, int]
    templates: dict[str, int]
    actions: dict[str, int]


async def _set_up_workspace(ctx: Ctx) -> _Workspace:
    """Tags in folders, profile fields in folders, record books, conversation tags, templates
    and actions, as the salon's owner would set them up in the settings."""
    tag_ids: dict[str, int] = {}
    for folder_name, names in TAG_FOLDERS:
        folder = await tags.create_folder(ctx, actor=None, name=folder_name)
        for name in names:
            tag_ids[name] = (await tags.create_tag(ctx, actor=None, name=name, folder=folder.id)).id
    await demo_fields(ctx)
    for name, book_fields in RECORD_BOOKS:
        await records.create_book(ctx, name=name, fields=book_fields)
    conversation_tags = {
        name: (await workflow.create_conversation_tag(ctx, name=name, color=color)).id
        for name, color in CONVERSATION_TAGS
    }
    template_ids = {
        name: (await templates.create_template(ctx, name=name, text=body, folder=folder)).id
        for folder, name, body in TEMPLATES
    }
    status_ids = await default_status_ids(ctx)
    action_steps: dict[str, list[dict[str, Any]]] = {
        VIP_ACTION: [
            {"type": "add_tags", "tag_ids": [tag_ids["VIP"]]},
            {"type": "set_status", "status": status_ids["対応中"]},
        ],
        BOOKED_ACTION: [
            {"type": "send_template", "template_id": template_ids[BOOKED_TEMPLATE]},
            {"type": "set_status", "status": status_ids["完了"]},
        ],
    }
    action_ids = {
        name: (await macros.create_action(ctx, name=name, steps=steps)).id
        for name, steps in action_steps.items()
    }
    for match, text in MESSAGE_FILTERS:
        await filters.create_filter(ctx, match=match, text=text)
    segment_ids = {
        name: (await segments.create_segment(ctx, name=name, conditions=conditions)).id
        for name, conditions in SEGMENTS
    }
    for segment, text, cron in BROADCASTS:
        await broadcasts.create_broadcast(
            ctx,
            new=broadcasts.NewBroadcast(segment_id=segment_ids[segment], text=text, cron=cron),
            actor=None,
        )
    book_ids = {book.name: book.id for book in await records.list_books(ctx.db)}
    for name, book, sequence_steps in SEQUENCES:
        await steps.create_sequence(
            ctx,
            name=name,
            trigger={"type": "record.added", "book": book_ids[book]},
            steps=[{"delay_seconds": days * 86400, "text": text} for days, text in sequence_steps],
        )
    for name, questions in FORMS:
        await forms.create_form(
            ctx, name=name, fields=[_with_tag_ids(q, tag_ids) for q in questions]
        )
    return _Workspace(
        tags=tag_ids,
        conversation_tags=conversation_tags,
        templates=template_ids,
        actions=action_ids,
    )


async def _set_up_rules(ctx: Ctx, workspace: _Workspace, staff: dict[str, Member]) -> None:
    """The demo's rules, naming the demo's members, tags and templates by their ids."""

    def with_ids(action: dict[str, Any]) -> dict[str, Any]:
        named = dict(action)
        if "member" in named:
            named["member_id"] = staff[named.pop("member")].id
        if "round_robin" in named:
            named["round_robin"] = [staff[key].id for key in named["round_robin"]]
        if "tag" in named:
            named["tag_id"] = workspace.tags[named.pop("tag")]
        if "template" in named:
            named["template_id"] = workspace.templates[named.pop("template")]
        return named

    for name, when, conditions, actions in RULES:
        await rules.create_rule(
            ctx,
            name=name,
            when=when,
            conditions=conditions,
            actions=[with_ids(action) for action in actions],
        )


def _with_tag_ids(question: dict[str, Any], tag_ids: dict[str, int]) -> dict[str, Any]:
    """A demo question whose ``tag:<name>`` names the tag by its id, as forms want it."""
    target = question.get("maps_to") or ""
    if target.startswith("tag:"):
        return {**question, "maps_to": f"tag:{tag_ids[target.removeprefix('tag:')]}"}
    return question


def _visit_day(visit: Visit, today: date) -> date:
    day = today - timedelta(days=visit.days_ago)
    # Older visits avoid the closed day; recent ones are where the conversations put them.
    if visit.days_ago >= 8 and day.weekday() == CLOSED_WEEKDAY:
        day -= timedelta(days=1)
    return day


def _visit_at(visit: Visit, today: date, zone: tzinfo) -> datetime:
    """In salon hours (11:00–18:30), varying with the day."""
    at = time(11 + visit.days_ago * 3 % 8, 30 if visit.days_ago % 2 else 0)
    return datetime.combine(_visit_day(visit, today), at, zone)


def _profile(customer: Customer, today: date) -> dict[str, Any]:
    """The customer's profile values: those given, and what their visits say."""
    values: dict[str, Any] = {}
    if customer.visits:
        newest = min(customer.visits, key=lambda visit: visit.days_ago)
        values = {
            "points": POINTS_PER_VISIT * len(customer.visits),
            "last_visit": _visit_day(newest, today).isoformat(),
            "stylist": STAFF_LABELS[newest.staff],
        }
    return {**values, **customer.fields}


@dataclass(frozen=True)
class _Furnishing:
    """One demo customer as written: who, in which conversation, by whom."""

    customer: Customer
    contact_id: int
    conversation_id: int
    # The time of their conversation's last message.
    last_at: datetime
    actor: Member


async def _furnish(
    ctx: Ctx,
    clock: _Clock,
    one: _Furnishing,
    *,
    staff: dict[str, Member],
    workspace: _Workspace,
    zone: tzinfo,
    now: datetime,
) -> None:
    """Everything the salon keeps about one customer, through the services, each at the time it
    would have happened: the profile just after the conversation's last message, records at
    their visits, the close after that; a snooze and a scheduled message now."""
    customer, contact_id, conversation_id = one.customer, one.contact_id, one.conversation_id
    today = now.astimezone(zone).date()
    # A few moments after the last message (and before now), in order.
    step = min(timedelta(minutes=1), (now - one.last_at) / 5)

    with clock.set(one.last_at + step):
        profile = _profile(customer, today)
        # The phone number is the contact's own (one 電話番号 on the page), not a profile field.
        phone = profile.pop("tel", None)
        if customer.status or customer.mark or phone:
            await contacts.update_contact(
                ctx,
                contact_id=contact_id,
                changes=contacts.ContactChanges(
                    status=customer.status,
                    set_status=customer.status is not None,
                    mark=customer.mark,
                    set_mark=customer.mark is not None,
                    phone=phone,
                    set_phone=phone is not None,
                ),
            )
        if customer.tags:
            await tags.set_tags(
                ctx,
                contact_id=contact_id,
                tag_ids=[workspace.tags[name] for name in customer.tags],
            )
        for key, value in profile.items():
            await fields.set_value(ctx, contact_id=contact_id, key=key, value=value)
        # Each new memo goes on top: the last one first.
        for title, body in reversed(customer.memos):
            await memos.create_memo(
                ctx, contact_id=contact_id, title=title, body=body, author=one.actor
            )
        if customer.memo and customer.closed_with is None:
            await workflow.set_memo(ctx, conversation_id=conversation_id, memo=customer.memo)
    for visit in customer.visits:
        at = _visit_at(visit, today, zone)
        price = RECORD_MENUS[visit.menu] if visit.price is None else visit.price
        with clock.set(min(at + timedelta(hours=2), now)):
            await records.create_record(
                ctx,
                contact_id=contact_id,
                book=TREATMENTS,
                at=at,
                values_={
                    "menu": visit.menu,
                    "staff": STAFF_LABELS[visit.staff],
                    "price": price,
                    "note": visit.note,
                },
                author=staff[visit.staff],
            )
    for log in customer.logs:
        at = datetime.combine(today - timedelta(days=log.days_ago), time(19, 30), zone)
        with clock.set(min(at, now)):
            await records.create_record(
                ctx,
                contact_id=contact_id,
                book=SUPPORT_LOG,
                at=at,
                values_={"note": log.note},
                author=staff[log.staff],
            )
    if customer.message_mark is not None:
        mark, beginning = customer.message_mark
        message_id = await ctx.db.scalar(
            select(Message.id)
            .where(
                Message.conversation_id == conversation_id,
                Message.kind == MessageKind.inbound,
                Message.text.startswith(beginning, autoescape=True),
            )
            .order_by(Message.id)
            .limit(1)
        )
        if message_id is None:
            raise ValueError(f"no message starting {beginning!r} to mark")
        await marks.mark_message(ctx, message_id=message_id, mark=mark)
    with clock.set(one.last_at + 2 * step):
        for key in customer.followers:
            member = staff[key]
            await workflow.follow(
                ctx, conversation_id=conversation_id, member_id=member.id, actor=member
            )
    if customer.closed_with is not None:
        with clock.set(one.last_at + 3 * step):
            await workflow.close(
                ctx,
                conversation_id=conversation_id,
                actor=one.actor,
                tag_ids=[workspace.conversation_tags[name] for name in customer.closed_with],
                memo=customer.memo or None,
            )
    tomorrow_morning = datetime.combine(today + timedelta(days=1), OPENS, zone)
    if customer.snoozed:
        await workflow.snooze(
            ctx, conversation_id=conversation_id, until=tomorrow_morning, actor=one.actor
        )
    if customer.scheduled:
        await scheduled.schedule(
            ctx,
            contact_id=contact_id,
            text=customer.scheduled,
            at=tomorrow_morning,
            author=one.actor,
        )


async def load_demo(ctx: Ctx) -> DemoResult:
    """A hair salon (ヘアサロン ルミエール): three members, five channels, thirty-one customers
    with their conversations, and what the salon keeps about them: statuses, marks, tags, profile
    fields, memos, visit and support records; closed, snoozed and assigned conversations,
    templates, actions and a scheduled message. One transaction: all of it, or nothing."""
    clock = _Clock(ctx.now)
    # The same session and bus, with a clock the demo can turn back.
    work = Ctx(db=ctx.db, bus=ctx.bus, settings=ctx.settings, clock=clock)
    now = ctx.now()
    async with work.atomic():
        staff: dict[str, Member] = {}
        passwords: dict[str, str] = {}
        for key, email, name, role in SALON_MEMBERS:
            password = new_password()
            staff[key] = await members.create_member(
                work, email=email, name=name, role=role, password=password
            )
            passwords[email] = password
        salon_channels = await demo_channels(work)
        # Fresh ids each load (they only need to be unique); the texts and times are fixed.
        rng = random.Random(secrets.randbits(64))
        zone = salon_zone(ctx)
        today = now.astimezone(zone).date()
        histories = []
        customer_ids: dict[str, set[str]] = {}
        for script in SCRIPTS:
            lines = script.steps()
            hour, minute = (int(part) for part in script.start.split(":"))
            times = timeline(
                first_day=today - timedelta(days=script.days_ago),
                start=time(hour, minute),
                steps=[(who != "c", delay) for who, delay, _ in lines],
                zone=zone,
                now=now,
            )
            messages = []
            for (who, _, body), at in zip(lines, times, strict=True):
                if who == "c":
                    external_id = _message_id(script.kind, rng)
                    messages.append(HistoryMessage.customer(body, at, external_id=external_id))
                    continue
                mark, _, member_key = who.partition(":")
                sender_id = staff[member_key].id
                messages.append(
                    HistoryMessage.staff(body, at, reply=mark == "r", sender_id=sender_id)
                )
            histories.append(
                ContactHistory(
                    channel=salon_channels[script.kind],
                    external_id=_new_customer_id(
                        script.kind,
                        script.channel_name,
                        rng,
                        customer_ids.setdefault(script.kind, set()),
                    ),
                    channel_name=script.channel_name,
                    display_name=script.display_name or script.channel_name,
                    messages=messages,
                    read=script.read,
                    assignee_id=staff[script.assignee].id if script.assignee else None,
                )
            )
        written = await write_histories(work, histories=histories, members=list(staff.values()))
        workspace = await _set_up_workspace(work)
        await _set_up_rules(work, workspace, staff)
        for script, history, contact_id, conversation_id in zip(
            SCRIPTS, histories, written.contact_ids, written.conversation_ids, strict=True
        ):
            customer = CUSTOMERS.get(script.name, Customer())
            one = _Furnishing(
                customer=customer,
                contact_id=contact_id,
                conversation_id=conversation_id,
                last_at=history.messages[-1].at,
                actor=staff[customer.by or script.assignee or "owner"],
            )
            await _furnish(work, clock, one, staff=staff, workspace=workspace, zone=zone, now=now)
    owner_email = SALON_MEMBERS[0][1]
    return DemoResult(
        owner_email=owner_email,
        owner_password=passwords[owner_email],
        passwords=passwords,
        contacts=written.contacts,
        messages=written.messages,
        unread=written.unread,
    )
