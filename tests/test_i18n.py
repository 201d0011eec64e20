"""Every user-visible string and every domain error has a Japanese translation.

The msgids are extracted from the source with Babel (Python with gettext's keywords plus the
domain error classes, and the Jinja templates), so a string added without a translation fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir

import madoguchi
from madoguchi.kit.errors import DomainError, Invalid
from madoguchi.kit.i18n import catalog, gettext_for, translate_error

SOURCE_DIR = Path(madoguchi.__file__).resolve().parent
ERROR_CLASSES = (
    "DomainError",
    "BadRequest",
    "Invalid",
    "NotFound",
    "Conflict",
    "Forbidden",
    "Unauthorized",
    "TooManyAttempts",
)
KEYWORDS = {**DEFAULT_KEYWORDS, **{name: None for name in ERROR_CLASSES}}
METHOD_MAP = [("**.py", "python"), ("templates/**.html", "jinja2")]
OPTIONS_MAP = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]|%[sdifr]")


def extracted_msgids() -> dict[str, str]:
    """Each msgid found in the source, with where it was first seen."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        SOURCE_DIR, method_map=METHOD_MAP, options_map=OPTIONS_MAP, keywords=KEYWORDS
    ):
        msgids = message if isinstance(message, tuple) else (message,)
        for msgid in msgids:
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def placeholders(text: str) -> list[str]:
    return sorted(match.group(0) for match in PLACEHOLDER.finditer(text))


@pytest.fixture(scope="module")
def msgids() -> dict[str, str]:
    return extracted_msgids()


def test_extraction_finds_the_ui_and_the_domain_errors(msgids: dict[str, str]) -> None:
    assert "Inbox" in msgids
    assert "Unread (click to change)" in msgids
    assert "The e-mail or password is wrong." in msgids
    assert "A message can be at most %(n)d characters." in msgids


@pytest.mark.parametrize("language", ["ja", "en"])
def test_every_msgid_has_a_translation_with_the_same_placeholders(
    msgids: dict[str, str], language: str
) -> None:
    entries = catalog(language)
    missing = []
    mismatched = []
    for msgid, where in sorted(msgids.items()):
        entry = entries.get(msgid)
        # A fuzzy entry is left out at run time (kit.i18n compiles without them): it is missing.
        translation = entry.string if entry is not None and not entry.fuzzy else ""
        if isinstance(translation, tuple):
            translation = translation[0]
        if not translation:
            missing.append(f"{msgid!r} ({where})")
        elif placeholders(translation) != placeholders(msgid):
            mismatched.append(f"{msgid!r} -> {translation!r} ({where})")
    assert not missing, f"untranslated in {language}:\n" + "\n".join(missing)
    assert not mismatched, f"placeholders differ in {language}:\n" + "\n".join(mismatched)


def test_japanese_is_the_default_and_errors_are_translated_with_their_values() -> None:
    assert gettext_for(None).gettext("Inbox") == "受信箱"
    assert gettext_for("en").gettext("Inbox") == "Inbox"
    error = Invalid("A message can be at most %(n)d characters.", n=5000)
    assert "5000" in translate_error(error, "ja")
    assert translate_error(error, "ja") != str(error)
    assert translate_error(error, "en") == str(error)
    assert isinstance(error, DomainError)
