"""Writing one target's block into a worksheet: where it starts, rows inserted below a template header, the header,
the data rows, the style copied from a template row, and the rectangle it covers (for the overlap check).

The layout, as the template author sees it::

    [ANCHOR]            <- r_anchor (a marker row when anchor_is_marker)
    [HEADER ...]        <- r0 = r_anchor + 1 (marker) or r_anchor
    [DATA ...]          <- data_start = r0 + 1 when the template has a header row or one is written, else r0

With ``insert: below`` and a template header row, rows are inserted at ``data_start``, never at ``r0``, so the
header row keeps its place and its formatting.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from copy import copy
from dataclasses import dataclass, field
from typing import Any

from aetherflow.api import CancelToken, Interrupted
from aetherflow.steps.excel_template import ExcelInputError, rows_inserted

MAX_ROW = 1_048_576
MAX_COLUMN = 16_384
MAX_TEXT = 32_767
_CANCEL_EVERY = 1000


@dataclass(frozen=True, slots=True)
class Styling:
    """How a target copies formatting from a template row (``style_mode: copy_row``)."""

    mode: str = "none"
    apply: str = "data"
    row_offset: int = 2
    clear_row: bool = False
    header_style: str = "template"

    @property
    def to_data(self) -> bool:
        return self.mode == "copy_row" and self.apply in ("data", "both")

    @property
    def to_header(self) -> bool:
        return self.mode == "copy_row" and self.header_style == "style_row" and self.apply in ("header", "both")


@dataclass(slots=True)
class Region:
    """One target's block on its sheet, written by ``insert``, ``write_header`` and ``write_rows`` in that order."""

    label: str  # "<step> target=<name>", the prefix of every error
    ws: Any
    r_anchor: int
    c0: int
    anchor_is_marker: bool
    template_has_header: bool
    writes_header: bool
    styling: Styling = field(default_factory=Styling)
    width: int = 0
    data_rows: int = 0
    _style_row: int | None = None
    _styles: list[Any] = field(default_factory=list)

    @property
    def r0(self) -> int:
        return self.r_anchor + (1 if self.anchor_is_marker else 0)

    @property
    def data_start(self) -> int:
        return self.r0 + (1 if self.writes_header or self.template_has_header else 0)

    @property
    def block_rows(self) -> int:
        """Rows the block covers: the header row (the template's or a written one) and the data rows."""
        return (1 if self.writes_header or self.template_has_header else 0) + self.data_rows

    def clear_anchor(self, mode: str, width: int) -> None:
        """Remove the visible anchor text (values only: formatting stays)."""
        self.clear_values(self.r_anchor, self.c0, 1 if mode == "cell" else width)

    def clear_values(self, row: int, col: int, width: int) -> None:
        for j in range(max(0, width)):
            self.ws.cell(row=row, column=col + j).value = None

    def capture_style(self, width: int) -> None:
        """Remember the style row's formatting before rows are inserted (insertion would move it away)."""
        if self.styling.mode != "copy_row":
            return
        base = self.r_anchor if self.anchor_is_marker else self.r0
        self._style_row = base + self.styling.row_offset
        # the cell's style record, copied whole: faster than six attribute copies per written cell
        self._styles = [copy(self.ws.cell(row=self._style_row, column=self.c0 + j)._style) for j in range(width)]

    def insert(self, mode: str, data_rows: int) -> None:
        """Make room for ``data_rows`` rows (``insert: below``) so content under the block moves down."""
        if mode != "below":
            return
        at, amount = self.data_start, data_rows
        if not self.template_has_header:
            at, amount = self.r0, data_rows + (1 if self.writes_header else 0)
        if amount <= 0:
            return
        self.ws.insert_rows(at, amount=amount)
        rows_inserted(self.ws, at, amount)
        if self._style_row is not None and self._style_row >= at:
            self._style_row += amount

    def write_header(self, header: Sequence[Any], clear: bool, clear_width: int | None) -> None:
        """Write the header values at ``r0`` (after clearing the old header text, formatting kept)."""
        if clear:
            self.clear_values(
                self.r0, self.c0, clear_width if clear_width is not None else max(len(header), self.width)
            )
        for j, value in enumerate(header):
            cell = self._put(self.r0, j, value, "header")
            if self.styling.to_header and j < len(self._styles):
                cell._style = copy(self._styles[j])
        self.width = max(self.width, len(header))

    def write_rows(self, rows: Iterable[Sequence[Any]], cancelled: CancelToken) -> None:
        """Write the data rows from ``data_start``, copying the style row's formatting when asked."""
        styled = self.styling.to_data
        for i, row in enumerate(rows):
            if i % _CANCEL_EVERY == 0 and cancelled.is_set():
                raise Interrupted(f"{self.label} stopped: stop requested")
            r = self.data_start + i
            if r > MAX_ROW:
                raise ExcelInputError(f"{self.label}: more rows than a worksheet holds ({MAX_ROW})")
            for j, value in enumerate(row):
                cell = self._put(r, j, value, f"row {i + 1}")
                if styled and j < len(self._styles):
                    cell._style = copy(self._styles[j])
            self.width = max(self.width, len(row))
            self.data_rows = i + 1

    def finish(self) -> None:
        """Clear the style row's sample values, unless the data was written over it."""
        row = self._style_row
        if row is None or not self.styling.clear_row:
            return
        if self.data_start <= row < self.data_start + self.data_rows:
            return
        self.clear_values(row, self.c0, max(self.width, len(self._styles)))

    def rect(self) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) of the block."""
        return self.r0, self.c0, self.r0 + max(0, self.block_rows - 1), self.c0 + max(0, self.width - 1)

    def _put(self, row: int, j: int, value: Any, what: str) -> Any:
        col = self.c0 + j
        if col > MAX_COLUMN:
            raise ExcelInputError(f"{self.label}: {what} has more columns than a worksheet holds ({MAX_COLUMN})")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ExcelInputError(
                f"{self.label}: {what} column {j + 1} has {len(value)} characters; Excel cells hold {MAX_TEXT}"
            )
        if isinstance(value, dt.datetime | dt.time) and value.tzinfo is not None:
            value = _without_zone(value)
        cell = self.ws.cell(row=row, column=col)
        try:
            cell.value = value
        except _illegal_character_error():
            raise ExcelInputError(
                f"{self.label}: {what} column {j + 1} holds a control character Excel cannot store"
            ) from None
        except (ValueError, TypeError):
            # the library's message quotes the value, and report data is not for logs
            kind = type(value).__name__
            raise ExcelInputError(
                f"{self.label}: {what} column {j + 1} holds a {kind} value Excel cannot store"
            ) from None
        if isinstance(value, str) and cell.data_type in ("f", "e"):
            # data is data: text such as "=HYPERLINK(...)" or "#N/A" must not become a live formula or an error cell
            cell.data_type = "s"
        return cell


def _without_zone(value: dt.datetime | dt.time) -> dt.datetime | dt.time:
    """Excel has no time zones: an aware datetime is written as its UTC time, an aware time as its wall time."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(tzinfo=None)


@functools.cache
def _illegal_character_error() -> type[Exception]:
    from openpyxl.utils.exceptions import IllegalCharacterError

    error: type[Exception] = IllegalCharacterError
    return error


class OverlapGuard:
    """Targets of one step may not write over each other on the same sheet."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.seen: list[tuple[str, str, tuple[int, int, int, int]]] = []

    def check(self, name: str, sheet: str, rect: tuple[int, int, int, int]) -> None:
        top, left, bottom, right = rect
        for other, other_sheet, (t, lf, b, r) in self.seen:
            if other_sheet == sheet and not (bottom < t or b < top or right < lf or r < left):
                raise ExcelInputError(
                    f"{self.step} targets overlap on sheet {sheet!r}: {name!r} {_a1(rect)} and {other!r} "
                    f"{_a1((t, lf, b, r))}"
                )
        self.seen.append((name, sheet, rect))


def _a1(rect: tuple[int, int, int, int]) -> str:
    from openpyxl.utils.cell import get_column_letter

    top, left, bottom, right = rect
    return f"{get_column_letter(left)}{top}:{get_column_letter(right)}{bottom}"
