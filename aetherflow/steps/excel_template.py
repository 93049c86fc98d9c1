"""Excel workbooks for the Excel steps: opening a template (openpyxl, imported lazily), finding a target's cell by
named range, cell reference or anchor text, and saving the filled copy atomically.

Everything here raises ``ExcelInputError`` (permanent) for a template or target that cannot work, so a bad
template is never retried.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aetherflow.api import StepContext, StepFailed

EXTRA_HINT = "install the 'excel' extra (pip install 'aetherflow[excel]')"
#: cells an anchor text search looks at before giving up (a named range or a sheet avoids the scan)
MAX_SEARCH_CELLS = 200_000
_A1 = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")
_SPACE = re.compile(r"\s+")


class ExcelInputError(StepFailed):
    """A template, target or source the Excel steps cannot use; retrying cannot fix it."""


class ReportTooLargeError(ExcelInputError):
    """A ``report_region`` target has more rows than ``rows_threshold``."""

    def __init__(self, *, target: str, source: Path, row_count: int, rows_threshold: int) -> None:
        super().__init__(
            f"excel_fill_from_file target={target}: {source} has {row_count} rows, over rows_threshold="
            f"{rows_threshold}; use mode: data_sheet for large data, or raise rows_threshold"
        )
        self.target, self.source, self.row_count, self.rows_threshold = target, source, row_count, rows_threshold


def openpyxl_module() -> Any:
    """openpyxl, or a failure naming the extra to install."""
    try:
        import openpyxl
    except ImportError:
        raise StepFailed(f"the Excel steps need openpyxl: {EXTRA_HINT}") from None
    if not getattr(openpyxl, "DEFUSEDXML", False):
        # without defusedxml openpyxl parses a template's XML entities: an "XML bomb" template could exhaust memory
        raise StepFailed(f"the Excel steps need defusedxml to read templates safely: {EXTRA_HINT}")
    return openpyxl


def input_file(ctx: StepContext, raw: str, what: str) -> Path:
    """A single input file through the sandbox: a missing path or a directory fails the step naming it."""
    path = ctx.resolve_path(raw)
    if path.is_dir():
        raise ExcelInputError(f"{what} is a directory, not a file: {path}")
    if not path.exists():
        raise ExcelInputError(f"{what} does not exist: {path}")
    return path


def load_workbook(path: Path, what: str, *, data_only: bool = False) -> Any:
    """The workbook at ``path``; a file that is not an .xlsx workbook is an error naming it."""
    openpyxl = openpyxl_module()
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, data_only=data_only)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError) as exc:
        raise ExcelInputError(f"{what} {path} is not a readable .xlsx workbook: {exc}") from None


def save_workbook(wb: Any, ctx: StepContext, raw_output: str) -> Path:
    """Save through ``<output>.tmp`` and rename, so a failed save never leaves a half-written report."""
    out = ctx.resolve_path(raw_output)
    if out.is_dir():
        raise ExcelInputError(f"output is a directory: {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        wb.save(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def normalize(text: Any) -> str:
    """Anchor text as compared: no-break spaces as spaces, whitespace collapsed, trimmed."""
    return _SPACE.sub(" ", str(text).replace("\u00a0", " ")).strip()


def named_ranges(wb: Any) -> dict[str, list[tuple[str, str]]]:
    """Every defined name (workbook-wide, then sheet-scoped) -> its (sheet, range) destinations."""
    found: dict[str, list[tuple[str, str]]] = {}
    scopes: list[Any] = [wb.defined_names, *(ws.defined_names for ws in wb.worksheets)]
    for scope in scopes:
        for name, defined in scope.items():
            try:
                destinations = list(defined.destinations)
            except (AttributeError, ValueError, TypeError):
                destinations = []
            found.setdefault(name, destinations)
    return found


def text_cells(wb: Any, sheet: str | None) -> Iterator[tuple[Any, int, int, str]]:
    """(worksheet, row, column, normalized text) of every text cell of ``sheet`` (or of every sheet)."""
    for ws in [worksheet(wb, sheet)] if sheet else wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    yield ws, cell.row, cell.column, normalize(cell.value)


def worksheet(wb: Any, name: str) -> Any:
    """The sheet called ``name``; a missing sheet names the ones there are."""
    if name not in wb.sheetnames:
        raise ExcelInputError(f"sheet not found: {name!r}. Sheets: {wb.sheetnames}")
    return wb[name]


def _split_ref(text: str) -> tuple[str | None, str]:
    if "!" not in text:
        return None, text
    sheet, _, ref = text.rpartition("!")
    sheet = sheet.strip()
    if len(sheet) >= 2 and sheet[0] == sheet[-1] == "'":
        sheet = sheet[1:-1].replace("''", "'")
    return sheet or None, ref.strip()


def _cell_ref(ref: str) -> tuple[int, int] | None:
    from openpyxl.utils.cell import column_index_from_string

    match = _A1.fullmatch(ref.split(":", 1)[0].strip())
    if match is None:
        return None
    column, row = column_index_from_string(match.group(1).upper()), int(match.group(2))
    if row < 1 or column > 16384 or row > 1_048_576:
        return None
    return row, column


def _named(wb: Any, name: str) -> tuple[Any, int, int] | None:
    ranges = named_ranges(wb)
    key = name if name in ranges else next((k for k in ranges if k.lower() == name.lower()), None)
    if key is None:
        return None
    for title, ref in ranges[key]:
        where = _cell_ref(ref)
        if title in wb.sheetnames and where is not None:
            return wb[title], where[0], where[1]
    raise ExcelInputError(f"named range {key!r} does not point at a cell of this workbook: {ranges[key]}")


def _search(wb: Any, text: str, sheet: str | None, enterprise: bool) -> tuple[Any, int, int] | None:
    if enterprise and not sheet:
        raise ExcelInputError(f"anchor text {text!r}: enterprise mode needs 'sheet' (or use a named range)")
    needle = normalize(text).upper()
    for scanned, (ws, row, column, value) in enumerate(text_cells(wb, sheet)):
        if scanned >= MAX_SEARCH_CELLS:
            raise ExcelInputError(
                f"anchor text {text!r} not found in the first {MAX_SEARCH_CELLS} text cells; "
                "use a named range or set sheet"
            )
        if value.upper() == needle:
            return ws, row, column
    return None


def is_named(wb: Any, anchor: str | None) -> bool:
    """True when ``anchor`` is a defined name of the workbook."""
    if not anchor:
        return False
    return normalize(anchor).lower() in {name.lower() for name in named_ranges(wb)}


def locate(
    wb: Any, *, sheet: str | None, anchor: str | None, cell: str | None, enterprise: bool
) -> tuple[Any, int, int]:
    """(worksheet, row, column) of a target: ``anchor`` as a named range, a cell reference or an anchor text, else
    ``cell`` (``A1`` with ``sheet``, or ``Sheet!A1``)."""
    if sheet:
        worksheet(wb, sheet)
    if anchor:
        text = normalize(anchor)
        hit = _named(wb, text)
        if hit is None:
            ref_sheet, ref = _split_ref(text)
            if _cell_ref(ref) is not None:
                return _at_cell(wb, ref_sheet or sheet, ref, anchor)
            hit = _search(wb, text, sheet, enterprise)
        if hit is None:
            where = f"sheet {sheet!r}" if sheet else f"sheets {wb.sheetnames}"
            raise ExcelInputError(f"anchor not found: {text!r} is neither a named range nor a cell text in {where}")
        return hit
    if not cell:
        raise ExcelInputError("a target needs 'anchor' (named range or anchor text) or 'cell'")
    ref_sheet, ref = _split_ref(normalize(cell))
    return _at_cell(wb, ref_sheet or sheet, ref, cell)


def _at_cell(wb: Any, sheet: str | None, ref: str, given: str) -> tuple[Any, int, int]:
    where = _cell_ref(ref)
    if where is None:
        raise ExcelInputError(f"not a cell reference: {given!r} (use A1 or Sheet!A1)")
    if not sheet:
        raise ExcelInputError(f"cell {given!r} needs a sheet: set 'sheet' or write 'Sheet!{ref}'")
    return worksheet(wb, sheet), where[0], where[1]


# openpyxl's insert_rows moves cell values and styles only: names and merged ranges below would keep pointing at
# the old rows, so a later target would write over the rows just filled. They are moved here the way Excel moves them.
_NAME_REF = re.compile(
    r"(?P<sheet>'(?:[^']|'')+'|[^\s!,:'()=+\-*/&^<>]+)!"
    r"(?P<c1>\$?[A-Za-z]{1,3})(?P<r1>\$?)(?P<n1>[0-9]+)"
    r"(?::(?P<c2>\$?[A-Za-z]{1,3})(?P<r2>\$?)(?P<n2>[0-9]+))?"
)


def _moved_ref(match: re.Match[str], title: str, at: int, amount: int) -> str:
    sheet = match.group("sheet")
    plain = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
    if plain != title:
        return match.group(0)
    top = int(match.group("n1"))
    text = f"{sheet}!{match.group('c1')}{match.group('r1')}{top + amount if top >= at else top}"
    if match.group("n2") is not None:
        bottom = int(match.group("n2"))
        text += f":{match.group('c2')}{match.group('r2')}{bottom + amount if bottom >= at else bottom}"
    return text


def rows_inserted(ws: Any, at: int, amount: int) -> None:
    """Move the defined names and merged ranges of ``ws`` at or below row ``at`` down by ``amount`` rows."""
    wb = ws.parent
    for scope in (wb.defined_names, *(sheet.defined_names for sheet in wb.worksheets)):
        for defined in scope.values():
            text = defined.attr_text
            if isinstance(text, str) and "!" in text:
                defined.attr_text = _NAME_REF.sub(lambda m: _moved_ref(m, ws.title, at, amount), text)
    ranges = ws.merged_cells.ranges  # a set hashed by the bounds: take a range out before changing it
    for merged in [m for m in ranges if m.max_row >= at]:
        ranges.discard(merged)
        if merged.min_row >= at:
            merged.shift(row_shift=amount)
        else:
            merged.expand(down=amount)
        ranges.add(merged)
