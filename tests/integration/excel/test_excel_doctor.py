"""``aetherflow doctor`` warns about report regions allowed more rows than a formatted sheet handles well."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import aetherflow, write_flow

FLOW = """
version: 1
flow: {{id: doc, state: {{path: {state}}}}}
jobs:
  - id: report
    steps:
      - id: fill
        type: excel_fill_from_file
        inputs:
          template_path: tpl.xlsx
          output: out.xlsx
          rows_threshold: {step_threshold}
          targets:
            - {{name: big, mode: report_region, anchor: A, source_path: a.csv}}
            - {{name: own, mode: Report_Region, anchor: B, source_path: b.csv, rows_threshold: "{target_threshold}"}}
            - {{name: raw, mode: data_sheet, source_path: c.csv, rows_threshold: 900000}}
"""


def _doctor(tmp_path: Path, step_threshold: int, target_threshold: int) -> list[str]:
    text = FLOW.format(state=tmp_path / "s.db", step_threshold=step_threshold, target_threshold=target_threshold)
    flow = write_flow(tmp_path, text)
    result = aetherflow("doctor", "--flow-yaml", str(flow))
    assert result.code == 0, result.stdout + result.stderr
    return result.stdout.splitlines()[1:]


def test_report_regions_over_fifty_thousand_rows_are_warnings_and_exit_zero(tmp_path: Path) -> None:
    lines = _doctor(tmp_path, step_threshold=60_000, target_threshold=70_000)

    assert lines == [
        "! jobs[0].steps[0].inputs.targets[0]: doctor:report_region_threshold - Step fill target big fills a report "
        "region with up to 60000 rows (rows_threshold > 50000); use mode: data_sheet for large data",
        "! jobs[0].steps[0].inputs.targets[1]: doctor:report_region_threshold - Step fill target own fills a report "
        "region with up to 70000 rows (rows_threshold > 50000); use mode: data_sheet for large data",
    ]


def test_the_default_threshold_is_no_warning(tmp_path: Path) -> None:
    assert _doctor(tmp_path, step_threshold=50_000, target_threshold=10) == []
