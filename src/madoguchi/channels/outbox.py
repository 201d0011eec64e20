"""The outbox: a reply is committed first, then delivered by the worker through its channel's
adapter, with exponential backoff. One that finally fails is marked failed in the thread with
the channel's error, and can be sent again (再送)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import or_, select

from madoguchi.channels.base import Adapter, DeliveryError, Outgoing, PublicImage, printable
from madoguchi.channels.models import Channel, OutboxEntry, OutboxState
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations.models import Conversation, Delivery, Message, MessageKind
from madoguchi.events.types import Event, MessageUpdated
from madoguchi.files import service as files
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import Invalid, NotFound
from madoguchi.kit.i18n import N_

log = logging.getLogger(__name__)

# Seconds to wait after each failed attempt; after the last, the message is marked failed.
BACKOFF = (5, 30, 120, 600, 1800, 3600)
# A claim is a lease: if the process dies mid-send, another picks the entry up after this.
LEASE = timedelta(minutes=5)
# A send is cut off well inside its lease, so no other worker can claim an entry still being
# sent (an adapter makes at most a handful of calls, each with its own timeout).
SEND_LIMIT = LEASE.total_seconds() / 2

CtxFactory = Callable[[], contextlib.AbstractAsyncContextManager[Ctx]]


async def enqueue(ctx: Ctx, *, message: Message) -> OutboxEntry:
    """Queue a stored reply for delivery (inside the caller's transaction)."""
    entry = OutboxEntry(
        message_id=message.id,
        channel_id=message.channel_id,
        state=OutboxState.pending,
        attempts=0,
        next_attempt_at=ctx.now(),
        retry_key=new_retry_key(),
        parts_sent=0,
        created_at=ctx.now(),
        updated_at=ctx.now(),
    )
    ctx.db.add(entry)
    return entry


def new_retry_key() -> str:
    # LINE wants a UUID; the same one on every attempt makes LINE drop a duplicate.
    raw = secrets.token_hex(16)
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"


def _message_updated(message: Message) -> Event:
    return MessageUpdated(message_id=message.id, conversation_id=message.conversation_id)


async def resend(ctx: Ctx, *, message_id: int) -> Message:
    """再送: try a failed reply again, from the first attempt. The parts the customer got
    already (``parts_sent``) stay counted: they are not sent twice."""
    message = await ctx.db.get(Message, message_id)
    if message is None:
        raise NotFound("No message with id %(id)s.", id=message_id)
    if message.kind != MessageKind.reply or message.delivery != Delivery.failed:
        raise Invalid("Only a reply that failed to send can be sent again.")
    entry = await ctx.db.scalar(select(OutboxEntry).where(OutboxEntry.message_id == message.id))
    if entry is None:
        entry = await enqueue(ctx, message=message)
    entry.state = OutboxState.pending
    entry.attempts = 0
    entry.next_attempt_at = ctx.now()
    entry.locked_until = None
    entry.updated_at = ctx.now()
    message.delivery = Delivery.pending
    message.delivery_error = None
    await ctx.commit(_message_updated(message))
    return message


@dataclass(frozen=True)
class _Claim:
    entry_id: int
    # The attempt this claim made: recording it again after someone else's claim is refused.
    attempt: int
    outgoing: Outgoing


async def _claim(ctx: Ctx, now: datetime) -> _Claim | None:
    entry = await ctx.db.scalar(
        select(OutboxEntry)
        .where(
            OutboxEntry.state == OutboxState.pending,
            OutboxEntry.next_attempt_at <= now,
            or_(OutboxEntry.locked_until.is_(None), OutboxEntry.locked_until < now),
        )
        .order_by(OutboxEntry.next_attempt_at, OutboxEntry.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if entry is None:
        return None
    entry.locked_until = now + LEASE
    entry.attempts += 1
    entry.updated_at = now
    message = await ctx.db.get(Message, entry.message_id)
    channel = await ctx.db.get(Channel, entry.channel_id)
    assert message is not None and channel is not None
    conversation = await ctx.db.get(Conversation, message.conversation_id)
    assert conversation is not None
    contact = await ctx.db.get(Contact, conversation.contact_id)
    assert contact is not None
    # A merged contact (F43) is reached on this conversation's channel by that identity.
    contact = await contacts.identity_for(ctx.db, contact, conversation.channel_id)
    images = []
    for stored in (await files.message_images(ctx.db, [message.id]))[message.id]:
        url, thumbnail_url = await files.public_urls(ctx.db, ctx.settings.base_url, stored)
        images.append(PublicImage(file=stored, url=url, thumbnail_url=thumbnail_url))
    thread = await _thread(ctx, conversation, message)
    outgoing = Outgoing(
        channel=channel,
        contact=contact,
        conversation=conversation,
        message=message,
        images=images,
        retry_key=entry.retry_key,
        files_root=files.root(ctx),
        thread=thread,
        parts_sent=entry.parts_sent,
    )
    attempt = entry.attempts
    await ctx.db.commit()
    return _Claim(entry_id=entry.id, attempt=attempt, outgoing=outgoing)


async def _thread(ctx: Ctx, conversation: Conversation, message: Message) -> dict[str, object]:
    """What e-mail needs to thread a reply: the customer's last Message-ID and subject."""
    last_inbound = await ctx.db.scalar(
        select(Message)
        .where(
            Message.conversation_id == conversation.id,
            Message.kind == MessageKind.inbound,
            Message.id < message.id,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if last_inbound is None or not last_inbound.meta:
        return {}
    return {
        "in_reply_to": last_inbound.external_id,
        "references": last_inbound.meta.get("references", []),
        "subject": last_inbound.meta.get("subject", ""),
    }


async def _record(ctx: Ctx, claim: _Claim, now: datetime, error: DeliveryError | None) -> None:
    entry = await ctx.db.scalar(
        select(OutboxEntry).where(OutboxEntry.id == claim.entry_id).with_for_update()
    )
    if entry is None:  # the conversation was deleted meanwhile
        await ctx.db.rollback()
        return
    if entry.attempts != claim.attempt or entry.state != OutboxState.pending:
        # Another claim (a resend, or a worker that found the lease run out) owns it now.
        log.warning("outbox entry %s was claimed again while it was sent", entry.id)
        await ctx.db.rollback()
        return
    message = await ctx.db.get(Message, entry.message_id)
    assert message is not None
    entry.locked_until = None
    entry.updated_at = now
    if error is not None and error.parts_sent is not None:
        entry.parts_sent = max(entry.parts_sent, error.parts_sent)
    if error is None:
        entry.state = OutboxState.sent
        entry.last_error = None
        message.delivery = Delivery.sent
        message.delivery_error = None
    elif error.retryable and entry.attempts <= len(BACKOFF):
        entry.last_error = _reason(error)
        entry.next_attempt_at = now + timedelta(seconds=BACKOFF[entry.attempts - 1])
    else:
        entry.state = OutboxState.failed
        entry.last_error = _reason(error)
        message.delivery = Delivery.failed
        message.delivery_error = _reason(error)
    await ctx.commit(_message_updated(message))


def _reason(error: DeliveryError) -> str:
    # A channel's answer is quoted in it, and may hold what PostgreSQL cannot keep (NUL).
    return printable(str(error))


async def deliver_due(
    new_ctx: CtxFactory,
    adapters: dict[str, Adapter],
    *,
    now: datetime,
    clock: Callable[[], datetime],
    limit: int = 20,
) -> int:
    """Deliver what is due: claim (a short transaction), send (no transaction open), record
    (another short one). Answers how many went out.

    ``now`` is the tick's time; each claim and record happen at ``now`` plus the time since
    (by ``clock``), so a lease runs from its own claim, not from the start of a long tick.
    """
    offset = now - clock()
    delivered = 0
    for _ in range(limit):
        async with new_ctx() as ctx:
            claim = await _claim(ctx, clock() + offset)
        if claim is None:
            break
        error = await _send(adapters, claim.outgoing)
        if error is not None:
            log.warning("delivering message %s failed: %s", claim.outgoing.message.id, error)
        async with new_ctx() as ctx:
            await _record(ctx, claim, clock() + offset, error)
        delivered += error is None
    return delivered


async def _send(adapters: dict[str, Adapter], outgoing: Outgoing) -> DeliveryError | None:
    """One attempt; whatever goes wrong is the attempt's error, so the entry is always recorded
    (an escaping exception would leave it to be claimed again and again)."""
    adapter = adapters.get(outgoing.channel.kind)
    if adapter is None:
        return DeliveryError(N_("This kind of channel cannot send replies."), retryable=False)
    if not outgoing.channel.enabled:
        return DeliveryError(N_("The channel is turned off."), retryable=False)
    try:
        async with asyncio.timeout(SEND_LIMIT):
            await adapter.send(outgoing)
    except DeliveryError as failed:
        return failed
    except TimeoutError:
        return DeliveryError(N_("The channel did not answer in time."), retryable=True)
    except (httpx.HTTPError, OSError) as failed:
        return DeliveryError(f"{type(failed).__name__}: {failed}", retryable=True)
    except Exception as failed:  # an answer the adapter did not expect (a bug, a strange API)
        log.exception("the %s adapter failed unexpectedly", outgoing.channel.kind)
        return DeliveryError(f"{type(failed).__name__}: {failed}", retryable=True)
    return None
