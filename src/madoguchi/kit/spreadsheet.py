"""Cells written for a spreadsheet: a text that a spreadsheet would run as a formula is written
as plain text instead (CSV/formula injection, OWASP's advice), in every file the product writes.

A customer chooses their own name: ``=HYPERLINK("http://evil.example", "click")`` or
``+1+cmd|' /C calc'!A0`` must reach the owner's Excel as the words it is, never as a formula.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from madoguchi.kit.errors import Invalid

# What starts a formula in Excel, LibreOffice or Google Sheets (a tab or a carriage return
# can hide one behind it).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Excel shows a cell that starts with an apostrophe as the text after it.
TEXT_MARK = "'"


def neutralised(cell: Any) -> Any:
    """The cell as a spreadsheet keeps it as text. Numbers stay numbers (``-3`` is a number,
    not a formula); only texts are marked."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return TEXT_MARK + cell
    return cell


def restored(cell: str) -> str:
    """A cell as written before :func:`neutralised` marked it: a file exported here and imported
    again gives back the same names."""
    if cell.startswith(TEXT_MARK) and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


class CsvWriter:
    """``csv.writer`` with every cell neutralised; rows end with CRLF, as Excel expects."""

    def __init__(self, out: IO[str]) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([neutralised(cell) for cell in row])


# --- the file's bytes -------------------------------------------------------------------------

# The encodings a CSV download offers: UTF-8 with a BOM (Excel opens it right), or Shift_JIS as
# Windows writes it (cp932), for software that reads nothing else.
CSV_ENCODINGS = ("utf-8", "cp932")
# What Shift_JIS cannot hold (an emoji, a rare kanji) is written as this, a character every
# Shift_JIS reader shows (the 下駄記号, the printers' mark for a missing character).
STAND_IN = "〓"
# The response header of a CSV download that says how many cells hold a stand-in.
REPLACED_CELLS_HEADER = "X-Madoguchi-Replaced-Cells"
# Characters with a look-alike in cp932: written as it, not as a stand-in (nothing visible changes).
_LOOK_ALIKES = str.maketrans({"\u2014": "\u2015", "\u00a0": " "})
# Marks that only shape the character before them (emoji joiners, variation selectors, skin
# tones, tag letters): they go with that character's stand-in instead of making another.
_JOINER = "\u200d"


@dataclass(frozen=True)
class EncodedCsv:
    data: bytes
    # How many cells hold a stand-in (0 in UTF-8, which holds every character).
    replaced_cells: int


def _holds(text: str) -> bool:
    try:
        text.encode("cp932")
    except UnicodeEncodeError:
        return False
    return True


def _is_modifier(char: str) -> bool:
    code = ord(char)
    return (
        char == _JOINER
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or unicodedata.category(char) in ("Mn", "Me")
    )


def shift_jis_text(text: str) -> str:
    """The text as cp932 can hold it: each character it cannot (with the marks that shape it,
    so a family emoji is one stand-in) becomes :data:`STAND_IN`."""
    text = text.translate(_LOOK_ALIKES)
    if _holds(text):
        return text
    out: list[str] = []
    joined = False  # the previous stand-in ended with a joiner: the next character is part of it
    for char in text:
        if _holds(char):
            if joined and not _is_modifier(char) and out and out[-1] == STAND_IN:
                joined = False
                continue
            out.append(char)
            joined = False
        elif out and out[-1] == STAND_IN and (joined or _is_modifier(char)):
            joined = char == _JOINER
        else:
            out.append(STAND_IN)
            joined = False
    return "".join(out)


def encode_csv(text: str, encoding: str) -> EncodedCsv:
    """A CSV download's bytes, in every export that offers a choice of characters: UTF-8 with a
    BOM, or cp932 where a character it cannot hold is written as :data:`STAND_IN` (never a
    refusal: a file with a stand-in is more use than none), with the count of cells changed."""
    if encoding not in CSV_ENCODINGS:
        raise Invalid("The encoding is utf-8 or cp932.")
    if encoding == "utf-8":
        return EncodedCsv("\ufeff".encode() + text.encode("utf-8"), 0)
    text = text.translate(_LOOK_ALIKES)
    if _holds(text):
        return EncodedCsv(text.encode("cp932"), 0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    replaced = 0
    for row in csv.reader(io.StringIO(text, newline="")):
        cells = []
        for cell in row:
            held = shift_jis_text(cell)
            replaced += held != cell
            cells.append(held)
        writer.writerow(cells)
    return EncodedCsv(out.getvalue().encode("cp932"), replaced)
