"""``excel_fill_small``: anchors, layout defaults, insert, headers, styles, casting, guards and hostile values."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from aetherflow.steps.excel_template import ExcelInputError
from tests.integration.excel.conftest import ExcelHarness
from tests.integration.excel.templates import (
    BLUE,
    YELLOW,
    DefinedName,
    named_anchor_template,
    openpyxl,
    region_template,
    save,
)


def _fill(harness: ExcelHarness, template: Path, *targets: dict[str, Any]) -> Any:
    result = harness.run("excel_fill_small", template_path=str(template), output="out.xlsx", targets=list(targets))
    return result, openpyxl.load_workbook(harness.artifacts / "out.xlsx")["Report"]


def _grid(ws: Any, ref: str) -> list[list[Any]]:
    return [[c.value for c in row] for row in ws[ref]]


def test_a_text_anchor_is_a_marker_above_a_template_header(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")

    result, ws = _fill(harness, template, {"anchor": "QIP_ANCHOR", "rows_json": '[["x", 1]]'})

    assert _grid(ws, "A2:B6") == [
        ["QIP_ANCHOR", None],
        ["Old id", "Old amount"],
        ["x", 1],
        [None, None],
        ["Footer", None],
    ]
    [written] = result.output["written"]
    assert (written["start_cell"], written["template_has_header"], written["insert"]) == ([3, 1], True, "replace")


def test_anchor_text_matches_across_case_no_break_spaces_and_extra_whitespace(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    wb = openpyxl.load_workbook(template)
    wb["Report"]["A2"].value = "  qip\u00a0 anchor "
    save(wb, template)

    _, ws = _fill(harness, template, {"anchor": "QIP ANCHOR", "rows_json": '[["x"]]'})

    assert ws["A4"].value == "x"


def test_a_named_range_is_where_writing_starts(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    result, ws = _fill(harness, template, {"anchor": "TBL_ANCHOR", "rows_json": '[["a"], ["b"]]'})

    assert _grid(ws, "B2:B3") == [["a"], ["b"]]
    assert result.output["written"][0]["template_has_header"] is False


def test_insert_below_without_a_template_header_moves_the_content_under_the_block(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")

    _, ws = _fill(
        harness,
        template,
        {
            "sheet": "Report",
            "cell": "A6",
            "insert": "Below",
            "columns_json": '["k"]',
            "header_mode": "append",
            "rows_json": '[["v1"], ["v2"]]',
        },
    )

    assert _grid(ws, "A6:A9") == [["k"], ["v1"], ["v2"], ["Footer"]]


def test_header_mode_template_keeps_the_template_header_text(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")

    _, ws = _fill(harness, template, {"anchor": "QIP_ANCHOR", "columns_json": '["id"]', "rows_json": '[["x"]]'})

    assert _grid(ws, "A3:B4") == [["Old id", "Old amount"], ["x", 0]]


def test_header_override_clears_the_old_header_across_the_clear_width(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")

    _, ws = _fill(
        harness,
        template,
        {
            "anchor": "QIP_ANCHOR",
            "columns_json": '["id"]',
            "rows_json": '[["x"]]',
            "header_mode": "override",
            "header_clear_width": 2,
        },
    )

    assert _grid(ws, "A3:B3") == [["id", None]]
    assert ws["A3"].font.color.rgb == BLUE  # the template's header formatting stays


def test_header_style_from_the_style_row_when_asked(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")

    _, ws = _fill(
        harness,
        template,
        {
            "anchor": "QIP_ANCHOR",
            "columns_json": '["id", "n"]',
            "rows_json": '[["x", 2]]',
            "header_mode": "override",
            "header_style": "style_row",
            "style_mode": "copy_row",
            "style_apply": "both",
        },
    )

    assert ws["A3"].value == "id"
    assert ws["A3"].fill.fgColor.rgb == YELLOW and not ws["A3"].font.bold
    assert ws["B4"].number_format == "0.00"


def test_anchor_clear_row_mode_clears_the_marker_row_across_its_width(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    wb = openpyxl.load_workbook(template)
    wb["Report"]["B2"].value = "marker note"
    save(wb, template)

    _, ws = _fill(
        harness,
        template,
        {
            "anchor": "QIP_ANCHOR",
            "rows_json": "[]",
            "anchor_clear": True,
            "anchor_clear_mode": "row",
            "anchor_clear_width": 2,
        },
    )

    assert _grid(ws, "A2:B2") == [[None, None]]


def test_basic_casting_guesses_types_from_text(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")
    row = ["12", "-3", "007", "1.5", "true", "2026-01-02", "2026-01-02T03:04:05", "", "text"]

    _, ws = _fill(harness, template, {"anchor": "tbl_anchor", "rows_json": json.dumps([row]), "type_cast": "basic"})

    assert _grid(ws, "B2:J2")[0] == [
        12,
        -3,
        "007",
        1.5,
        True,
        dt.datetime(2026, 1, 2),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        None,
        "text",
    ]
    assert ws["G2"].number_format.startswith("yyyy-mm-dd") and "h" not in ws["G2"].number_format


def test_schema_casting_uses_the_dtypes_of_db_fetch_small(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    _, ws = _fill(
        harness,
        template,
        {
            "anchor": "tbl_anchor",
            "columns_json": '["id", "amount", "code"]',
            "rows_json": '[["7", "2.5", "007"]]',
            "dtypes_json": '{"id": "int", "amount": "float", "code": "string"}',
        },
    )

    assert _grid(ws, "B2:D2") == [[7, 2.5, "007"]]


def test_an_unknown_dtype_is_an_error_naming_it(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    with pytest.raises(ExcelInputError, match=r"unknown dtypes \['id: integer'\]"):
        _fill(harness, template, {"anchor": "tbl_anchor", "rows_json": "[]", "dtypes": {"id": "integer"}})


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_rows": 1}, "2 data rows exceed max_rows=1"),
        (
            {"max_total_rows": 2, "columns_json": '["a", "b"]', "header_mode": "append"},
            "3 rows exceed max_total_rows=2",
        ),
        ({"max_cols": 1}, "2 columns exceed max_cols=1"),
        ({"row_count": "5", "max_rows": 4}, "row_count=5 exceeds max_rows=4"),
    ],
)
def test_row_and_column_guards_fail_before_writing(harness: ExcelHarness, limits: dict[str, Any], message: str) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    with pytest.raises(ExcelInputError, match=rf"^excel_fill_small target=t: {message}$"):
        _fill(harness, template, {"name": "t", "anchor": "tbl_anchor", "rows_json": '[["a", 1], ["b", 2]]', **limits})
    assert not (harness.artifacts / "out.xlsx").exists()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"anchor": "tbl_anchor", "cell": "A1"}, "set exactly one of anchor or cell"),
        ({}, "set exactly one of anchor or cell"),
        ({"cell": "B2"}, "cell 'B2' needs a sheet: set 'sheet' or write 'Sheet!B2'"),
        ({"cell": "Nope!B2"}, "sheet not found: 'Nope'. Sheets: ['Report']"),
        ({"anchor": "NO_SUCH_ANCHOR"}, "anchor not found: 'NO_SUCH_ANCHOR'"),
        ({"anchor": "tbl_anchor", "rows_json": "[[1], "}, "rows_json is not valid JSON"),
        ({"anchor": "tbl_anchor", "rows_json": '{"a": 1}'}, "rows_json must be a list of rows, got dict"),
    ],
)
def test_target_mistakes_are_one_clear_error(harness: ExcelHarness, target: dict[str, Any], message: str) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    with pytest.raises(ExcelInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _fill(harness, template, {"rows_json": "[]", **target})


def test_rows_given_as_objects_follow_columns_json(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    _, ws = _fill(
        harness, template, {"anchor": "tbl_anchor", "columns_json": ["b", "a"], "rows_json": [{"a": 1, "b": 2}]}
    )

    assert _grid(ws, "B2:C2") == [[2, 1]]


def test_hostile_text_is_written_as_text_never_as_a_formula(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")
    hostile = ['=HYPERLINK("http://evil","x")', "#N/A", "quote ' \" \\ back", "line1\nline2", "ünïcödé 🙂", "@SUM(1)"]

    _fill(harness, template, {"anchor": "tbl_anchor", "rows_json": json.dumps([hostile])})

    ws = openpyxl.load_workbook(harness.artifacts / "out.xlsx")["Report"]
    assert _grid(ws, "B2:G2") == [hostile]
    assert {ws.cell(row=2, column=c).data_type for c in range(2, 8)} == {"s"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nul\x00byte", "row 1 column 1 holds a control character Excel cannot store"),
        ("x" * 40_000, "row 1 column 1 has 40000 characters; Excel cells hold 32767"),
        ({"secret": "s3cr3t"}, "row 1 column 1 holds a dict value Excel cannot store$"),
    ],
)
def test_values_excel_cannot_hold_fail_naming_row_and_column(harness: ExcelHarness, value: Any, message: str) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    with pytest.raises(ExcelInputError, match=f"^excel_fill_small target=t: {message.replace('(', '.')}"):
        _fill(harness, template, {"name": "t", "anchor": "tbl_anchor", "rows_json": json.dumps([[value]])})
    assert list(harness.artifacts.iterdir()) == [harness.artifacts / "tpl.xlsx"]


def test_a_target_failing_after_another_leaves_no_report_and_no_temporary_file(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    with pytest.raises(ExcelInputError):
        _fill(
            harness,
            template,
            {"anchor": "tbl_anchor", "rows_json": '[["ok"]]'},
            {"anchor": "missing", "rows_json": "[]"},
        )
    assert sorted(p.name for p in harness.artifacts.iterdir()) == ["tpl.xlsx"]


def test_a_template_outside_the_sandbox_is_refused(harness: ExcelHarness, tmp_path: Path) -> None:
    outside = named_anchor_template(tmp_path / "elsewhere" / "tpl.xlsx")

    with pytest.raises(ValueError, match="Path not under allowed roots"):
        _fill(harness, outside, {"anchor": "tbl_anchor", "rows_json": "[]"})


def test_a_file_that_is_not_a_workbook_is_named_in_the_error(harness: ExcelHarness) -> None:
    fake = harness.write("tpl.xlsx", b"PK\x03\x04 not really a zip")

    with pytest.raises(ExcelInputError, match=f"^template_path {fake} is not a readable .xlsx workbook"):
        _fill(harness, fake, {"anchor": "tbl_anchor", "rows_json": "[]"})


def test_a_directory_as_template_is_an_error(harness: ExcelHarness) -> None:
    folder = harness.artifacts / "templates"
    folder.mkdir()

    with pytest.raises(ExcelInputError, match=f"^template_path is a directory, not a file: {folder}$"):
        _fill(harness, folder, {"anchor": "tbl_anchor", "rows_json": "[]"})


def test_anchor_text_search_needs_a_sheet_in_enterprise_mode(tmp_path: Path) -> None:
    harness = ExcelHarness(tmp_path, enterprise=True)
    template = region_template(harness.artifacts / "tpl.xlsx")

    with pytest.raises(ExcelInputError, match="enterprise mode needs 'sheet'"):
        _fill(harness, template, {"anchor": "QIP_ANCHOR", "rows_json": "[]"})
    _, ws = _fill(harness, template, {"anchor": "QIP_ANCHOR", "sheet": "Report", "rows_json": '[["x"]]'})
    assert ws["A4"].value == "x"


def test_an_unknown_target_key_is_an_invalid_input(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    with pytest.raises(ValueError, match=r"targets\.0\.anchr: Extra inputs are not permitted"):
        _fill(harness, template, {"anchr": "tbl_anchor", "rows_json": "[]"})


def test_named_ranges_below_an_insert_move_with_their_cells(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    wb = openpyxl.load_workbook(template)
    wb["Report"]["A8"].value = "Second table"
    wb.defined_names.add(DefinedName("second", attr_text="Report!$A$8"))
    wb.defined_names.add(DefinedName("span", attr_text="'Report'!$A$3:$B$8"))
    save(wb, template)

    _, ws = _fill(
        harness,
        template,
        {"name": "first", "anchor": "QIP_ANCHOR", "insert": "below", "rows_json": '[["a"], ["b"]]'},
        {"name": "next", "anchor": "second", "rows_json": '[["under second"]]'},
    )

    assert _grid(ws, "A10:A11") == [["under second"], [None]]  # "Second table" moved to A10, the name with it
    names = ws.parent.defined_names
    assert (names["second"].attr_text, names["span"].attr_text) == ("Report!$A$10", "'Report'!$A$3:$B$10")


def test_merged_cells_below_an_insert_move_with_their_cells(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    wb = openpyxl.load_workbook(template)
    wb["Report"].merge_cells("A6:B6")
    save(wb, template)

    _, ws = _fill(harness, template, {"anchor": "QIP_ANCHOR", "insert": "below", "rows_json": '[["a"], ["b"]]'})

    assert [str(r) for r in ws.merged_cells.ranges] == ["A8:B8"]
    assert ws["A8"].value == "Footer"


def test_datetimes_with_an_offset_are_written_in_utc(harness: ExcelHarness) -> None:
    template = named_anchor_template(harness.artifacts / "tpl.xlsx")

    _, ws = _fill(
        harness,
        template,
        {
            "anchor": "tbl_anchor",
            "rows_json": '[["2026-01-02T03:04:05+02:00", "2026-01-02T00:30:00Z"]]',
            "type_cast": "basic",
        },
    )

    assert _grid(ws, "B2:C2") == [[dt.datetime(2026, 1, 2, 1, 4, 5), dt.datetime(2026, 1, 2, 0, 30)]]


def test_a_full_disk_during_the_save_keeps_the_previous_report_and_leaves_no_temporary_file(
    harness: ExcelHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    template = named_anchor_template(harness.artifacts / "tpl.xlsx")
    previous = harness.write("out.xlsx", b"yesterday's report")

    def full_disk(self: Any, filename: Any) -> None:
        Path(filename).write_bytes(b"PK\x03\x04 half a workbook")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(openpyxl.Workbook, "save", full_disk)  # a full disk cannot be had here without root mounts

    with pytest.raises(OSError, match="No space left on device"):
        harness.run(
            "excel_fill_small",
            template_path=str(template),
            output="out.xlsx",
            targets=[{"anchor": "tbl_anchor", "rows_json": '[["x"]]'}],
        )
    assert previous.read_bytes() == b"yesterday's report"
    assert sorted(p.name for p in harness.artifacts.iterdir()) == ["out.xlsx", "tpl.xlsx"]
