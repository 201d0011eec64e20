"""A contact's reading (フリガナ, F46): kept in full-width katakana, suggested for a name in kanji.

The suggestion comes from pykakasi's dictionary (one converter per process: building it reads
the dictionary, converting a name then takes microseconds). A name with Latin letters, digits
or a kanji the dictionary does not know gets no suggestion: a half-right reading sorted
among the others is worse than none.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

import pykakasi

from madoguchi.kit.collector import collector_off
from madoguchi.kit.errors import Invalid

MAX_LENGTH = 80

_HIRAGANA_START, _HIRAGANA_END = 0x3041, 0x3096  # ぁ … ゖ
_KANA_OFFSET = 0x60
# Katakana, the long vowel mark and the iteration marks; ・ and spaces between words.
_READING = re.compile(r"[\u30a1-\u30fa\u30fc-\u30fe・ ]+")
_KANJI = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆]")
# What a display name carries besides the name: 【担当者】 before it, (メモ) after it.
_ANNOTATIONS = re.compile(r"【[^】]*】|\([^)]*\)|\[[^\]]*\]")
_KANA = re.compile(r"[\u3041-\u3096\u309d\u309e\u30a1-\u30fa\u30fc-\u30fe]")


@cache
def _converter() -> Any:
    # Its dictionary is half a million lists and tuples read at once, with no cycles among
    # them: the cyclic collector walked them again and again as they came (0.40 -> 0.16 s;
    # a serving process's start, three full collections fewer: 0.81 -> 0.44 s in them).
    with collector_off():
        return pykakasi.kakasi()  # type: ignore[no-untyped-call]


def warm() -> None:
    """Load the dictionary now (the app does at start, in a thread)."""
    _converter()


def _katakana(text: str) -> str:
    return "".join(
        chr(ord(ch) + _KANA_OFFSET) if _HIRAGANA_START <= ord(ch) <= _HIRAGANA_END else ch
        for ch in text
    )


def normalize(text: str | None) -> str | None:
    """A reading as kept: full-width katakana (ｻﾄｳ, さとう and サトウ are all サトウ), words
    separated by one space; blank is None. Anything but kana is refused."""
    folded = " ".join(unicodedata.normalize("NFKC", text or "").split())
    if not folded:
        return None
    reading = _katakana(folded)
    if not _READING.fullmatch(reading):
        raise Invalid("A reading (フリガナ) must be written in kana only.")
    if len(reading) > MAX_LENGTH:
        raise Invalid("A reading (フリガナ) must be at most %(n)d characters.", n=MAX_LENGTH)
    return reading


def suggest(name: str) -> str | None:
    """The reading of a name in kanji and kana (a name in kana reads as written), or None when
    the name has Latin letters or digits, or a kanji the dictionary cannot read. Symbols and
    emoji carry no reading, nor what brackets add (【担当者】顧客氏名: the customer's name)."""
    bare = _ANNOTATIONS.sub(" ", unicodedata.normalize("NFKC", name))
    kept = "".join(ch if ch.isalnum() else " " for ch in bare)
    folded = " ".join(kept.split())
    if not folded or any(not (_KANJI.match(ch) or _KANA.match(ch)) for ch in kept if ch != " "):
        return None  # nothing to read, or letters that are neither kanji nor kana
    return _reading(folded)


# Names repeat (surnames, a LINE name seen again, the same customer under each member in charge:
# 【美咲】佐藤 花子 and 【店長】佐藤 花子): the same name, the same reading.
@lru_cache(maxsize=65_536)
def _reading(folded: str) -> str | None:
    parts: list[str] = []
    for part in _converter().convert(folded):
        original, kana = part["orig"], part["kana"]
        if not original.strip():
            parts.append(" ")
            continue
        letters = [ch for ch in original if ch.isalnum()]
        if not letters:
            continue  # symbols and emoji carry no reading
        if any(not (_KANJI.match(ch) or _KANA.match(ch)) for ch in letters):
            return None
        reading = "".join(ch for ch in _katakana(kana) if _READING.fullmatch(ch))
        if not reading.strip():
            return None  # a kanji the dictionary does not know
        parts.append(reading)
    suggested = " ".join("".join(parts).split())
    return suggested[:MAX_LENGTH].rstrip() or None
