"""CSV files out: what a spreadsheet would run.

`writer()` is the one CSV writer of every export. A cell that a spreadsheet
would run as a formula — one beginning with `=`, `+`, `-`, `@`, tab, carriage
return or line feed — is neutralised the way OWASP recommends
(https://owasp.org/www-community/attacks/CSV_Injection): a single quote is put
in front, so Excel, LibreOffice and Google Sheets show the text instead of
running it; the csv module quotes separators and quotes, so no cell can start
a new one. `restore()` takes that quote off again when Countersign reads its
own export back, so an export imports as it was.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

# OWASP's list of characters a cell must not begin with.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralise(cell: str) -> str:
    """`cell` as a spreadsheet may safely show it (OWASP: a leading `'`)."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def restore(cell: str) -> str:
    """The inverse of `neutralise`, for reading an export back."""
    if cell.startswith("'") and cell[1:2] in FORMULA_START and len(cell) > 1:
        return cell[1:]
    return cell


class SafeWriter:
    """`csv.writer` with every cell neutralised; a row holding a bare
    carriage return is quoted whole (the csv module quotes only the line
    terminator's characters, so such a row would split when read back)."""

    def __init__(self, out: IO[str]) -> None:
        self._plain = csv.writer(out, lineterminator="\n")
        self._quoted = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)

    def writerow(self, row: Iterable[Any]) -> None:
        cells = ["" if v is None else neutralise(str(v)) for v in row]
        (self._quoted if any("\r" in c for c in cells) else self._plain).writerow(cells)


def writer(out: IO[str]) -> SafeWriter:
    return SafeWriter(out)
