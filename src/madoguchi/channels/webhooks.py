"""What every channel's public endpoint shares."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from madoguchi.channels.base import http_client, printable
from madoguchi.channels.models import Channel
from madoguchi.contacts import service as contacts
from madoguchi.contacts.models import Contact
from madoguchi.conversations import service as conversations
from madoguchi.conversations.models import MAX_TEXT_LENGTH
from madoguchi.files import service as files
from madoguchi.kit import jsonsafe
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import BadRequest, DomainError, Invalid, NotFound

log = logging.getLogger(__name__)

# The longest id a channel may give a message or a person (the columns that keep them).
MAX_ID_LENGTH = 255
# The contacts.avatar_url column.
MAX_PICTURE_URL_LENGTH = 1000


async def load_channel(ctx: Ctx, channel_id: int, kind: str) -> Channel:
    """The enabled channel of that kind behind a webhook (404 for anything else, so nothing
    is told about channels of other kinds)."""
    channel = await ctx.db.get(Channel, channel_id)
    if channel is None or channel.kind != kind or not channel.enabled:
        raise NotFound("No %(kind)s channel with id %(id)s.", kind=kind, id=channel_id)
    return channel


WebhookEvent = TypeVar("WebhookEvent")

# Every channel's webhook does the same, in this order: load the enabled channel of its kind
# (404), verify the body's signature (401) and parse it whole (400) inside ``refusal_logged``,
# then ``store_each`` event on its own. The steps are called by name in each webhook, so that
# the API document sees what each can answer (kit.openapi).


@contextlib.contextmanager
def refusal_logged(label: str, channel_id: int) -> Iterator[None]:
    """Log a refused body (a bad signature, a malformed body): nothing of it is stored."""
    try:
        yield
    except DomainError as error:
        log.warning("%s webhook for channel %s: %s, refused", label, channel_id, error)
        raise


async def store_each(
    ctx: Ctx,
    events: Sequence[WebhookEvent],
    store_event: Callable[[httpx.AsyncClient, WebhookEvent], Awaitable[None]],
    *,
    label: str,
    channel_id: int,
    event_id: Callable[[WebhookEvent], str | None],
) -> None:
    """Store each event on its own, once however often the channel delivers it.

    The channel redelivers the whole body when we answer non-2xx, so holding every event back
    for one that can never be stored would lose them all on every redelivery. Storing is
    idempotent (messages by id, LINE's follow/unfollow by event id), so after a passing failure
    (the database away: 500) the redelivery stores only what is missing; an event refused for
    its own content is logged and skipped, and the body is 200.
    """
    # No transaction stays open while the channel's servers are asked for profiles and images.
    await ctx.db.rollback()
    async with http_client() as http:
        for event in events:
            try:
                await store_event(http, event)
            except Invalid as error:
                await ctx.db.rollback()
                log.warning(
                    "%s event %s on channel %s not stored: %s",
                    label,
                    event_id(event),
                    channel_id,
                    error,
                )


# A webhook body is checked whole before anything is stored: a malformed one is answered 400
# (DomainError's status: a bad request) and leaves nothing behind. Absent fields are left to the
# caller; present ones of the wrong type are refused, naming where they are. The strings given
# back are ``printable``: use them, not the raw body's.


def parse_json(raw: bytes) -> Any:
    try:
        return jsonsafe.loads(raw)
    except jsonsafe.TooDeep as error:
        raise BadRequest(
            "The body nests lists and objects deeper than %(n)d levels.", n=error.max_depth
        ) from None
    except ValueError:
        raise BadRequest("The body is not JSON.") from None


def body_object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest("Malformed body: %(path)s must be an object.", path=path)
    return value


def optional_object(value: Any, path: str) -> dict[str, Any]:
    """The object at ``path``, or ``{}`` when it is absent."""
    return {} if value is None else body_object(value, path)


def body_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequest("Malformed body: %(path)s must be a list.", path=path)
    return value


def optional_list(value: Any, path: str) -> list[Any]:
    return [] if value is None else body_list(value, path)


def body_string(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest("Malformed body: %(path)s must be a string.", path=path)
    return printable(value)


def body_id(value: Any, path: str) -> str:
    """A message's or a person's id on the channel: required, and short enough to keep."""
    if isinstance(value, str):
        value = printable(value)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID_LENGTH:
        raise BadRequest(
            "Malformed body: %(path)s must be an id of 1 to %(n)d characters.",
            path=path,
            n=MAX_ID_LENGTH,
        )
    return value


def body_flag(value: Any, path: str) -> bool:
    if value is not None and not isinstance(value, bool):
        raise BadRequest("Malformed body: %(path)s must be true or false.", path=path)
    return bool(value)


def body_number(value: Any, path: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadRequest("Malformed body: %(path)s must be a whole number.", path=path)
    return value


@dataclass(frozen=True)
class Profile:
    """What a channel's profile API says of a person (None fields: it does not say)."""

    name: str | None
    picture_url: str | None


def profile_of(answer: Any, *, name_keys: tuple[str, ...], picture_key: str) -> Profile | None:
    """A profile from a profile API's JSON answer; None when the answer is not one."""
    if not isinstance(answer, dict):
        return None
    names = (printable(answer[key]) for key in name_keys if isinstance(answer.get(key), str))
    name = next((found for found in names if found), None)
    picture = answer.get(picture_key)
    usable = (
        isinstance(picture, str)
        and picture == printable(picture)
        and picture.startswith(("https://", "http://"))
        and len(picture) <= MAX_PICTURE_URL_LENGTH
    )
    return Profile(name=name, picture_url=picture if usable else None)


async def contact_with_profile(
    ctx: Ctx, *, channel_id: int, external_id: str, profile: Profile | None
) -> Contact:
    """The contact behind a channel identity (created on first sight) with the channel name
    and the picture its profile gives (nothing committed here). Without a profile (the API
    did not answer) the picture stays as it was."""
    contact = await contacts.find_or_create_contact(
        ctx,
        channel_id=channel_id,
        external_id=external_id,
        channel_name=profile.name if profile else None,
    )
    if profile is not None and contact.avatar_url != profile.picture_url:
        contact.avatar_url = profile.picture_url
        contact.updated_at = ctx.now()
    return contact


async def first_sight(
    ctx: Ctx, *, channel_id: int, message_id: str, sender: str
) -> tuple[bool, bool]:
    """(is this message new, do we know the sender), leaving no transaction open: the channel's
    servers are asked for profiles and images next, and SQLite must not wait on them."""
    new = not await conversations.message_exists(
        ctx.db, channel_id=channel_id, external_id=message_id
    )
    known = new and (
        await contacts.find_contact_by_channel(ctx.db, channel_id=channel_id, external_id=sender)
        is not None
    )
    await ctx.db.rollback()
    return new, known


@dataclass
class Incoming:
    """A customer's message as a channel gave it, before it is stored."""

    channel_id: int
    kind: str
    sender: str
    # The sender's profile when it was asked for (a new contact) and answered.
    sender_profile: Profile | None
    message_id: str
    text: str = ""
    images: list[bytes] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


async def store(ctx: Ctx, incoming: Incoming) -> None:
    """Keep the images (an unreadable one is noted, not lost), then ingest the message (its text
    ``printable``: PostgreSQL keeps no NUL)."""
    image_ids = []
    errors = list(incoming.errors)
    for position, data in enumerate(incoming.images[: files.MAX_IMAGES]):
        try:
            name = f"{incoming.message_id}-{position}.jpg"
            image_ids.append((await files.store_image(ctx, data=data, name=name)).id)
        except Invalid as error:
            errors.append(str(error))
    meta = dict(incoming.meta or {})
    if errors:
        meta["image_error"] = printable("; ".join(errors))
    text = printable(incoming.text).strip()
    if len(text) > MAX_TEXT_LENGTH:
        # Refusing it would lose the customer's message: keep what fits, and say it was cut.
        meta["truncated_from"] = len(text)
        text = text[:MAX_TEXT_LENGTH]
    if not text and not image_ids and not meta:
        meta = {"unsupported": "attachment"}
    channel = await load_channel(ctx, incoming.channel_id, incoming.kind)
    if incoming.sender_profile is not None:
        # In the message's transaction: the contact is made with its picture, or not at all.
        await contact_with_profile(
            ctx,
            channel_id=incoming.channel_id,
            external_id=incoming.sender,
            profile=incoming.sender_profile,
        )
    await conversations.ingest_inbound(
        ctx,
        channel=channel,
        contact_external_id=incoming.sender,
        contact_name=incoming.sender_profile.name if incoming.sender_profile else None,
        text=text,
        external_id=incoming.message_id,
        image_ids=image_ids,
        meta=meta or None,
    )
