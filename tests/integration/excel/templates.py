"""Template workbooks for the Excel step tests, built with openpyxl the way a report author lays them out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

openpyxl = pytest.importorskip("openpyxl")

from openpyxl.styles import Font, PatternFill  # noqa: E402
from openpyxl.workbook.defined_name import DefinedName  # noqa: E402

YELLOW = "FFFFFF00"
BLUE = "FF0000FF"


def save(wb: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def named_anchor_template(path: Path) -> Path:
    """Sheet ``Report`` with the text ``ANCHOR`` in B2, which the workbook name ``tbl_anchor`` points at."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Report"
    ws["B2"].value = "ANCHOR"
    wb.defined_names.add(DefinedName("tbl_anchor", attr_text="Report!$B$2"))
    return save(wb, path)


def blank_template(path: Path, sheet: str = "Report") -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = sheet
    return save(wb, path)


def region_template(path: Path) -> Path:
    """A report region under the marker ``QIP_ANCHOR`` (A2): a blue bold header row (A3:B3), a yellow style row
    with sample values (A4:B4), and a footer (A6) that must stay below the data."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Report"
    ws["A1"].value = "Daily report"
    ws["A2"].value = "QIP_ANCHOR"
    for col, text in (("A", "Old id"), ("B", "Old amount")):
        ws[f"{col}3"].value = text
        ws[f"{col}3"].font = Font(bold=True, color=BLUE)
    for col, sample in (("A", "sample"), ("B", 0)):
        ws[f"{col}4"].value = sample
        ws[f"{col}4"].fill = PatternFill("solid", fgColor=YELLOW)
        ws[f"{col}4"].number_format = "0.00" if col == "B" else "General"
    ws["A6"].value = "Footer"
    return save(wb, path)
