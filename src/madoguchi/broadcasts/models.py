"""Segments: named conditions over contacts, evaluated when they are used."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow


class Segment(Base):
    """セグメント: 「最終来店から30日」 = the newest 来店記録 dated 30 days ago. The conditions are
    the filter language's (crm.filters), kept as given and checked on every save."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # [{"field": "record.来店記録.newest_at", "op": "days_ago", "value": 30}, ...]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
