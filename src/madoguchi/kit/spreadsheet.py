"""Cells written for a spreadsheet: a text that a spreadsheet would run as a formula is written
as plain text instead (CSV/formula injection, OWASP's advice), in every file the product writes.

A customer chooses their own name: ``=HYPERLINK("http://evil.example", "click")`` or
``+1+cmd|' /C calc'!A0`` must reach the owner's Excel as the words it is, never as a formula.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

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
