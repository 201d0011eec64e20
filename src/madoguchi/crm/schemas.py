from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from madoguchi.crm.memos import BODY_LIMIT, TITLE_LIMIT

Strict = ConfigDict(extra="forbid")


class StatusOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    color: str
    position: int


class StatusCreate(BaseModel):
    model_config = Strict
    name: str = Field(max_length=50)
    color: str = "#64748b"


class StatusUpdate(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, max_length=50)
    color: str | None = None


class Order(BaseModel):
    model_config = Strict
    ids: list[int]


class MarkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    color: str
    position: int
    renamable: bool


class MarkSet(BaseModel):
    model_config = Strict
    mark: StrictInt | StrictStr | None


class TagFolderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    parent_id: int | None
    position: int


class TagFolderCreate(BaseModel):
    model_config = Strict
    name: str = Field(max_length=50)
    parent_id: int | None = None


class TagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    folder_id: int | None
    position: int


class TagCreate(BaseModel):
    model_config = Strict
    name: str = Field(max_length=50)
    folder: int | str | None = None


class TagUpdate(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, max_length=50)
    folder: int | str | None = None


class TagsSet(BaseModel):
    model_config = Strict
    ids: list[int]


FieldTypeName = Literal[
    "text", "long_text", "number", "date", "select", "multi_select", "phone", "email", "url"
]


class FieldFolderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    position: int


class FieldFolderCreate(BaseModel):
    model_config = Strict
    name: str = Field(max_length=50)


class FieldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key: str
    label: str
    type: str
    folder_id: int | None
    options: list[str]
    show_in_chat: bool
    position: int


class FieldCreate(BaseModel):
    model_config = Strict
    key: str = Field(max_length=50)
    label: str = Field(max_length=100)
    type: FieldTypeName
    folder: int | str | None = None
    options: list[str] = Field(default_factory=list)
    show_in_chat: StrictBool = True


class FieldUpdate(BaseModel):
    model_config = Strict
    label: str | None = Field(default=None, max_length=100)
    folder: int | str | None = None
    options: list[str] | None = None
    show_in_chat: StrictBool | None = None


class FieldValueIn(BaseModel):
    model_config = Strict
    value: Any


class FieldValueOut(BaseModel):
    key: str
    value: Any


class BookField(BaseModel):
    model_config = Strict
    key: str = Field(max_length=50)
    label: str = Field(max_length=100)
    type: FieldTypeName
    options: list[str] = Field(default_factory=list)


class RecordBookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    fields: list[dict[str, Any]]
    position: int


class RecordBookCreate(BaseModel):
    model_config = Strict
    name: str = Field(max_length=50)
    fields: list[BookField] = Field(default_factory=list)


class RecordBookUpdate(BaseModel):
    model_config = Strict
    name: str | None = Field(default=None, max_length=50)
    fields: list[BookField] | None = None


class RecordOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    book_id: int
    contact_id: int
    at: datetime
    values: dict[str, Any]
    author_id: int | None
    created_at: datetime
    updated_at: datetime


class RecordCreate(BaseModel):
    model_config = Strict
    book: StrictInt | StrictStr
    at: datetime
    values: dict[str, Any] = Field(default_factory=dict)


class RecordUpdate(BaseModel):
    model_config = Strict
    at: datetime | None = None
    values: dict[str, Any] | None = None


class MemoOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    contact_id: int
    title: str
    body: str
    position: int
    author_id: int | None
    created_at: datetime
    updated_at: datetime


class MemoCreate(BaseModel):
    model_config = Strict
    title: str = Field(default="", max_length=TITLE_LIMIT)
    body: str = Field(default="", max_length=BODY_LIMIT)


class MemoUpdate(BaseModel):
    model_config = Strict
    title: str | None = Field(default=None, max_length=TITLE_LIMIT)
    body: str | None = Field(default=None, max_length=BODY_LIMIT)
