"""Reading the staff UI's posted forms: ids from check boxes, texts, and Japan-time inputs."""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import FormData

from madoguchi.kit.errors import Invalid
from madoguchi.kit.ids import is_id


def text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _as_id(value: str) -> int | None:
    """The id written in ``value`` (ASCII digits, within the ids' range), or None."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if is_id(number) else None


def ids(form: FormData, name: str) -> list[int]:
    """The ids posted under one name (check boxes, hidden inputs), in order; junk is skipped."""
    found = [_as_id(v) for v in form.getlist(name) if isinstance(v, str)]
    return [number for number in found if number is not None]


def reference(form: FormData, name: str) -> int | None:
    """An id chosen in a select: the id, or None for 「なし」 (sent as "" or "none"). Anything
    else is refused: a wrong choice must not clear the current one."""
    value = (text(form, name) or "").strip()
    if value in ("", "none"):
        return None
    number = _as_id(value)
    if number is None:
        raise Invalid("%(value)s is not one of the choices.", value=value)
    return number


def parse_local(raw: str | None) -> datetime:
    """A ``datetime-local`` value; without a zone, the services take it as Japan time."""
    try:
        return datetime.fromisoformat((raw or "").strip())
    except ValueError:
        raise Invalid("Give the date and time like 2026-04-01 14:30.") from None
