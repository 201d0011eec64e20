"""What a member types, cleaned the one way every domain uses: names, colours, e-mail addresses and
phone numbers."""

from __future__ import annotations

import re
import unicodedata

from madoguchi.kit.errors import Invalid
from madoguchi.kit.text import storable

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9()\- ]{6,25}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def clean_color(color: str) -> str:
    if not _COLOR.match(color):
        raise Invalid("A colour is written like #2563eb.")
    return color.lower()


def clean_name(name: str, limit: int = 50) -> str:
    name = storable(name).strip()
    if not name or len(name) > limit:
        raise Invalid("A name must be 1 to %(n)d characters.", n=limit)
    return name


def email_address(raw: str | None) -> str | None:
    """A contact's e-mail address (None for empty), normalised."""
    if raw is None or not str(raw).strip():
        return None
    value = unicodedata.normalize("NFKC", str(raw)).strip().lower()
    if not EMAIL.match(value) or len(value) > 320:
        raise Invalid("%(email)s is not an e-mail address.", email=raw)
    return value


def phone_number(raw: str | None) -> str | None:
    """A contact's phone number (None for empty), in half-width digits."""
    if raw is None or not str(raw).strip():
        return None
    value = unicodedata.normalize("NFKC", str(raw)).strip()
    if not PHONE.match(value):
        raise Invalid("%(value)s is not a phone number.", value=raw)
    return value
