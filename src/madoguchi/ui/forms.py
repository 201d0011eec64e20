"""Reading the staff UI's posted forms: ids from check boxes, texts, and Japan-time inputs."""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import FormData

from madoguchi.kit.errors import Invalid


def text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def ids(form: FormData, name: str) -> list[int]:
    """The ids posted under one name (check boxes, hidden inputs), in order; junk is skipped."""
    return [int(v) for v in form.getlist(name) if isinstance(v, str) and v.isdigit()]


def reference(form: FormData, name: str) -> int | None:
    """An id chosen in a select: the id, or None for 「なし」."""
    value = (text(form, name) or "").strip()
    return int(value) if value.isdigit() else None


def parse_local(raw: str | None) -> datetime:
    """A ``datetime-local`` value; without a zone, the services take it as Japan time."""
    try:
        return datetime.fromisoformat((raw or "").strip())
    except ValueError:
        raise Invalid("Give the date and time like 2026-04-01 14:30.") from None
