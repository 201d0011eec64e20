"""The audit log (F40): who changed what, kept even when the thing itself is gone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        # The log is read newest first (by id), whole or for one member or one kind.
        Index("ix_audit_log_member_id_id", "member_id", "id"),
        Index("ix_audit_log_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Who: ``member`` (member_id while the member exists), ``rule``, ``form``, ``channel`` or
    # ``system``; member_name is the actor's name then (a copy: the entry outlives the member).
    actor_kind: Mapped[str] = mapped_column(String(20), default="member", server_default="member")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    member_name: Mapped[str] = mapped_column(String(100), default="")
    # What kind of change (audit.service.KINDS), e.g. ``status.updated``.
    action: Mapped[str] = mapped_column(String(50))
    # What it was made to: "<type> <id>" (or just "<type>"), and its name at the time.
    subject: Mapped[str] = mapped_column(String(100))
    subject_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The changed fields only, before and after (None: created, or deleted).
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Anything else worth keeping (counts of what a delete took with it; older entries' all).
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
