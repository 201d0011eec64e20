"""The filter's query parameters, shared by the lists of the API (conversations, contacts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from madoguchi.crm import filters
from madoguchi.kit.ids import MAX_ID


async def filter_conditions(
    q: Annotated[str | None, Query(max_length=200, description="name or message text")] = None,
    tag: Annotated[list[str] | None, Query(description="tag id or name (repeatable)")] = None,
    tag_mode: Annotated[str, Query(pattern="^(any|all)$")] = "any",
    status: Annotated[list[str] | None, Query(description="status id or name")] = None,
    mark: Annotated[list[str] | None, Query(description="mark id or name")] = None,
    channel: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    filter: Annotated[
        str | None, Query(description="JSON list of {field, op, value} (see docs/api.md)")
    ] = None,
) -> list[filters.Condition]:
    # async: a plain function would be run in a thread of the pool, a trip per list request.
    return filters.from_params(
        q=q,
        tag=tag,
        tag_mode=tag_mode,
        status=status,
        mark=mark,
        channel=channel,
        filter_json=filter,
    )


FilterDep = Annotated[list[filters.Condition], Depends(filter_conditions)]
