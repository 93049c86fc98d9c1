"""``aetherflow run`` end to end with the Excel steps: upstream's scenarios as flows, the workbook read back."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.integration.excel.templates import blank_template, named_anchor_template, openpyxl, region_template
from tests.support.cli import FlowRun, clean_env, make_flow


def _artifacts(flow: FlowRun, flow_id: str, job: str = "report") -> Path:
    return flow.work / flow_id / job / "r1" / "artifacts"


def _flow(tmp_path: Path, flow_id: str, steps: str, resources: str = "") -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow:
          id: {flow_id}
          workspace: {{cleanup_policy: never}}
        {resources}
        jobs:
          - id: report
            steps:
{steps}
        """,
    )


def test_fill_small_writes_rows_at_a_named_range(tmp_path: Path) -> None:
    template = named_anchor_template(tmp_path / "work" / "tpl.xlsx")
    rows = json.dumps([["r1c1", "r1c2"], ["r2c1", "r2c2"]])
    flow = _flow(
        tmp_path,
        "small",
        f"""
              - id: fill
                type: excel_fill_small
                inputs:
                  template_path: {template}
                  output: out.xlsx
                  targets:
                    - {{name: t1, anchor: tbl_anchor, rows_json: '{rows}', max_rows: 10, max_cols: 10}}
        """,
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    ws = openpyxl.load_workbook(_artifacts(flow, "small") / "out.xlsx")["Report"]
    assert [[c.value for c in row] for row in ws["B2:C3"]] == [["r1c1", "r1c2"], ["r2c1", "r2c2"]]
    [(outputs,)] = flow.query("SELECT outputs_json FROM step_runs WHERE step_id = 'fill'")
    [written] = json.loads(outputs)["written"]
    assert (written["name"], written["sheet"], written["rows"], written["cols"]) == ("t1", "Report", 2, 2)


def test_fill_small_targets_that_overlap_fail_the_step_and_write_no_report(tmp_path: Path) -> None:
    template = named_anchor_template(tmp_path / "work" / "tpl.xlsx")
    flow = _flow(
        tmp_path,
        "overlap",
        f"""
              - id: fill
                type: excel_fill_small
                inputs:
                  template_path: {template}
                  output: out2.xlsx
                  targets:
                    - {{name: a, sheet: Report, cell: B2, rows_json: '[["x"]]'}}
                    - {{name: b, sheet: Report, cell: B2, rows_json: '[["y"]]'}}
        """,
    )

    result = flow.run()

    assert result.code == 3  # permanent: retrying cannot help
    [(status, error)] = flow.query("SELECT status, error FROM step_runs")
    assert status == "FAILED"
    assert error == "ExcelInputError: excel_fill_small targets overlap on sheet 'Report': 'b' B2:B2 and 'a' B2:B2"
    assert not list(flow.work.rglob("out2.xlsx*"))


def test_fill_from_file_data_sheet_creates_the_data_sheet_with_the_file_header(tmp_path: Path) -> None:
    template = blank_template(tmp_path / "work" / "tpl.xlsx")
    tsv = tmp_path / "work" / "data.tsv"
    tsv.write_text("amount\tday\n10\t2026-02-08\n20\t2026-02-09\n", encoding="utf-8")
    flow = _flow(
        tmp_path,
        "datasheet",
        f"""
              - id: fill
                type: excel_fill_from_file
                inputs:
                  template_path: {template}
                  output: report.xlsx
                  targets:
                    - {{name: sales, source_path: {tsv}, source_format: tsv, mode: data_sheet,
                        data_sheet_prefix: DATA_, cell: A1}}
        """,
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    wb = openpyxl.load_workbook(_artifacts(flow, "datasheet") / "report.xlsx")
    assert wb.sheetnames == ["Report", "DATA_sales"]
    ws = wb["DATA_sales"]
    assert ws["A1"].value == "amount"
    assert ws["B3"].value == "2026-02-09"  # no casting asked: text stays text
    assert ws["A1"].font.bold is True
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:B3"


def test_fill_from_file_report_region_over_rows_threshold_fails_before_writing(tmp_path: Path) -> None:
    template = blank_template(tmp_path / "work" / "tpl.xlsx")
    tsv = tmp_path / "work" / "data.tsv"
    tsv.write_text("amount\tday\n10\t2026-02-08\n20\t2026-02-09\n", encoding="utf-8")
    flow = _flow(
        tmp_path,
        "threshold",
        f"""
              - id: fill
                type: excel_fill_from_file
                inputs:
                  template_path: {template}
                  output: report2.xlsx
                  rows_threshold: 1
                  targets:
                    - {{name: sales, sheet: Report, cell: A1, source_path: {tsv}, source_format: tsv,
                        mode: report_region, fail_on_threshold: true}}
        """,
    )

    result = flow.run()

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == (
        f"ReportTooLargeError: excel_fill_from_file target=sales: {tsv} has 2 rows, over rows_threshold=1; "
        "use mode: data_sheet for large data, or raise rows_threshold"
    )
    assert not list(flow.work.rglob("report2.xlsx*"))


def test_fill_from_file_schema_cast_writes_typed_cells(tmp_path: Path) -> None:
    template = blank_template(tmp_path / "work" / "tpl.xlsx")
    tsv = tmp_path / "work" / "typed.tsv"
    tsv.write_text("amount\tday\n10\t2026-02-08\n20\t2026-02-09\n", encoding="utf-8")
    flow = _flow(
        tmp_path,
        "typed",
        f"""
              - id: fill
                type: excel_fill_from_file
                inputs:
                  template_path: {template}
                  output: typed.xlsx
                  targets:
                    - name: t
                      source_path: {tsv}
                      source_format: tsv
                      mode: data_sheet
                      cell: A1
                      type_cast: schema
                      dtypes: {{amount: int, day: date}}
        """,
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    ws = openpyxl.load_workbook(_artifacts(flow, "typed") / "typed.xlsx")["DATA_t"]
    assert ws["A2"].value == 10 and type(ws["A2"].value) is int
    assert str(ws["B2"].value).startswith("2026-02-08")
    assert ws["B2"].is_date


def test_a_query_result_flows_into_a_template_region_with_header_style_and_insert(tmp_path: Path) -> None:
    db = tmp_path / "work" / "sales.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE sales (id TEXT, amount REAL)")
        conn.executemany("INSERT INTO sales VALUES (?, ?)", [("a-1", 1.5), ("a-2", 2.25), ("a-3", 3.0)])
    template = region_template(tmp_path / "work" / "tpl.xlsx")
    flow = _flow(
        tmp_path,
        "chain",
        f"""
              - id: fetch
                type: db_fetch_small
                inputs: {{resource: sales, sql: "SELECT id, amount FROM sales ORDER BY id"}}
              - id: check
                type: excel_validate_template
                inputs: {{template_path: {template}, required_names: '["QIP_ANCHOR"]', sheet: Report}}
              - id: fill
                type: excel_fill_small
                inputs:
                  template_path: {template}
                  output: out/report.xlsx
                  targets:
                    - name: qip
                      anchor: QIP_ANCHOR
                      columns_json: "{{{{steps.fetch.columns_json}}}}"
                      rows_json: "{{{{steps.fetch.rows_json}}}}"
                      row_count: "{{{{steps.fetch.row_count}}}}"
                      insert: below
                      header_mode: override
                      anchor_clear: true
                      style_mode: copy_row
                      clear_style_row: true
        """,
        resources=f"resources: {{sales: {{kind: db, driver: sqlite3, config: {{path: {db}}}}}}}",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    ws = openpyxl.load_workbook(_artifacts(flow, "chain") / "out" / "report.xlsx")["Report"]
    values = [[c.value for c in row] for row in ws["A1:B9"]]
    assert values == [
        ["Daily report", None],
        [None, None],  # anchor text cleared
        ["id", "amount"],  # header text replaced ...
        ["a-1", 1.5],
        ["a-2", 2.25],
        ["a-3", 3.0],
        [None, None],  # the template's style row, moved down, its sample values cleared
        [None, None],
        ["Footer", None],  # content below the region moved down, not overwritten
    ]
    assert ws["A3"].font.bold and ws["A3"].font.color.rgb == "FF0000FF"  # ... its formatting kept
    assert all(ws[f"{c}{r}"].fill.fgColor.rgb == "FFFFFF00" for c in "AB" for r in (4, 5, 6))
    assert ws["B5"].number_format == "0.00"


def test_a_missing_template_fails_the_step_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "work" / "templates" / "nope.xlsx"
    flow = _flow(
        tmp_path,
        "missing",
        f"""
              - id: check
                type: excel_validate_template
                inputs: {{template_path: {missing}, required_names: [A]}}
                retry: {{max_attempts: 3, backoff_seconds: 0}}
        """,
    )

    result = flow.run()

    assert result.code == 3  # permanent: retrying cannot help
    [(status, attempts, error)] = flow.query("SELECT status, attempts, error FROM step_runs")
    assert (status, attempts) == ("FAILED", 1)
    assert error == f"ExcelInputError: template_path does not exist: {missing}"


def test_without_openpyxl_the_flow_is_invalid_and_names_the_excel_extra(tmp_path: Path) -> None:
    template = blank_template(tmp_path / "work" / "tpl.xlsx")
    flow = _flow(
        tmp_path,
        "noextra",
        f"""
              - id: check
                type: excel_validate_template
                inputs: {{template_path: {template}, required_names: [A]}}
        """,
    )
    # the interpreter without openpyxl: a None entry in sys.modules makes it unimportable and unfindable
    code = (
        "import sys; sys.modules['openpyxl'] = None; sys.argv[0] = 'aetherflow'; from aetherflow.cli import run; run()"
    )
    argv = [sys.executable, "-c", code, "run", "--flow-yaml", str(flow.flow), "--state", str(flow.state)]
    argv += ["--work-root", str(flow.work), "--run-id", "r1"]

    done = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=120)

    assert done.returncode == 2
    assert (
        "jobs[0].steps[0].type: semantic:missing_extra - Step excel_validate_template needs the optional dependency "
        "'openpyxl' (install aetherflow[excel])"
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert not flow.state.exists() or flow.query("SELECT count(*) FROM step_runs") == [(0,)]
