"""CSV that spreadsheets cannot run: every export writes through `writer()`, which neutralises every text cell.

Excel, LibreOffice and Google Sheets treat a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
as a formula (OWASP "CSV injection"). Such a cell gets a leading apostrophe, which the spreadsheet shows as text
and does not run. Plain numbers (`-3`, `+12.5`) are left alone: they are not formulas and a quote would turn a
number into text. Leaf utility: imports nothing of the app.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(value: Any) -> Any:
    """The cell as a spreadsheet may safely open it: a text cell starting with a formula trigger gets a quote."""
    if not isinstance(value, str) or not value.startswith(TRIGGERS):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


class SafeWriter:
    """`csv.writer` whose every row is neutralised cell by cell (headers too)."""

    def __init__(self, fh: IO[str], **kwargs: Any):
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        """Write one row, neutralising every text cell."""
        return self._writer.writerow([neutralise(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        """Write many rows, neutralising every text cell."""
        for row in rows:
            self.writerow(row)


def writer(fh: IO[str], **kwargs: Any) -> SafeWriter:
    """The one CSV writer every export uses (see the module docstring)."""
    return SafeWriter(fh, **kwargs)
