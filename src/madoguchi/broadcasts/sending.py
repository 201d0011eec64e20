"""The worker's part of broadcasts: fire what is due, then send its deliveries in batches.

Firing writes the occurrence and one delivery row per contact of the segment in one
``INSERT … SELECT`` (skipped rows say why: blocked, hidden, no channel, not opted in), and
moves the broadcast to its next time, in one transaction: a restart fires it again or not at
all. A delivery row is unique per (occurrence, contact), and each batch is claimed with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (the one writer on SQLite), so no two processes take
the same rows.

Each contact's message is a reply recorded in their conversation (the latest on their channel,
or on the broadcast's e-mail channel; a new one if there is none) through the one writer of
messages, in bulk. LINE replies are sent here: one multicast call per batch (≤ 500 users) when
the text is the same for all, a push per contact when it is personalised, each call with a
retry key kept on the rows, so a batch claimed again after a crash is dropped by LINE as a
repeat (409). Every other channel's replies, e-mail included, go through the outbox with its
retries; a mail carries the one-click unsubscribe link and headers.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Integer, bindparam, case, func, insert, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.automation.models import Template
from madoguchi.automation.templates import STAFF_PREFIX
from madoguchi.broadcasts import segments
from madoguchi.broadcasts.models import (
    Broadcast,
    BroadcastDelivery,
    BroadcastOccurrence,
    BroadcastStatus,
    DeliveryStatus,
    Segment,
    Via,
)
from madoguchi.broadcasts.service import (
    BUILT_IN,
    PLACEHOLDER,
    SKIP_BLOCKED,
    SKIP_CHANNEL_OFF,
    SKIP_HIDDEN,
    SKIP_NO_CHANNEL,
    SKIP_NO_EMAIL,
    SKIP_NOT_OPTED_IN,
    SKIP_REPLY_WINDOW,
    next_time,
    personalised,
    zone_of,
)
from madoguchi.channels import service as channels
from madoguchi.channels.base import DeliveryError, api_base, http_client, printable
from madoguchi.channels.models import Channel, ChannelKind, OutboxEntry, OutboxState
from madoguchi.channels.outbox import CtxFactory, new_retry_key
from madoguchi.contacts.models import Contact
from madoguchi.conversations import recording
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import Conversation, Delivery, Message, MessageKind
from madoguchi.crm import fields as crm_fields
from madoguchi.crm.models import Field, Record
from madoguchi.events.types import (
    BroadcastChanged,
    Event,
    MessageCreated,
    MessageUpdated,
)
from madoguchi.forms.links import FormLinks
from madoguchi.forms.links import prepare as prepare_links
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import insert_into, reserve_ids, table_of
from madoguchi.kit.errors import DomainError
from madoguchi.kit.i18n import N_, gettext_for
from madoguchi.workspace import service as workspace

log = logging.getLogger(__name__)

# LINE's multicast takes up to 500 user ids a call.
BATCH = 500
# A claimed LINE batch is a lease: a process that dies mid-call leaves it to be sent again
# (with the same retry key) after this.
LEASE = timedelta(minutes=5)
# Seconds to wait after each failed LINE attempt that may work later; then it is failed.
BACKOFF = (5, 30, 120, 600)
UNSUBSCRIBE_PATH = "/unsubscribe"


# --- firing -----------------------------------------------------------------------------------


async def fire_due(ctx: Ctx, *, now: datetime, limit: int = 10) -> int:
    """Fire the broadcasts whose time has come (the worker calls this); answers how many."""
    fired = 0
    for _ in range(limit):
        broadcast = await ctx.db.scalar(
            select(Broadcast)
            .where(
                Broadcast.status.in_((BroadcastStatus.scheduled, BroadcastStatus.sending)),
                Broadcast.next_run_at <= now,
            )
            .order_by(Broadcast.next_run_at, Broadcast.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if broadcast is None:
            await ctx.db.rollback()
            break
        await _fire(ctx, broadcast, now)
        fired += 1
    return fired


def _skips(via: str) -> list[tuple[Any, str]]:
    """(condition, reason) in order: the first that holds is why a contact is skipped."""
    common = [(Contact.blocked.is_(True), SKIP_BLOCKED), (Contact.hidden.is_(True), SKIP_HIDDEN)]
    if via == Via.email:
        return [
            *common,
            (Contact.mail_opt_in.is_not(True), SKIP_NOT_OPTED_IN),
            (or_(Contact.email.is_(None), Contact.email == ""), SKIP_NO_EMAIL),
        ]
    return [*common, (Contact.channel_id.is_(None), SKIP_NO_CHANNEL)]


async def _fire(ctx: Ctx, broadcast: Broadcast, now: datetime) -> None:
    due = broadcast.next_run_at
    assert due is not None
    segment = await ctx.db.get(Segment, broadcast.segment_id) if broadcast.segment_id else None
    try:
        if segment is None:
            raise DomainError("The segment was deleted.")
        where = await segments.where_of(
            ctx.db, segment.conditions, timezone=ctx.settings.timezone, now=now
        )
    except DomainError as error:
        # Its segment was deleted or no longer makes sense: it waits for someone to look.
        log.warning("broadcast %s paused: %s", broadcast.id, error)
        broadcast.status = BroadcastStatus.paused
        broadcast.updated_at = now
        await ctx.commit(BroadcastChanged(broadcast_id=broadcast.id))
        return
    occurrence = BroadcastOccurrence(broadcast_id=broadcast.id, due_at=due, planned_at=now)
    ctx.db.add(occurrence)
    await ctx.db.flush()
    skips = _skips(broadcast.via)
    status = case(
        *((condition, literal(DeliveryStatus.skipped)) for condition, _ in skips),
        else_=literal(DeliveryStatus.pending),
    )
    detail = case(*((condition, literal(reason)) for condition, reason in skips), else_="")
    rows = select(
        literal(occurrence.id, Integer),
        Contact.id,
        status.label("status"),
        detail.label("detail"),
        literal(0, Integer),
    ).where(*where)
    await ctx.db.execute(
        insert(BroadcastDelivery).from_select(
            ["occurrence_id", "contact_id", "status", "detail", "attempts"], rows
        )
    )
    if broadcast.cron is not None:
        # Missed times (the server was off) are not made up: the next is after now.
        broadcast.next_run_at = next_time(
            broadcast.cron, zone_of(broadcast.timezone), max(due, now)
        )
    else:
        broadcast.next_run_at = None
    broadcast.status = BroadcastStatus.sending
    broadcast.updated_at = now
    await _finish(ctx, broadcast, now)
    await ctx.commit(BroadcastChanged(broadcast_id=broadcast.id))


async def _finish(ctx: Ctx, broadcast: Broadcast, now: datetime) -> None:
    """Close the occurrences with nothing left to send; the broadcast is done (a one-off) or
    waits for its next time once none is open."""
    open_rows = (
        select(BroadcastDelivery.occurrence_id)
        .where(BroadcastDelivery.status.in_((DeliveryStatus.pending, DeliveryStatus.sending)))
        .distinct()
    )
    occurrences = list(
        await ctx.db.scalars(
            select(BroadcastOccurrence).where(
                BroadcastOccurrence.broadcast_id == broadcast.id,
                BroadcastOccurrence.finished_at.is_(None),
            )
        )
    )
    still_open = set(
        await ctx.db.scalars(
            open_rows.where(BroadcastDelivery.occurrence_id.in_([o.id for o in occurrences]))
        )
    )
    for occurrence in occurrences:
        if occurrence.id not in still_open:
            occurrence.finished_at = now
    if not still_open and broadcast.status == BroadcastStatus.sending:
        broadcast.status = (
            BroadcastStatus.scheduled if broadcast.next_run_at else BroadcastStatus.done
        )


# --- filling in -------------------------------------------------------------------------------


@dataclass
class _Fill:
    """What a batch's texts need: the profile values and last visits of its contacts."""

    text: str
    field_keys: set[str]
    values: dict[int, dict[str, Any]] = field(default_factory=dict)
    last_visit: dict[int, datetime] = field(default_factory=dict)
    form_links: FormLinks = field(default_factory=lambda: FormLinks(base_url=""))


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


def fill(fill: _Fill, contact: Contact, *, zone: ZoneInfo, now: datetime) -> str:
    """The text for one contact: {{name}} (the display name without a 【担当者】 prefix),
    {{channel_name}}, {{days_since_last_visit}}, each profile field by its key, and
    {{form:<id>}}, the contact's own link to that form (forms.links; filled first, so that no
    value of theirs can turn into a link)."""

    def value(match: re.Match[str]) -> str:
        double, single = match.group(1), match.group(2)
        name = double if double is not None else single
        if name == "name":
            return STAFF_PREFIX.sub("", contact.display_name) or contact.display_name
        if name == "channel_name":
            return contact.channel_name
        if name == "staff" and double is None:
            return ""  # a template's {staff}: no member sends a broadcast
        if name == "days_since_last_visit":
            last = fill.last_visit.get(contact.id)
            return (
                ""
                if last is None
                else str((now.astimezone(zone).date() - last.astimezone(zone).date()).days)
            )
        if name in fill.field_keys:
            return _shown(fill.values.get(contact.id, {}).get(name))
        return match.group(0)

    return PLACEHOLDER.sub(value, fill.form_links.fill(fill.text, contact.id))


async def _filler(db: AsyncSession, text: str, contact_ids: list[int], base_url: str) -> _Fill:
    keys = set(await db.scalars(select(Field.key)))
    filler = _Fill(
        text=text, field_keys=keys, form_links=await prepare_links(db, text, base_url=base_url)
    )
    named = {m.group(1) or m.group(2) for m in PLACEHOLDER.finditer(text)}
    if named & keys:
        filler.values = await crm_fields.contact_values(db, contact_ids=contact_ids)
    if "days_since_last_visit" in named:
        rows = await db.execute(
            select(Record.contact_id, func.max(Record.at))
            .where(Record.contact_id.in_(contact_ids))
            .group_by(Record.contact_id)
        )
        filler.last_visit = {contact_id: at for contact_id, at in rows if at is not None}
    assert BUILT_IN  # the names fill() knows besides the fields
    return filler


async def fill_one(
    db: AsyncSession, text: str, contact: Contact, *, zone: ZoneInfo, now: datetime, base_url: str
) -> str:
    """One contact's text, filled in as a broadcast's (a step sequence's message)."""
    return fill(await _filler(db, text, [contact.id], base_url), contact, zone=zone, now=now)


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _LineSend:
    """One LINE call to make: the same text to these users (a multicast when more than one)."""

    channel: Channel
    retry_key: str
    text: str
    delivery_ids: list[int]
    message_ids: list[int]
    user_ids: list[str]
    attempts: int


async def send_due(
    new_ctx: CtxFactory,
    *,
    now: datetime,
    clock: Callable[[], datetime],
    limit: int = 20,
) -> int:
    """Send what fired: claim a batch and record its messages (one transaction), make the LINE
    calls (none open), record what they answered. Answers how many deliveries went out."""
    offset = now - clock()
    sent = 0
    for _ in range(limit):
        async with new_ctx() as ctx:
            sends = await _claim(ctx, clock() + offset)
        if sends is None:
            break
        for send in sends:
            error = await _call_line(send)
            async with new_ctx() as ctx:
                sent += await _record(ctx, send, clock() + offset, error)
    async with new_ctx() as ctx:
        await _finish_all(ctx, clock() + offset)
    return sent


async def _finish_all(ctx: Ctx, now: datetime) -> None:
    sending = list(
        await ctx.db.scalars(
            select(Broadcast)
            .where(Broadcast.status == BroadcastStatus.sending)
            .with_for_update(skip_locked=True)
        )
    )
    events: list[Event] = []
    for broadcast in sending:
        await _finish(ctx, broadcast, now)
        if broadcast.status != BroadcastStatus.sending:
            events.append(BroadcastChanged(broadcast_id=broadcast.id))
    await ctx.commit(*events)


def _claimable(now: datetime) -> Any:
    return or_(
        BroadcastDelivery.status == DeliveryStatus.pending,
        (BroadcastDelivery.status == DeliveryStatus.sending)
        & (BroadcastDelivery.locked_until < now),
    )


async def _claim(ctx: Ctx, now: datetime) -> list[_LineSend] | None:
    """Claim up to a batch of one occurrence's deliveries and record their messages; answers
    the LINE calls to make (None: nothing to claim)."""
    occurrence_id = await ctx.db.scalar(
        select(BroadcastDelivery.occurrence_id)
        .join(BroadcastOccurrence, BroadcastOccurrence.id == BroadcastDelivery.occurrence_id)
        .join(Broadcast, Broadcast.id == BroadcastOccurrence.broadcast_id)
        .where(Broadcast.status == BroadcastStatus.sending, _claimable(now))
        .order_by(BroadcastDelivery.id)
        .limit(1)
    )
    if occurrence_id is None:
        await ctx.db.rollback()
        return None
    rows = list(
        await ctx.db.scalars(
            select(BroadcastDelivery)
            .where(BroadcastDelivery.occurrence_id == occurrence_id, _claimable(now))
            .order_by(BroadcastDelivery.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    occurrence = await ctx.db.get(BroadcastOccurrence, occurrence_id)
    assert occurrence is not None
    broadcast = await ctx.db.get(Broadcast, occurrence.broadcast_id)
    assert broadcast is not None
    if not rows or broadcast.status != BroadcastStatus.sending:
        await ctx.db.rollback()
        return []  # another process has them; look again
    broadcast_id = broadcast.id
    again = [row for row in rows if row.status == DeliveryStatus.sending]
    new = [row for row in rows if row.status == DeliveryStatus.pending]
    events: list[Event] = []
    sends = await _resends(ctx, again, now)
    if new:
        created, new_events = await _prepare(ctx, broadcast, new, now)
        sends += created
        events += new_events
    await ctx.commit(*events, BroadcastChanged(broadcast_id=broadcast_id))
    return sends


async def _resends(ctx: Ctx, rows: Sequence[BroadcastDelivery], now: datetime) -> list[_LineSend]:
    """Rows claimed before whose lease ran out (a crash mid-call, or a retry): the same call
    again, with the same retry key, so LINE drops it if it went out the first time."""
    if not rows:
        return []
    messages = {
        m.id: m
        for m in await ctx.db.scalars(
            select(Message).where(Message.id.in_([r.message_id for r in rows if r.message_id]))
        )
    }
    contacts = {
        c.id: c
        for c in await ctx.db.scalars(
            select(Contact).where(Contact.id.in_([r.contact_id for r in rows]))
        )
    }
    groups: dict[str, list[BroadcastDelivery]] = defaultdict(list)
    for row in rows:
        row.attempts += 1
        row.locked_until = now + LEASE
        groups[row.retry_key or ""].append(row)
    sends = []
    for retry_key, group in groups.items():
        first = messages.get(group[0].message_id or 0)
        channel = await ctx.db.get(Channel, first.channel_id) if first else None
        if first is None or channel is None or not retry_key:
            for row in group:
                row.status, row.detail, row.locked_until = (
                    DeliveryStatus.failed,
                    N_("The message was deleted."),
                    None,
                )
            continue
        sends.append(
            _LineSend(
                channel=channel,
                retry_key=retry_key,
                text=first.text,
                delivery_ids=[row.id for row in group],
                message_ids=[row.message_id for row in group if row.message_id],
                user_ids=[contacts[row.contact_id].external_id or "" for row in group],
                attempts=max(row.attempts for row in group),
            )
        )
    return sends


def _sent_by_us(channel: Channel) -> bool:
    """Replies this module sends itself (LINE's multicast); the outbox sends the others."""
    return channel.kind == ChannelKind.line and not channel.settings.get("demo")


async def _prepare(
    ctx: Ctx, broadcast: Broadcast, rows: Sequence[BroadcastDelivery], now: datetime
) -> tuple[list[_LineSend], list[Event]]:
    contacts = {
        c.id: c
        for c in await ctx.db.scalars(
            select(Contact).where(Contact.id.in_([r.contact_id for r in rows]))
        )
    }
    wording = broadcast.text
    if broadcast.template_id is not None:
        template = await ctx.db.get(Template, broadcast.template_id)
        wording = template.text if template is not None else ""
    updates: list[dict[str, Any]] = []

    def settle(row: BroadcastDelivery, status: str, detail: str = "", **more: Any) -> None:
        updates.append(
            {
                "_id": row.id,
                "status": status,
                "detail": printable(detail)[:500],
                "message_id": more.get("message_id"),
                "retry_key": more.get("retry_key"),
                "attempts": row.attempts + (1 if status == DeliveryStatus.sending else 0),
                "locked_until": more.get("locked_until"),
            }
        )

    if not wording:
        for row in rows:
            settle(row, DeliveryStatus.failed, N_("The template was deleted."))
        await _update(ctx, updates)
        return [], []
    email_channel = (
        await ctx.db.get(Channel, broadcast.channel_id) if broadcast.channel_id else None
    )
    channel_ids = {c.channel_id for c in contacts.values() if c.channel_id is not None}
    by_id = {
        c.id: c for c in await ctx.db.scalars(select(Channel).where(Channel.id.in_(channel_ids)))
    }
    filler = await _filler(ctx.db, wording, list(contacts), ctx.settings.base_url)
    zone = zone_of(broadcast.timezone)
    same_for_all = not personalised(wording, filler.field_keys)
    key = await workspace.signing_key(ctx.db) if broadcast.via == Via.email else b""
    latest = await _latest_conversations(ctx, list(contacts))
    planned: list[tuple[BroadcastDelivery, Contact, Channel, Conversation, str]] = []
    # In the contacts' order: a conversation started locks its contact (conversations.
    # new_conversation), as an inbound batch locks its senders, in the order of their ids.
    for row in sorted(rows, key=lambda row: row.contact_id):
        contact = contacts.get(row.contact_id)
        if contact is None or contact.blocked:
            settle(row, DeliveryStatus.skipped, SKIP_BLOCKED)
            continue
        if broadcast.via == Via.email:
            channel = email_channel
            if not contact.mail_opt_in:
                settle(row, DeliveryStatus.skipped, SKIP_NOT_OPTED_IN)
                continue
        else:
            channel = by_id.get(contact.channel_id or 0)
        if channel is None or channel.removed or not channel.enabled:
            settle(row, DeliveryStatus.skipped, SKIP_CHANNEL_OFF)
            continue
        body = fill(filler, contact, zone=zone, now=now)
        conversation = latest.get((contact.id, channel.id)) or (
            await conversations.conversation_for(
                ctx,
                contact=contact,
                channel_id=channel.id,
                closed_with=recording.list_preview(body, None),
            )
        )
        ends = channels.reply_window_ends(channel, conversation.last_inbound_at)
        if broadcast.via == Via.chat and ends is not None and now > ends:
            settle(row, DeliveryStatus.skipped, SKIP_REPLY_WINDOW)
            continue
        planned.append((row, contact, channel, conversation, body))
    message_ids = await reserve_ids(ctx.db, table_of(Message), len(planned))
    messages: list[recording.NewMessage] = []
    outbox_rows: list[dict[str, Any]] = []
    line_groups: dict[tuple[int, str], list[tuple[BroadcastDelivery, Contact, int]]] = defaultdict(
        list
    )
    events: list[Event] = []
    for (row, contact, channel, conversation, body), message_id in zip(
        planned, message_ids, strict=True
    ):
        meta = None
        if broadcast.via == Via.email:
            url = unsubscribe_url(ctx.settings.base_url, key, contact.id)
            body = f"{body}\n\n--\n{_unsubscribe_line(ctx.settings.default_language, url)}"
            meta = {"subject": broadcast.subject or channel.name, "unsubscribe": url}
        ours = _sent_by_us(channel)
        delivery = Delivery.pending if ours else channels.initial_delivery(channel)
        messages.append(
            recording.NewMessage(
                id=message_id,
                conversation_id=conversation.id,
                contact_id=contact.id,
                channel_id=channel.id,
                kind=MessageKind.reply,
                text=body,
                created_at=now,
                external_id=channels.outbound_external_id(channel),
                delivery=delivery,
                meta=meta,
                broadcast=True,
            )
        )
        # The thread shows the copy; the conversation itself is as it was (recording).
        events.append(
            MessageCreated(
                conversation_id=conversation.id,
                contact_id=contact.id,
                message_id=message_id,
                kind=MessageKind.reply,
                assignee_id=conversation.assignee_id,
            )
        )
        if ours:
            group = "" if same_for_all else f"{contact.id}"
            line_groups[(channel.id, group)].append((row, contact, message_id))
            continue
        if delivery == Delivery.pending:
            outbox_rows.append(
                {
                    "message_id": message_id,
                    "channel_id": channel.id,
                    "state": OutboxState.pending,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "retry_key": new_retry_key(),
                    "parts_sent": 0,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        # Handed to the outbox: the message's own delivery state says how it went.
        settle(row, DeliveryStatus.sent, message_id=message_id)
    await recording.record_many(ctx, messages)
    if outbox_rows:
        await ctx.db.execute(insert_into(table_of(OutboxEntry)), outbox_rows)
    texts = {m.id: m.text for m in messages}
    sends = []
    for (channel_id, _), members in line_groups.items():
        retry_key = new_retry_key()
        for row, _contact, message_id in members:
            settle(
                row,
                DeliveryStatus.sending,
                message_id=message_id,
                retry_key=retry_key,
                locked_until=now + LEASE,
            )
        sends.append(
            _LineSend(
                channel=by_id[channel_id],
                retry_key=retry_key,
                text=texts[members[0][2]],
                delivery_ids=[row.id for row, _, _ in members],
                message_ids=[message_id for _, _, message_id in members],
                user_ids=[contact.external_id or "" for _, contact, _ in members],
                attempts=max(row.attempts for row, _, _ in members) + 1,
            )
        )
    await _update(ctx, updates)
    return sends, events


async def _latest_conversations(
    ctx: Ctx, contact_ids: list[int]
) -> dict[tuple[int, int], Conversation]:
    """Each contact's latest conversation on each channel, for a batch at once."""
    found: dict[tuple[int, int], Conversation] = {}
    for conversation in await ctx.db.scalars(
        select(Conversation)
        .where(Conversation.contact_id.in_(contact_ids))
        .order_by(Conversation.id)
    ):
        found[(conversation.contact_id, conversation.channel_id)] = conversation
    return found


async def _update(ctx: Ctx, updates: list[dict[str, Any]]) -> None:
    if not updates:
        return
    table = table_of(BroadcastDelivery)
    # Written past the ORM (the claimed row objects are not used after this).
    await ctx.db.execute(
        table.update()
        .where(table.c.id == bindparam("_id"))
        .values(
            status=bindparam("status"),
            detail=bindparam("detail"),
            message_id=bindparam("message_id"),
            retry_key=bindparam("retry_key"),
            attempts=bindparam("attempts"),
            locked_until=bindparam("locked_until"),
        ),
        updates,
    )


async def _call_line(send: _LineSend) -> DeliveryError | None:
    token = str(send.channel.settings.get("access_token") or "")
    if not token:
        return DeliveryError(
            N_("The LINE channel has no access token: set it in its settings."), retryable=False
        )
    messages = [{"type": "text", "text": send.text}]
    if len(send.user_ids) == 1:
        path, body = "/v2/bot/message/push", {"to": send.user_ids[0], "messages": messages}
    else:
        path, body = "/v2/bot/message/multicast", {"to": send.user_ids, "messages": messages}
    try:
        async with http_client() as http:
            response = await http.post(
                f"{api_base(send.channel, 'line')}{path}",
                headers={"Authorization": f"Bearer {token}", "X-Line-Retry-Key": send.retry_key},
                json=body,
            )
    except (httpx.HTTPError, OSError) as failed:
        return DeliveryError(f"{type(failed).__name__}: {failed}", retryable=True)
    # 409: this retry key was accepted before — the message went out then.
    if response.status_code in (200, 409):
        return None
    detail = response.text[:300]
    retryable = response.status_code >= 500 or response.status_code == 429
    return DeliveryError(f"LINE API: HTTP {response.status_code} {detail}", retryable=retryable)


async def _record(ctx: Ctx, send: _LineSend, now: datetime, error: DeliveryError | None) -> int:
    """What LINE answered, on the delivery rows and the messages in the threads."""
    delivery = table_of(BroadcastDelivery)
    message = table_of(Message)
    mine = delivery.c.id.in_(send.delivery_ids) & (delivery.c.retry_key == send.retry_key)
    mine = mine & (delivery.c.status == DeliveryStatus.sending)
    if error is None:
        result = await ctx.db.execute(
            delivery.update().where(mine).values(status=DeliveryStatus.sent, locked_until=None)
        )
        await ctx.db.execute(
            message.update()
            .where(message.c.id.in_(send.message_ids))
            .values(delivery=Delivery.sent, delivery_error=None)
        )
    elif error.retryable and send.attempts <= len(BACKOFF):
        log.warning("broadcast to LINE failed, will retry: %s", error)
        await ctx.db.execute(
            delivery.update()
            .where(mine)
            .values(locked_until=now + timedelta(seconds=BACKOFF[send.attempts - 1]))
        )
        await ctx.db.commit()
        return 0
    else:
        reason = printable(str(error))[:500]
        result = await ctx.db.execute(
            delivery.update()
            .where(mine)
            .values(status=DeliveryStatus.failed, detail=reason, locked_until=None)
        )
        await ctx.db.execute(
            message.update()
            .where(message.c.id.in_(send.message_ids))
            .values(delivery=Delivery.failed, delivery_error=reason)
        )
    updated = int(getattr(result, "rowcount", 0) or 0)
    events: list[Event] = []
    rows = await ctx.db.execute(
        select(Message.id, Message.conversation_id).where(Message.id.in_(send.message_ids))
    )
    events += [MessageUpdated(message_id=mid, conversation_id=cid) for mid, cid in rows]
    await ctx.commit(*events)
    return updated if error is None else 0


# --- e-mail unsubscribe -----------------------------------------------------------------------


def _unsubscribe_subject(contact_id: int) -> str:
    return f"unsubscribe:{contact_id}"


def unsubscribe_url(base_url: str, key: bytes, contact_id: int) -> str:
    signature = workspace.sign(key, _unsubscribe_subject(contact_id))
    return f"{base_url.rstrip('/')}{UNSUBSCRIBE_PATH}/{contact_id}/{signature}"


def unsubscribe_signed(key: bytes, contact_id: int, signature: str) -> bool:
    return workspace.verify(key, _unsubscribe_subject(contact_id), signature)


def _unsubscribe_line(language: str, url: str) -> str:
    return gettext_for(language).gettext("To stop receiving these e-mails: %(url)s") % {"url": url}
