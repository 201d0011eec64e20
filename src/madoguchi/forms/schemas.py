from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madoguchi.contacts.models import Contact
from madoguchi.forms.models import Form, FormAnswer
from madoguchi.forms.service import MAX_CHOICES, MAX_LABEL, MAX_NAME, MAX_QUESTIONS, public_url


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(max_length=50)
    label: str = Field(max_length=MAX_LABEL)
    type: Literal["text", "choice", "date", "number", "consent"]
    # A choice question's options, in the order shown.
    choices: list[str] | None = Field(default=None, max_length=MAX_CHOICES)
    required: bool = False
    # Where the answer goes: "field:<key>", "tag:<id>", "name", "email" or "phone".
    maps_to: str | None = Field(default=None, max_length=60)


class FormIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=MAX_NAME)
    fields: list[QuestionIn] = Field(max_length=MAX_QUESTIONS)


class FormUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=MAX_NAME)
    fields: list[QuestionIn] | None = Field(default=None, max_length=MAX_QUESTIONS)
    # A closed form's page answers 404; its answers stay.
    closed: bool | None = None


class QuestionOut(BaseModel):
    key: str
    label: str
    type: str
    choices: list[str]
    required: bool
    maps_to: str | None


class FormOut(BaseModel):
    id: int
    name: str
    # The public page: GET shows it, POST (form-encoded) answers it.
    url: str
    fields: list[QuestionOut]
    closed: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, form: Form, base_url: str) -> FormOut:
        return cls(
            id=form.id,
            name=form.name,
            url=public_url(base_url, form),
            fields=[QuestionOut.model_validate(q) for q in form.fields],
            closed=form.closed,
            created_at=form.created_at,
            updated_at=form.updated_at,
        )


class AnswerOut(BaseModel):
    id: int
    form_id: int
    contact_id: int
    contact_name: str
    # By question key: text, a choice, an ISO date, a number, or true for a ticked consent;
    # null when not answered.
    answers: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, answer: FormAnswer, contact: Contact) -> AnswerOut:
        return cls(
            id=answer.id,
            form_id=answer.form_id,
            contact_id=contact.id,
            contact_name=contact.display_name,
            answers=answer.answers,
            created_at=answer.created_at,
        )


class AnswerPageOut(BaseModel):
    items: list[AnswerOut]
    next_cursor: int | None


class FormLinkOut(BaseModel):
    url: str
