"""What every channel's public endpoint shares.

A webhook body is answered as soon as it is kept, and stored after the answer: a channel that
sends a hundred events at once (LINE after a broadcast) waits for one INSERT and commit, not for
a hundred messages, contacts and profile look-ups. ``accepted`` keeps the checked body in
``webhook_bodies`` and commits before the 200, so nothing acknowledged is lost: the events are
stored right after the answer (a background task of the same request), and a body a stopped
process left behind is stored by the worker (``store_left``). Storing is idempotent (messages by
their id, LINE's follow/unfollow by event id), so a body stored twice stores nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row, delete, select, update
from starlette.background import BackgroundTask

from madoguchi.channels.base import http_client, printable
from madoguchi.channels.models import Channel, WebhookBody
from madoguchi.connectors.inbound import MAX_ID_LENGTH, Profile
from madoguchi.kit import jsonsafe
from madoguchi.kit.context import Ctx
from madoguchi.kit.errors import BadRequest, DomainError, Invalid, NotFound
from madoguchi.kit.web import Runtime, runtime_of

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
    idempotent (messages by id, LINE's follow/unfollow by event id), so a body stored again (a
    redelivery after a 500, the worker taking up a kept body) stores only what is missing; an
    event refused for its own content is logged and skipped.
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


# --- kept bodies ------------------------------------------------------------------------------

# A kept body not stored this long after it came is the worker's: its process stopped, or
# storing it failed (the database away). The worker's claim moves it this far ahead again.
LEFT_AFTER = timedelta(minutes=1)
# A body the worker failed to store this many times is left for a person (logged each time).
MAX_ATTEMPTS = 10
# Bodies the worker takes up in one tick.
LEFT_PER_TICK = 20

# Stores a kept body's events: the kind's parser reads the body again (``BodyStorer``), or the
# webhook hands over the events it parsed.
BodyStorer = Callable[[Ctx, Channel, bytes], Awaitable[None]]
Storing = Callable[[Ctx], Awaitable[None]]


async def accepted(
    request: Request, ctx: Ctx, *, channel: Channel, raw: bytes, store: Storing | None
) -> JSONResponse:
    """The 200 for a checked body: kept and committed first (``store`` None: nothing in it to
    store, as LINE's "verify"), its events stored after the answer by ``store``."""
    if store is None:
        return JSONResponse({})
    kept = WebhookBody(
        channel_id=channel.id, kind=channel.kind, body=raw, received_at=ctx.now(), attempts=0
    )
    ctx.db.add(kept)
    await ctx.commit()
    work = BackgroundTask(_store_now, runtime_of(request), kept.id, channel.id, store)
    return JSONResponse({}, background=work)


async def _store_now(runtime: Runtime, body_id: int, channel_id: int, store: Storing) -> None:
    """Right after the answer: the events stored, then the body forgotten. A failure leaves it
    kept for the worker (logged here: the channel has its 200 already)."""
    async with runtime.database.write_sessions() as session:
        ctx = Ctx(db=session, bus=runtime.bus, settings=runtime.settings)
        try:
            await store(ctx)
            await _forget(ctx, body_id)
        except DomainError as error:
            # The channel was stopped or deleted since: nothing comes in through it.
            log.warning("Webhook body %s of channel %s not stored: %s", body_id, channel_id, error)
            await _forget(ctx, body_id)
        except Exception:
            log.exception(
                "Webhook body %s of channel %s not stored now; the worker will try again",
                body_id,
                channel_id,
            )


async def _forget(ctx: Ctx, body_id: int) -> None:
    await ctx.db.rollback()
    await ctx.db.execute(delete(WebhookBody).where(WebhookBody.id == body_id))
    await ctx.commit()


async def store_left(
    new_ctx: Callable[[], contextlib.AbstractAsyncContextManager[Ctx]],
    storers: Mapping[str, BodyStorer],
    *,
    now: datetime,
) -> int:
    """The worker's part: store the bodies kept longer than ``LEFT_AFTER`` (their process
    stopped, or storing failed), each claimed first (two processes never take the same one);
    a body whose channel is gone or stopped is forgotten. Returns the bodies stored."""
    async with new_ctx() as ctx:
        waiting = list(
            (
                await ctx.db.execute(
                    select(WebhookBody.id, WebhookBody.attempts)
                    .where(
                        WebhookBody.received_at <= now - LEFT_AFTER,
                        WebhookBody.attempts < MAX_ATTEMPTS,
                    )
                    .order_by(WebhookBody.id)
                    .limit(LEFT_PER_TICK)
                )
            ).all()
        )
        await ctx.db.rollback()
    stored = 0
    for body_id, attempts in waiting:
        async with new_ctx() as ctx:
            claimed = await ctx.db.execute(
                update(WebhookBody)
                .where(WebhookBody.id == body_id, WebhookBody.attempts == attempts)
                .values(attempts=attempts + 1, received_at=now)
            )
            if not claimed.rowcount:  # type: ignore[attr-defined]
                continue  # another process took it
            await ctx.commit()
            kept = await ctx.db.get(WebhookBody, body_id)
            if kept is None:
                continue
            channel = await ctx.db.get(Channel, kept.channel_id)
            storer = storers.get(kept.kind)
            if (
                channel is None
                or not channel.enabled
                or storer is None
                or channel.kind != kept.kind
            ):
                log.warning("Webhook body %s: its channel is gone or stopped, forgotten", body_id)
                await _forget(ctx, body_id)
                continue
            raw, channel_id = kept.body, channel.id
            try:
                await storer(ctx, channel, raw)
                await _forget(ctx, body_id)
                stored += 1
            except Exception:
                await ctx.db.rollback()
                log.exception(
                    "Webhook body %s of channel %s not stored (attempt %d of %d)",
                    body_id,
                    channel_id,
                    attempts + 1,
                    MAX_ATTEMPTS,
                )
    return stored


async def kept(ctx: Ctx) -> Sequence[Row[int, int, str, datetime, int]]:
    """The bodies kept and not yet stored, oldest first, without their bytes (``madoguchi
    webhooks list``): id, channel_id, kind, received_at, attempts. One the worker gave up on
    has ``MAX_ATTEMPTS`` attempts."""
    rows = await ctx.db.execute(
        select(
            WebhookBody.id,
            WebhookBody.channel_id,
            WebhookBody.kind,
            WebhookBody.received_at,
            WebhookBody.attempts,
        ).order_by(WebhookBody.id)
    )
    return rows.all()


async def retry(ctx: Ctx, body_id: int) -> None:
    """Give a kept body to the worker again, as if it had just been left (``madoguchi webhooks
    retry``): its attempts start again from nothing."""
    changed = await ctx.db.execute(
        update(WebhookBody)
        .where(WebhookBody.id == body_id)
        .values(attempts=0, received_at=ctx.now() - LEFT_AFTER)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        raise NotFound("No kept webhook body with id %(id)s.", id=body_id)
    await ctx.commit()


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
