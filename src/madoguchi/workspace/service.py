"""The workspace's signing key: links that work without signing in (images for LINE and
Instagram, the web chat) carry an HMAC made with it."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.workspace.models import WorkspaceValue

SIGNING_KEY = "signing_key"
# What was read back stored, per database and key: a value is made once and never changes.
_kept: dict[tuple[str, str], str] = {}


async def kept_value(db: AsyncSession, key: str, make: Callable[[], str]) -> str:
    """The workspace's value under ``key`` (a key of its own), made by ``make`` on first use
    and shared by every process through the database: two processes making it at once keep
    the first one stored."""
    bind = db.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    cached = (str(engine.url), key)
    if cached in _kept:
        return _kept[cached]
    row = await db.get(WorkspaceValue, key)
    if row is None:
        try:
            async with db.begin_nested():
                made = WorkspaceValue(key=key, value=make())
                db.add(made)
        except IntegrityError:
            row = await db.get(WorkspaceValue, key)
            assert row is not None
        else:
            # Not cached until read back stored: the caller's transaction may yet roll back
            # (a GET's never commits), and a key kept only here would sign links that stop
            # working after a restart.
            return made.value
    _kept[cached] = row.value
    return row.value


def forget_kept() -> None:
    """Read every value from the database again (tests that wipe it)."""
    _kept.clear()


async def signing_key(db: AsyncSession) -> bytes:
    """The key, made on first use and shared by every process through the database."""
    return bytes.fromhex(await kept_value(db, SIGNING_KEY, lambda: secrets.token_hex(32)))


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def verify(key: bytes, text: str, signature: str) -> bool:
    return hmac.compare_digest(sign(key, text), signature)
