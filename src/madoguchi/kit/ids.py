"""Row ids as the outside world gives them: checked before they reach a query."""

from __future__ import annotations

from typing import Any, TypeGuard

# Ids are 32-bit integers in PostgreSQL: a larger number names nothing, and the database would
# refuse to even compare it.
MAX_ID = 2**31 - 1


def is_id(value: Any) -> TypeGuard[int]:
    """Whether ``value`` can be a row's id (a number past MAX_ID cannot)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID
