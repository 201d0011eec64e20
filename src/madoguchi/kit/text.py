"""Text normalisation for search (F46) and the n-grams the search index stores."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# A web address in a message: linked when shown, and no @mention inside it.
WEB_ADDRESS = re.compile(r"https?://[^\s<>\"'、。「」（）]+")
_KATAKANA_START = 0x30A1
_KATAKANA_END = 0x30F6
_KANA_OFFSET = 0x60


# What no database keeps in text: NUL (PostgreSQL refuses it) and the lone halves of a UTF-16
# surrogate pair (a broken "\\ud83d" JSON escape: neither driver can encode one).
UNSTORABLE = dict.fromkeys([0, *range(0xD800, 0xE000)])


def storable(text: str) -> str:
    """The text without the characters no database keeps (see above)."""
    return text.translate(UNSTORABLE)


def has_unstorable(text: str) -> bool:
    return storable(text) != text


# Katakana to hiragana for ``str.translate``: a table indexed by code point, up to the last
# katakana folded (a character past its end is left as it is).
_KANA_FOLD = "".join(
    chr(c - _KANA_OFFSET) if _KATAKANA_START <= c <= _KATAKANA_END else chr(c)
    for c in range(_KATAKANA_END + 1)
)


def normalize(text: str) -> str:
    """Fold width, case and kana: ＡＢＣ = abc, and カタカナ = ｶﾀｶﾅ = かたかな."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_KANA_FOLD)


# What is not a letter or a digit: ``\W`` is what ``str.isalnum`` refuses, and the underscore.
_NOT_ALNUM = re.compile(r"[\W_]+")


def search_key(text: str) -> str:
    """The letters and digits (``str.isalnum``) of a normalised text: what search compares.
    One regular expression rather than a test per character: a third of the time, and every
    message stored, every name and every query passes here."""
    return _NOT_ALNUM.sub("", normalize(text))


def gram_sequence(text: str) -> list[str]:
    """Overlapping bigrams in order, then the last character alone.

    Every substring of two or more characters is then a run of adjacent bigrams (a phrase query),
    and every single character starts some token (a prefix query).
    """
    return key_sequence(search_key(text))


def key_sequence(key: str) -> list[str]:
    """``gram_sequence`` of a text whose search_key is ``key``."""
    if not key:
        return []
    grams = [key[i : i + 2] for i in range(len(key) - 1)]
    grams.append(key[-1])
    return grams


def gram_set(text: str) -> list[str]:
    """The distinct bigrams and characters of a text (for an array index)."""
    return sorted(grams_in(gram_sequence(text)))


def grams_in(sequence: Sequence[str]) -> set[str]:
    """The distinct bigrams and characters of a gram_sequence: every character starts a
    bigram but the last, which stands alone at the end."""
    return {*sequence, *(gram[0] for gram in sequence)}


def grams_of(texts: Sequence[str]) -> frozenset[str]:
    """Every distinct gram of the texts together (a conversation's names and messages)."""
    grams: set[str] = set()
    for body in texts:
        grams.update(grams_in(gram_sequence(body)))
    return frozenset(grams)


def query_grams(query: str) -> list[str]:
    """What a query must contain: its bigrams, or the single character it is."""
    chars = search_key(query)
    if len(chars) == 1:
        return [chars]
    return [chars[i : i + 2] for i in range(len(chars) - 1)]


def like_pattern(query: str) -> str:
    """A LIKE pattern (escape character ``\\``) matching the query's search key anywhere."""
    escaped = search_key(query).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def preview(text: str, length: int = 120) -> str:
    """One line for the inbox list."""
    line = " ".join(text.split())
    return line if len(line) <= length else line[: length - 1] + "…"


def without_web_addresses(text: str) -> str:
    """``text`` with each web address blanked out (same length, so positions still match)."""
    return WEB_ADDRESS.sub(lambda match: " " * len(match.group()), text)
