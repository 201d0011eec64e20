"""The one way a customer's message comes in, whatever the channel.

Each channel's adapter (a webhook, the SMTP listener, the web chat, the API channel) parses and
checks what it was given, asks its servers for what is missing (a profile, an image) with no
transaction open, and hands over one ``Inbound`` value. ``receive`` owns everything after that,
in one transaction: the channel is still there, the limits, the text cleaned, the duplicate
check, the images kept, the contact found or made with its name, picture and address, the
message filters (a match arrives read), the message recorded with all that follows from it,
and the events once committed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
from sqlalchemy import Select, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.automation import filters
from madoguchi.channels.base import DeliveryError, failure, printable
from madoguchi.channels.models import Channel, ChannelKind
from madoguchi.channels.service import api_channel
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import MAX_TEXT_LENGTH
from madoguchi.conversations.service import Ingested
from madoguchi.events import Event
from madoguchi.events.types import ContactUpdated
from madoguchi.files import service as files
from madoguchi.files.models import StoredFile
from madoguchi.kit.context import Ctx
from madoguchi.kit.db import loaded_objects, table_of
from madoguchi.kit.direct import direct_writes
from madoguchi.kit.errors import DomainError, Invalid, NotFound

log = logging.getLogger(__name__)

# The longest id a channel may give a message or a person (the columns that keep them; the
# refusals below say 255).
MAX_ID_LENGTH = 255


@dataclass(frozen=True)
class Profile:
    """What a channel's profile API says of a person (None fields: it does not say)."""

    name: str | None
    picture_url: str | None


@dataclass(frozen=True)
class Attachment:
    """An image as the channel gave it, not yet checked."""

    name: str
    data: bytes
    # Where the file store keeps it (a sticker's folder finds it again).
    folder: str = "images"


@dataclass(frozen=True)
class MediaFile:
    """A video, a sound or a file as the channel gave it, not yet stored."""

    name: str
    content_type: str
    data: bytes


class TooBig(Exception):
    """A file over ``files.MAX_MEDIA_BYTES``: noted on its message, not fetched whole."""


# What ``Inbound.media_error`` says of a file over the limit (the thread says it in words).
TOO_BIG = "too_big"


async def download(
    http: httpx.AsyncClient, url: str, *, what: str, headers: dict[str, str] | None = None
) -> tuple[bytes, str]:
    """A channel's file and its content type, read no further than ``files.MAX_MEDIA_BYTES``
    (``TooBig`` past that); ``DeliveryError`` when the channel does not give it."""
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            raise failure(response, what)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > files.MAX_MEDIA_BYTES:
            raise TooBig(what)
        data = bytearray()
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > files.MAX_MEDIA_BYTES:
                raise TooBig(what)
        return bytes(data), response.headers.get("content-type", "")


@dataclass
class Inbound:
    """A customer's message as its channel gave it, parsed and fetched, before it is stored."""

    channel_id: int
    # The channel kind the adapter serves: a channel of another kind is not found.
    kind: str
    # The person as the channel knows them (a LINE user id, an e-mail address, a visitor).
    sender: str
    # The channel's id of the message: the same id is stored once (None: no such id).
    message_id: str | None
    text: str = ""
    # What the message reads as when it has no text and none of its images could be kept (a
    # mail's subject).
    fallback_text: str = ""
    # What the channel calls the sender when it has no profile API (a mail's display name).
    name: str | None = None
    # The sender's profile when it was asked for (a new contact) and answered: its name is
    # followed and its picture replaces ours.
    profile: Profile | None = None
    # The sender's address, kept as the contact's e-mail when it has none.
    email: str | None = None
    images: list[Attachment] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    # What the adapter could not fetch (an image), noted on the message rather than lost.
    errors: list[str] = field(default_factory=list)
    # Videos, sounds and files, kept with their content type and name (up to
    # ``files.MAX_IMAGES``), after the images.
    media: list[MediaFile] = field(default_factory=list)
    # Why a video, sound or file is not kept: ``TOO_BIG``, or what the channel answered.
    media_error: str = ""
    # Files kept before that this message shows too (a sticker fetched once), by id.
    stored_file_ids: list[int] = field(default_factory=list)
    # The channel's message ids this one answers (a mail's References): its conversation.
    answers: Sequence[str] = ()
    # Someone waits on the answer (the API channel, the web chat): an empty or too long text is
    # refused so they can correct it. Otherwise what fits is kept: refusing a webhook's message
    # would lose it.
    exact: bool = False


@cache
def _channel_of() -> Select[Any]:
    """A channel's row by ``id``, as plain columns (``kit.db.loaded_objects``): every inbound
    batch reads its channels (built once)."""
    channels = table_of(Channel).c
    return select(*channels).where(channels.id == bindparam("id"))


async def load_channel(ctx: Ctx, channel_id: int, kind: str) -> Channel:
    """The enabled channel of that kind (404 for anything else, so that a webhook tells
    nothing about channels of other kinds): nothing comes in through any other. The API
    channel's caller, a member's token, is told why (``channels.service.api_channel``)."""
    found = await loaded_objects(ctx.db, Channel, _channel_of(), {"id": channel_id})
    channel = found[0] if found else None
    if kind == ChannelKind.api:
        return api_channel(channel, channel_id)
    if channel is None or channel.kind != kind or not channel.enabled:
        raise NotFound("No %(kind)s channel with id %(id)s.", kind=kind, id=channel_id)
    return channel


@dataclass
class Seen:
    """What was stored of a webhook body when it came: its messages stored already (a
    redelivery) and its senders known (no profile to ask for). ``receive`` checks again in its
    transaction: this only saves asking the channel's servers for nothing. It also holds the
    body's messages made ready (``wait``) until they are stored together (``store``)."""

    stored: set[str]
    known: set[str]
    waiting: list[Inbound] = field(default_factory=list)

    def is_new(self, message_id: str) -> bool:
        return message_id.strip() not in self.stored

    def knows(self, sender: str) -> bool:
        return sender.strip() in self.known

    def received(self, sender: str, message_id: str) -> None:
        """The message is stored: the same id again in the body is a redelivery, and the
        sender's next message needs no profile."""
        self.stored.add(message_id.strip())
        self.known.add(sender.strip())

    def wait(self, inbound: Inbound) -> None:
        """Keep a message of the body, checked and fetched, to be stored with the others
        (``store``): counted as received, so its sender's next message asks for no profile."""
        self.waiting.append(inbound)
        self.received(inbound.sender, inbound.message_id or "")

    async def store(self, ctx: Ctx, *, label: str) -> None:
        """Store the waiting messages together (``receive_many``: one transaction for the body's
        messages rather than one each); one refused for its content is logged and skipped, as
        ``webhooks.store_each`` does. Called before anything else of the body that must come
        after them (a follow), and at its end."""
        waiting, self.waiting = self.waiting, []
        if not waiting:
            return
        # A body's statements are small (its messages' rows): they run straight through the
        # driver (kit.direct), on SQLite on the loop rather than each in the connection's thread.
        async with direct_writes(ctx.db):
            results = await receive_many(ctx, waiting)
        for message, result in zip(waiting, results, strict=True):
            if isinstance(result, DomainError):
                log.warning(
                    "%s message %s on channel %s not stored: %s",
                    label,
                    message.message_id,
                    message.channel_id,
                    result,
                )


async def seen(db: AsyncSession, *, channel_id: int, messages: Sequence[tuple[str, str]]) -> Seen:
    """``Seen`` for a body's (message id, sender) pairs: two reads in the webhook's first
    transaction, which ``webhooks.store_each`` ends before the channel's servers are asked."""
    return Seen(
        stored=await conversations.stored_external_ids(
            db, channel_id=channel_id, external_ids={m.strip() for m, _ in messages}
        ),
        known=await contacts.known_external_ids(
            db, channel_id=channel_id, external_ids={s.strip() for _, s in messages}
        ),
    )


async def receive(ctx: Ctx, inbound: Inbound) -> Ingested:
    """Store a customer's message once, and everything that follows from it; ``created`` is
    False for a message stored before under its ``message_id``. Acknowledge it to the channel
    only after this returns: it has been committed. A refusal (``DomainError``) is raised."""
    [received] = await receive_many(ctx, [inbound])
    if isinstance(received, DomainError):
        raise received
    return received


@dataclass
class _Checked:
    """An inbound message that passed the checks, as it will be kept."""

    position: int
    inbound: Inbound
    sender: str
    message_id: str | None
    text: str
    meta: dict[str, Any]


async def receive_many(ctx: Ctx, inbounds: Sequence[Inbound]) -> list[Ingested | DomainError]:
    """Store customers' messages, each once, with everything that follows from them, in one
    transaction committed here; for each, what it came to (``created`` False: stored before
    under its ``message_id``, or earlier in this batch) or why it was refused. A refused one
    writes nothing and costs the others nothing. Each step is taken once for all of them: the
    channels, the duplicate check, the contacts, the filters, the conversations, the recording
    (issue 14: the messages of concurrent requests stored together, ``connectors.intake``)."""
    results: list[Ingested | DomainError | None] = [None] * len(inbounds)
    checked: list[_Checked] = []
    for position, inbound in enumerate(inbounds):
        try:
            checked.append(_checked(position, inbound))
        except DomainError as refusal:
            results[position] = refusal
    # The channels asked again: one may have been stopped or deleted while its servers were
    # being asked.
    channels: dict[tuple[int, str], Channel | DomainError] = {}
    for item in checked:
        key = (item.inbound.channel_id, item.inbound.kind)
        if key not in channels:
            try:
                channels[key] = await load_channel(ctx, *key)
            except DomainError as refusal:
                channels[key] = refusal
    added: list[_Checked] = []
    # The same message twice in the batch is stored once: the later ones are answered with it.
    twins: dict[tuple[int, str], list[int]] = {}
    by_channel: dict[int, list[_Checked]] = {}
    for item in checked:
        channel = channels[(item.inbound.channel_id, item.inbound.kind)]
        if isinstance(channel, DomainError):
            results[item.position] = channel
            continue
        if item.message_id is not None:
            held = twins.setdefault((channel.id, item.message_id), [])
            held.append(item.position)
            if len(held) > 1:
                continue
        by_channel.setdefault(channel.id, []).append(item)
    for channel_id, items in by_channel.items():
        stored = await conversations.stored_inbounds(
            ctx.db,
            channel_id=channel_id,
            external_ids={item.message_id for item in items if item.message_id is not None},
        )
        for item in items:
            if item.message_id is not None and item.message_id in stored:
                results[item.position] = stored[item.message_id]
            else:
                added.append(item)
    added.sort(key=lambda item: item.position)
    if added:
        try:
            ingested = await _add(ctx, added)
        except conversations.StoredMeanwhile:
            # Stored meanwhile by another request: what this batch wrote (its images, the
            # contacts' names) goes, and each message is taken again alone; alone, the stored
            # one is read again, as it is now.
            await ctx.db.rollback()
            if len(inbounds) == 1:
                item = added[0]
                assert item.message_id is not None  # only a message with an id can be
                again = await conversations.stored_inbound(
                    ctx.db, channel_id=item.inbound.channel_id, external_id=item.message_id
                )
                if again is None:
                    raise
                return [again]
            answers: list[Ingested | DomainError] = []
            for inbound in inbounds:
                [answer] = await receive_many(ctx, [inbound])
                # The next one's rollback (stored meanwhile too) would expire what this one
                # answered, and the caller reads it once the session is closed: kept as read.
                _keep(ctx, answer)
                answers.append(answer)
            return answers
        for item, one in zip(added, ingested, strict=True):
            results[item.position] = one
    for (_, _), positions in twins.items():
        first = results[positions[0]]
        for position in positions[1:]:
            results[position] = (
                first
                if not isinstance(first, Ingested)
                else Ingested(message=first.message, conversation=first.conversation, created=False)
            )
    done = [result for result in results if result is not None]
    assert len(done) == len(inbounds)
    return done


def _keep(ctx: Ctx, answer: Ingested | DomainError) -> None:
    """Take an answer's objects out of the session, loaded as they are: a later rollback in it
    cannot expire them."""
    if isinstance(answer, Ingested):
        for held in (answer.message, answer.conversation):
            if held in ctx.db:
                ctx.db.expunge(held)


def _checked(position: int, inbound: Inbound) -> _Checked:
    sender = printable(inbound.sender).strip()
    if not sender or len(sender) > MAX_ID_LENGTH:
        raise Invalid("A contact's external_id must be 1 to 255 characters.")
    message_id = None if inbound.message_id is None else printable(inbound.message_id).strip()
    if message_id is not None and not 0 < len(message_id) <= MAX_ID_LENGTH:
        raise Invalid("external_id must be 1 to 255 characters.")
    text, meta = _limited(inbound)
    return _Checked(position, inbound, sender, message_id, text, meta)


async def _add(ctx: Ctx, items: Sequence[_Checked]) -> list[Ingested]:
    """The new messages stored and committed, with their files, contacts and events."""
    message_filters = await filters.list_filters(ctx.db)
    known: dict[tuple[int, str], Contact | None] = {}
    await _find_people(ctx, {(item.inbound.channel_id, item.sender) for item in items}, known)
    made = await _new_people(ctx, items, known)
    news: list[conversations.NewInbound] = []
    events: list[Event] = []
    for item in items:
        inbound, meta, text = item.inbound, item.meta, item.text
        images, errors = await _kept_images(ctx, inbound)
        if errors:
            meta["image_error"] = printable("; ".join(errors))
        media, media_error = await _kept_media(ctx, inbound)
        if media_error:
            meta["media_error"] = printable(media_error)
        images += media
        if not text and not images:
            text = printable(inbound.fallback_text).strip()[:MAX_TEXT_LENGTH]
        if not text and not images and not meta:
            meta = {"unsupported": "attachment"}
        identity = (inbound.channel_id, item.sender)
        if identity in made:
            person = contacts.ChannelContact(made.pop(identity), changed=False, created=True)
        else:
            said = _said(item)
            person = await contacts.find_or_create_contact(
                ctx,
                channel_id=said.channel_id,
                external_id=said.external_id,
                channel_name=said.channel_name,
                picture_url=said.picture_url,
                email=said.email,
                known=known[identity],
            )
        # The next message of the same person in the batch finds them made.
        known[identity] = await _identity_row(ctx, person.contact, identity)
        if person.changed:
            events.append(ContactUpdated(contact_id=person.contact.id, part="profile"))
        message_filter = filters.first_match(message_filters, text)
        if message_filter is not None:
            meta["filter_id"] = message_filter.id
        news.append(
            conversations.NewInbound(
                channel_id=inbound.channel_id,
                contact=person.contact,
                text=text,
                external_id=item.message_id,
                images=images,
                meta=meta or None,
                answers=inbound.answers,
                unread=message_filter is None,
                new_contact=person.created,
            )
        )
    added = await conversations.add_inbounds(ctx, news)
    for _, followed in added:
        events.extend(followed)
    await ctx.commit(*events)
    return [ingested for ingested, _ in added]


def _said(item: _Checked) -> contacts.NewIdentity:
    """The sender's identity and what the channel says of them."""
    inbound, profile = item.inbound, item.inbound.profile
    return contacts.NewIdentity(
        channel_id=inbound.channel_id,
        external_id=item.sender,
        channel_name=_name(profile.name if profile else inbound.name),
        picture_url=profile.picture_url if profile else contacts.UNSAID,
        email=inbound.email,
    )


async def _new_people(
    ctx: Ctx, items: Sequence[_Checked], known: dict[tuple[int, str], Contact | None]
) -> dict[tuple[int, str], Contact]:
    """The contacts of the senders no contact was found for, made together, each from its
    first message (issue 14: made one by one, each with its savepoint and flush, they cost a
    batch more than its messages); none when another request made one meanwhile (each is
    then found or made with its message)."""
    first: dict[tuple[int, str], contacts.NewIdentity] = {}
    for item in items:
        identity = (item.inbound.channel_id, item.sender)
        if known[identity] is None and identity not in first:
            first[identity] = _said(item)
    try:
        return await contacts.create_contacts(ctx, first.values())
    except IntegrityError:
        # Made by another request, which has committed: found again, and locked together as
        # the others were, before each message takes its sender's (one by one in the batch's
        # order, two batches could each hold a contact the other waits for).
        await _find_people(ctx, first.keys(), known)
        return {}


async def _find_people(
    ctx: Ctx, identities: Iterable[tuple[int, str]], known: dict[tuple[int, str], Contact | None]
) -> None:
    """The contacts of these channel identities (None: none yet) into ``known``, locked: a
    statement per channel, the channels in one order for every batch, their rows in the order
    of their ids (``contacts.channel_contacts``)."""
    senders: dict[int, set[str]] = {}
    for channel_id, external_id in identities:
        senders.setdefault(channel_id, set()).add(external_id)
    for channel_id in sorted(senders):
        external_ids = senders[channel_id]
        found = await contacts.channel_contacts(
            ctx.db, channel_id=channel_id, external_ids=external_ids
        )
        for external_id in external_ids:
            known[(channel_id, external_id)] = found.get(external_id)


async def _identity_row(ctx: Ctx, contact: Contact, identity: tuple[int, str]) -> Contact | None:
    """The row of the channel identity ``find_or_create_contact`` answered ``contact`` for: the
    contact itself, or, for one merged into it (F43), the identity's own row."""
    if (contact.channel_id, contact.external_id) == identity:
        return contact
    return await ctx.db.scalar(
        select(Contact).where(Contact.channel_id == identity[0], Contact.external_id == identity[1])
    )


def _name(value: str | None) -> str | None:
    return None if value is None else printable(value)


def _limited(inbound: Inbound) -> tuple[str, dict[str, Any]]:
    """The text as kept (without control characters, trimmed) and the message's meta."""
    text = printable(inbound.text).strip()
    meta = dict(inbound.meta or {})
    if inbound.exact:
        if not text and not inbound.images:
            raise Invalid("The message is empty.")
        if len(text) > MAX_TEXT_LENGTH:
            raise Invalid("A message can be at most %(n)d characters.", n=MAX_TEXT_LENGTH)
    elif len(text) > MAX_TEXT_LENGTH:
        # Refusing it would lose the customer's message: keep what fits, and say it was cut.
        meta["truncated_from"] = len(text)
        text = text[:MAX_TEXT_LENGTH]
    return text, meta


async def _kept_images(ctx: Ctx, inbound: Inbound) -> tuple[list[StoredFile], list[str]]:
    """The images stored (up to ``files.MAX_IMAGES``), and what was wrong with the others: an
    unreadable image is noted on the message, never a reason to lose it."""
    kept: list[StoredFile] = []
    errors = list(inbound.errors)
    for position, image in enumerate(inbound.images[: files.MAX_IMAGES]):
        name = image.name or f"{inbound.message_id or 'image'}-{position}.jpg"
        try:
            kept.append(
                await files.store_image(ctx, data=image.data, name=name, folder=image.folder)
            )
        except Invalid as error:
            errors.append(f"{image.name}: {error}" if image.name else str(error))
    return kept, errors


async def _kept_media(ctx: Ctx, inbound: Inbound) -> tuple[list[StoredFile], str]:
    """The files kept before that the message shows (one gone meanwhile is left out), then its
    videos, sounds and files stored; and why one is not (kept on the message, never a reason to
    lose it)."""
    found = await files.files_by_id(ctx.db, inbound.stored_file_ids)
    kept = [found[i] for i in inbound.stored_file_ids if i in found]
    problem = inbound.media_error
    for position, media in enumerate(inbound.media[: files.MAX_IMAGES]):
        name = media.name or f"{inbound.message_id or 'file'}-{position}"
        try:
            kept.append(
                await files.store_media(
                    ctx, data=media.data, content_type=media.content_type, name=name
                )
            )
        except Invalid as error:
            problem = problem or str(error)
    return kept, problem


def media_problem(error: Exception) -> str:
    """What ``Inbound.media_error`` keeps of a failed fetch."""
    if isinstance(error, TooBig):
        return TOO_BIG
    if isinstance(error, DeliveryError | httpx.HTTPError):
        return str(error) or type(error).__name__
    raise error
