"""Live events: their declared types (``types``) and the bus that carries them (``bus``)."""

from madoguchi.events.bus import (
    Backlog,
    BusUnavailable,
    EventBus,
    InProcessBus,
    RedisBus,
    Subscription,
    create_bus,
)
from madoguchi.events.types import TYPES, Event

__all__ = [
    "TYPES",
    "Backlog",
    "BusUnavailable",
    "Event",
    "EventBus",
    "InProcessBus",
    "RedisBus",
    "Subscription",
    "create_bus",
]
