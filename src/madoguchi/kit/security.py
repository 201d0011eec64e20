"""Passwords (argon2) and bearer secrets (random, stored as SHA-256)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# RFC 9106's second recommendation, argon2-cffi's default: argon2id, 64 MiB, 3 passes, 4 lanes
# (about 0.1-0.2 s a password on a small server, by design).
PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)


# Verifying against this keeps a login for an unknown e-mail as slow as one for a known e-mail.
# Made at the first need (or while a server starts: warm_dummy_hash), not at import: every
# command would otherwise pay one hash to start.
@functools.cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("madoguchi-timing-equaliser")


def warm_dummy_hash() -> None:
    """Make the hash an unknown e-mail's login is checked against, before the first one."""
    _dummy_hash(_hasher)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        checked = password_hash or _dummy_hash(_hasher)
        return _hasher.verify(checked, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_password() -> str:
    return secrets.token_urlsafe(12)


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
