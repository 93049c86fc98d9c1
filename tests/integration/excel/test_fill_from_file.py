"""``excel_fill_from_file``: data sheets, report regions, counting and thresholds, sources, hostile files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from aetherflow.api import Interrupted
from aetherflow.steps.excel_template import ExcelInputError, ReportTooLargeError
from tests.integration.excel.conftest import ExcelHarness
from tests.integration.excel.templates import YELLOW, blank_template, openpyxl, region_template


def _fill(harness: ExcelHarness, template: Path, *targets: dict[str, Any], **step: Any) -> Any:
    result = harness.run(
        "excel_fill_from_file", template_path=str(template), output="out.xlsx", targets=list(targets), **step
    )
    return result, openpyxl.load_workbook(harness.artifacts / "out.xlsx")


def _grid(ws: Any, ref: str) -> list[list[Any]]:
    return [[c.value for c in row] for row in ws[ref]]


def _region(harness: ExcelHarness, **extra: Any) -> dict[str, Any]:
    return {"name": "qip", "mode": "report_region", "sheet": "Report", "anchor": "QIP_ANCHOR", **extra}


def test_report_region_defaults_insert_data_under_the_template_header(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("qip.csv", "id,amount\nq1,1\nq2,2\n")

    result, wb = _fill(harness, template, _region(harness, source_path=str(src), style_mode="copy_row"))

    ws = wb["Report"]
    assert _grid(ws, "A3:B8") == [
        ["Old id", "Old amount"],  # header_mode template: the template's header stays
        ["q1", "1"],
        ["q2", "2"],
        ["sample", 0],  # the template's own rows moved down, not overwritten
        [None, None],
        ["Footer", None],
    ]
    assert ws["A5"].fill.fgColor.rgb == YELLOW
    [written] = result.output["written"]
    assert (written["mode"], written["insert"], written["header_mode"], written["rows"]) == (
        "report_region",
        "below",
        "template",
        3,
    )


def test_two_regions_on_one_sheet_each_find_their_anchor_after_the_first_insert(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    wb = openpyxl.load_workbook(template)
    wb["Report"]["A7"].value = "QC_ANCHOR"
    wb["Report"]["A8"].value = "QC header"
    wb.save(template)
    first = harness.write("qip.csv", "id\nq1\nq2\n")
    second = harness.write("qc.csv", "id\nc1\n")

    _, out = _fill(
        harness,
        template,
        _region(harness, source_path=str(first)),
        _region(harness, name="qc", anchor="QC_ANCHOR", source_path=str(second)),
    )

    assert _grid(out["Report"], "A8:A12") == [["Footer"], ["QC_ANCHOR"], ["QC header"], ["c1"], [None]]


def test_over_the_threshold_is_refused_and_under_fail_on_threshold_false_it_is_written(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("qip.csv", "id\n1\n2\n3\n")

    with pytest.raises(ReportTooLargeError) as caught:
        _fill(harness, template, _region(harness, source_path=str(src), rows_threshold=2), rows_threshold=100)
    assert (caught.value.row_count, caught.value.rows_threshold) == (3, 2)
    assert not (harness.artifacts / "out.xlsx").exists()

    _, wb = _fill(harness, template, _region(harness, source_path=str(src), fail_on_threshold=False), rows_threshold=2)
    assert _grid(wb["Report"], "A4:A6") == [["1"], ["2"], ["3"]]


def test_csv_parse_counting_handles_quoted_line_breaks(harness: ExcelHarness) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("m.csv", 'id,comment\n1,"hello\nworld"\n')

    with pytest.raises(ReportTooLargeError):
        _fill(harness, template, _region(harness, source_path=str(src)), rows_threshold=1)
    _, wb = _fill(harness, template, _region(harness, source_path=str(src), count_mode="csv_parse"), rows_threshold=1)

    assert _grid(wb["Report"], "A4:B5") == [["1", "hello\nworld"], ["sample", 0]]


def test_a_row_count_smaller_than_the_file_is_refused_rather_than_overwriting_the_template(
    harness: ExcelHarness,
) -> None:
    template = region_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("qip.csv", "id\n1\n2\n3\n")

    with pytest.raises(ExcelInputError, match="has 3 data rows but 1 were counted"):
        _fill(harness, template, _region(harness, source_path=str(src), row_count=1))


def test_parquet_sources_keep_their_types(harness: ExcelHarness) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    template = blank_template(harness.artifacts / "tpl.xlsx")
    path = harness.artifacts / "data.parquet"
    pq.write_table(pa.table({"n": [1, 2], "day": [dt.date(2026, 1, 2), None], "s": ["a", "=1+1"]}), path)

    _, wb = _fill(harness, template, {"name": "p", "source_path": str(path)})

    ws = wb["DATA_p"]
    assert _grid(ws, "A1:C3") == [["n", "day", "s"], [1, dt.datetime(2026, 1, 2), "a"], [2, None, "=1+1"]]
    assert ws["C3"].data_type == "s"


def test_include_header_false_reads_the_first_line_as_data(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("d.csv", "1,2\n3,4\n")

    _, wb = _fill(harness, template, {"name": "d", "source_path": str(src), "include_header": False})

    assert _grid(wb["DATA_d"], "A1:B2") == [["1", "2"], ["3", "4"]]
    assert wb["DATA_d"].auto_filter.ref is None


def test_columns_name_a_headerless_file_for_schema_casting(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("d.csv", "1,x\n")

    _, wb = _fill(
        harness,
        template,
        {"name": "d", "source_path": str(src), "read_header": False, "columns": ["n", "s"], "dtypes": {"n": "int"}},
    )

    assert _grid(wb["DATA_d"], "A1:B1") == [[1, "x"]]


def test_file_options_come_from_the_file_block_and_the_top_level_wins(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("d.txt", "")
    src.write_bytes("nom;prix\ncafé;2\n".encode("latin-1"))

    _, wb = _fill(
        harness,
        template,
        {
            "name": "d",
            "source_path": str(src),
            "source_format": "CSV",
            "delimiter": ";",
            "file": {"encoding": "latin-1", "delimiter": "|"},
        },
    )

    assert _grid(wb["DATA_d"], "A1:B2") == [["nom", "prix"], ["café", "2"]]


def test_data_sheet_targets_writing_the_same_area_replace_each_other(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    first = harness.write("a.csv", "v\nfirst\n")
    second = harness.write("b.csv", "v\nsecond\n")

    _, wb = _fill(
        harness, template, {"name": "x", "source_path": str(first)}, {"name": "x", "source_path": str(second)}
    )

    assert _grid(wb["DATA_x"], "A1:A2") == [["v"], ["second"]]


def test_overlapping_report_regions_fail(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("a.csv", "v\n1\n2\n")
    target = {"mode": "report_region", "cell": "Report!A1", "insert": "replace", "source_path": str(src)}

    with pytest.raises(ExcelInputError, match="targets overlap on sheet 'Report': 'b' A1:A2 and 'a' A1:A2"):
        _fill(harness, template, {**target, "name": "a"}, {**target, "name": "b"})


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        (b"id\n\xff\xfe\n", {}, "is not valid utf-8 text"),
        (b"id\n1\n", {"mode": "report_region"}, "mode report_region needs anchor or cell"),
        (b"id\n1\n", {"source_format": "xls"}, "Input should be 'csv', 'tsv' or 'parquet'"),
        (b"id\n1\n", {"quoting": "sometimes"}, "unknown quoting 'sometimes'"),
        (b"PAR1 broken", {"source_format": "parquet"}, "is not a readable Parquet file"),
    ],
)
def test_unreadable_sources_fail_with_one_clear_line(
    harness: ExcelHarness, content: bytes, target: dict[str, Any], message: str
) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("bad.csv", content)

    with pytest.raises(ValueError if "Input should" in message else ExcelInputError, match=message):
        _fill(harness, template, {"name": "b", "source_path": str(src), **target})


def test_a_missing_source_fails_naming_the_path(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    missing = harness.artifacts / "exports" / "gone.csv"

    with pytest.raises(ExcelInputError, match=f"^excel_fill_from_file target=g source_path does not exist: {missing}$"):
        _fill(harness, template, {"name": "g", "source_path": "exports/gone.csv"})


def test_a_stop_request_interrupts_the_write(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("d.csv", "v\n" + "x\n" * 5000)
    harness.ctx.cancelled.set()  # type: ignore[attr-defined]

    with pytest.raises(Interrupted, match="stop requested"):
        _fill(harness, template, {"name": "d", "source_path": str(src)})
    assert not (harness.artifacts / "out.xlsx").exists()


def test_basic_casting_needs_no_column_names(harness: ExcelHarness) -> None:
    template = blank_template(harness.artifacts / "tpl.xlsx")
    src = harness.write("d.csv", "7,2.5,true\n")

    _, wb = _fill(harness, template, {"name": "d", "source_path": str(src), "read_header": False, "type_cast": "basic"})

    assert _grid(wb["DATA_d"], "A1:C1") == [[7, 2.5, True]]
