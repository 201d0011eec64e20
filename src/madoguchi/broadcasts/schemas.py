from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.broadcasts.models import Segment
from madoguchi.broadcasts.segments import MAX_NAME, Size
from madoguchi.contacts.schemas import ContactOut


class SegmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=MAX_NAME)
    # The filter language's conditions (docs/api.md, "Filter conditions").
    conditions: list[dict[str, Any]]


class SegmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=MAX_NAME)
    conditions: list[dict[str, Any]] | None = None


class SegmentOut(BaseModel):
    id: int
    name: str
    conditions: list[dict[str, Any]]
    # How many contacts it holds now; null with ``problem`` when it cannot be counted.
    count: int | None
    problem: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, segment: Segment, size: Size) -> SegmentOut:
        return cls(
            id=segment.id,
            name=segment.name,
            conditions=segment.conditions,
            count=size.count,
            problem=str(size.problem) if size.problem else None,
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        )


class SegmentPreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    conditions: list[dict[str, Any]]


class SegmentPreview(BaseModel):
    """Who the conditions hold now: the count and the first contacts."""

    count: int
    items: list[ContactOut]
