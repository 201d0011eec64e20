"""アンケート (F37): a public form, and each answer a customer sent through it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.kit.db import Base, JSONType, UTCDateTime, utcnow


class Form(Base):
    """A form's questions, kept as given once checked (forms.service): each
    ``{"key", "label", "type", "choices", "required", "maps_to"}``."""

    __tablename__ = "forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # A closed form's page answers 404 until it is opened again; its answers stay.
    closed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FormAnswer(Base):
    """One sending of a form by one contact: the values by question key, as checked."""

    __tablename__ = "form_answers"
    __table_args__ = (Index("ix_form_answers_contact", "contact_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # {"visit_date": "2026-12-04", "menu": "カット", "agree": true, "age": 34}
    answers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
