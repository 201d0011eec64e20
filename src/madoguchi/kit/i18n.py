"""Translations: gettext catalogues under ``madoguchi/locale`` (English msgids, Japanese first).

The ``.po`` files are read at start-up, so there is no compile step and no generated file.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from madoguchi.kit.errors import DomainError

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


@cache
def translations(language: str) -> gettext.NullTranslations:
    po_path = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return gettext.NullTranslations()
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def pick_language(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def gettext_for(language: str | None) -> gettext.NullTranslations:
    return translations(pick_language(language))


def translate_error(error: DomainError, language: str | None) -> str:
    message = gettext_for(language).gettext(error.message)
    return message % error.params if error.params else message
