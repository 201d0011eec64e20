"""Typed values of profile fields and record-book fields: checking what a member or a file gives."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from madoguchi.crm.models import FieldType
from madoguchi.kit.clean import EMAIL, PHONE
from madoguchi.kit.errors import Invalid

TEXT_LIMIT = 1000
LONG_TEXT_LIMIT = 5000
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)

Value = str | float | int | date | list[str]


def _text(raw: Any, label: str, limit: int) -> str:
    # A number is not quietly made a text: the sender meant something else.
    if not isinstance(raw, str):
        raise Invalid("%(label)s takes text.", label=label)
    value = raw.strip()
    if len(value) > limit:
        raise Invalid("%(label)s can be at most %(n)d characters.", label=label, n=limit)
    return value


def _number(raw: Any, label: str) -> float | int:
    if isinstance(raw, bool):
        raise Invalid("%(label)s takes a number.", label=label)
    if isinstance(raw, int | float):
        number = float(raw)
    elif isinstance(raw, str):
        cleaned = unicodedata.normalize("NFKC", raw).replace(",", "").strip()
        try:
            number = float(cleaned)
        except ValueError:
            raise Invalid(
                "%(label)s takes a number, not %(value)s.", label=label, value=raw
            ) from None
    else:
        raise Invalid("%(label)s takes a number.", label=label)
    if number != number or number in (float("inf"), float("-inf")):
        raise Invalid("%(label)s takes a number.", label=label)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def parse_date(raw: Any, label: str) -> date:
    """A date as YYYY-MM-DD (or YYYY/MM/DD, as Japanese spreadsheets write it)."""
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        cleaned = unicodedata.normalize("NFKC", raw).strip().replace("/", "-")
        match = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", cleaned)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                pass
    raise Invalid("%(label)s takes a date like 2026-04-01, not %(value)s.", label=label, value=raw)


def split_choices(text: str) -> list[str]:
    """Choices or tag names written in one cell: separated by , 、 or ，."""
    return [part.strip() for part in re.split(r"[,、，]", text) if part.strip()]


def _choices(raw: Any, label: str, options: list[str]) -> list[str]:
    if isinstance(raw, str):
        items = split_choices(raw)
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        items = [item.strip() for item in raw if item.strip()]
    else:
        raise Invalid("%(label)s takes a list of choices.", label=label)
    for item in items:
        if item not in options:
            raise Invalid("%(value)s is not a choice of %(label)s.", value=item, label=label)
    return list(dict.fromkeys(items))


def coerce(
    field_type: str, raw: Any, *, label: str, options: list[str] | None = None
) -> Value | None:
    """The typed value, or None for empty; a wrong value is an ``Invalid`` naming the field."""
    if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
        return None
    match field_type:
        case FieldType.text:
            return _text(raw, label, TEXT_LIMIT)
        case FieldType.long_text:
            return _text(raw, label, LONG_TEXT_LIMIT)
        case FieldType.number:
            return _number(raw, label)
        case FieldType.date:
            return parse_date(raw, label)
        case FieldType.select:
            value = _text(raw, label, TEXT_LIMIT)
            if value not in (options or []):
                raise Invalid("%(value)s is not a choice of %(label)s.", value=value, label=label)
            return value
        case FieldType.multi_select:
            return _choices(raw, label, options or []) or None
        case FieldType.phone:
            value = unicodedata.normalize("NFKC", _text(raw, label, 50))
            if not PHONE.match(value):
                raise Invalid(
                    "%(label)s takes a phone number, not %(value)s.", label=label, value=raw
                )
            return value
        case FieldType.email:
            value = unicodedata.normalize("NFKC", _text(raw, label, 320)).lower()
            if not EMAIL.match(value):
                raise Invalid(
                    "%(label)s takes an e-mail address, not %(value)s.", label=label, value=raw
                )
            return value
        case FieldType.url:
            value = _text(raw, label, TEXT_LIMIT)
            if not _URL.match(value):
                raise Invalid(
                    "%(label)s takes a web address (https://…), not %(value)s.",
                    label=label,
                    value=raw,
                )
            return value
    raise Invalid("Unknown field type %(type)s.", type=field_type)


def to_json(value: Value | None) -> Any:
    """The value as JSON: dates as ISO strings."""
    if isinstance(value, date):
        return value.isoformat()
    return value


_KEY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")


def check_key(key: str) -> str:
    """A field's key as used in the API and in filters (``field.<key>``)."""
    key = key.strip()
    if not _KEY.match(key):
        raise Invalid("A field key is a-z, 0-9 and _, starting with a letter (like birthday).")
    return key


def check_type(field_type: str) -> str:
    if field_type not in set(FieldType):
        raise Invalid(
            "Unknown field type %(type)s (one of: %(types)s).",
            type=field_type,
            types=", ".join(FieldType),
        )
    return field_type


def check_options(field_type: str, options: list[str] | None) -> list[str]:
    cleaned = [option.strip() for option in options or [] if option.strip()]
    if field_type in (FieldType.select, FieldType.multi_select) and not cleaned:
        raise Invalid("A select field needs at least one choice.")
    if len(set(cleaned)) != len(cleaned):
        raise Invalid("The choices must differ from each other.")
    if any(len(option) > 100 or "\n" in option for option in cleaned):
        raise Invalid("A choice is one line of at most 100 characters.")
    return cleaned if field_type in (FieldType.select, FieldType.multi_select) else []
