"""JSON from outside, with its nesting bounded.

``json.loads`` recurses once per ``[`` or ``{``: a body of 50,000 brackets raises RecursionError,
which no ``except ValueError`` catches, and code that walks the value recurses as deep again. No
document we accept (a filter, a webhook, a frame) nests more than a handful of levels, so every
JSON a request carries is read here and refused past ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
from typing import Any

# Instagram's webhooks nest about 9 levels, a filter 4: room to spare, far from the recursion limit.
MAX_DEPTH = 32


class TooDeep(ValueError):
    """The document nests deeper than allowed (a ValueError, like any JSON that cannot be used)."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def loads(raw: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads``, raising TooDeep for a document nested past ``max_depth`` (and ValueError,
    as json.loads does, for one that is not JSON)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise TooDeep(max_depth) from None
    if depth_exceeds(value, max_depth):
        raise TooDeep(max_depth)
    return value


def depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether lists and objects nest past ``max_depth`` in ``value`` (walked without recursion,
    stopping at the first too deep)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > max_depth:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False
