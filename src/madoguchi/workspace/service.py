"""The workspace's signing key: links that work without signing in (images for LINE and
Instagram, the web chat) carry an HMAC made with it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from madoguchi.workspace.models import WorkspaceValue

SIGNING_KEY = "signing_key"
_cache: dict[str, bytes] = {}


async def signing_key(db: AsyncSession) -> bytes:
    """The key, made on first use and shared by every process through the database."""
    bind = db.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    url = str(engine.url)
    if url in _cache:
        return _cache[url]
    row = await db.get(WorkspaceValue, SIGNING_KEY)
    if row is None:
        try:
            async with db.begin_nested():
                made = WorkspaceValue(key=SIGNING_KEY, value=secrets.token_hex(32))
                db.add(made)
        except IntegrityError:
            row = await db.get(WorkspaceValue, SIGNING_KEY)
            assert row is not None
        else:
            # Not cached until read back stored: the caller's transaction may yet roll back
            # (a GET's never commits), and a key kept only here would sign links that stop
            # working after a restart.
            return bytes.fromhex(made.value)
    key = bytes.fromhex(row.value)
    _cache[url] = key
    return key


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def verify(key: bytes, text: str, signature: str) -> bool:
    return hmac.compare_digest(sign(key, text), signature)
