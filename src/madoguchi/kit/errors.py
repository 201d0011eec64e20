"""Domain errors: raised by services, turned into 4xx answers (API) or messages (UI) by the faces.

The message is an English msgid; the UI translates it, the API answers it as ``detail``.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return self.message % self.params if self.params else self.message


class BadRequest(DomainError):
    """A body that cannot be read at all (not JSON, not the shape the sender's format has)."""

    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Invalid(DomainError):
    status_code = 422


class Forbidden(DomainError):
    status_code = 403


class Unauthorized(DomainError):
    status_code = 401


class Conflict(DomainError):
    status_code = 409


class TooManyAttempts(DomainError):
    status_code = 429
