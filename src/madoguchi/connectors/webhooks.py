"""What every channel's public endpoint shares."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import httpx

from madoguchi.channels.base import http_client, printable
from madoguchi.connectors.inbound import MAX_ID_LENGTH, Profile
from madoguchi.kit import jsonsafe
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import BadRequest, DomainError, Invalid

log = logging.getLogger(__name__)

# The contacts.avatar_url column.
MAX_PICTURE_URL_LENGTH = 1000


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
