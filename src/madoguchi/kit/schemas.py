"""Value types every domain's API shares: a list answer and a label (status, mark or tag)."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Labelled(Protocol):
    id: int
    name: str


class Label(BaseModel):
    """A status, mark or tag as a list or a contact shows it."""

    id: int
    name: str
    color: str | None = None

    @classmethod
    def of(cls, thing: Labelled | None) -> Label | None:
        if thing is None:
            return None
        return cls(id=thing.id, name=thing.name, color=getattr(thing, "color", None))


class Items(BaseModel, Generic[T]):
    items: list[T]
