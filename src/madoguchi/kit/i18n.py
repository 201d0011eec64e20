"""Translations: gettext catalogues under ``madoguchi/locale`` (English msgids, Japanese first).

The ``.po`` files are read at start-up, so there is no compile step and no generated file.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from madoguchi.kit.errors import DomainError

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


def N_(message: str) -> str:
    """Marks a msgid for extraction where it is translated later (system messages)."""
    return message


def catalog(language: str) -> Catalog:
    """Every ``.po`` file of a language merged, ``messages.po`` first (areas of the UI may keep
    a file of their own, such as ``workspace.po``)."""
    merged = Catalog(locale=language)
    folder = LOCALE_DIR / language / "LC_MESSAGES"
    paths = sorted(folder.glob("*.po"), key=lambda path: (path.name != "messages.po", path.name))
    for path in paths:
        with path.open("rb") as po_file:
            for message in read_po(po_file, locale=language):
                if message.id and message.id not in merged:
                    merged[message.id] = message
    return merged


@cache
def translations(language: str) -> gettext.NullTranslations:
    merged = catalog(language)
    if not len(merged):
        return gettext.NullTranslations()
    buffer = io.BytesIO()
    write_mo(buffer, merged)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick_language(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def gettext_for(language: str | None) -> gettext.NullTranslations:
    return translations(pick_language(language))


def translate_error(error: DomainError, language: str | None) -> str:
    message = gettext_for(language).gettext(error.message)
    return message % error.params if error.params else message
