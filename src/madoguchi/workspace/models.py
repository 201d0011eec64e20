"""Workspace-wide values kept in the database (so several processes share them)."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base


class WorkspaceValue(Base):
    __tablename__ = "workspace_values"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
