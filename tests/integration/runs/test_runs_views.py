"""``runs show`` and ``runs list`` as tables, wide tables, JSON and YAML, through the real CLI and SQLite state."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from aetherflow.cli.runs_view import escape, width
from tests.support.cli import CliResult, FlowRun, aetherflow, make_flow

SH = "/bin/sh"
LONG_TAIL = "the-very-end-of-the-error-" + "x" * 150 + "-END"

FAILING = f"""
version: 1
flow: {{id: nightly}}
jobs:
  - id: extract
    steps:
      - {{id: fetch, type: external.process, inputs: {{command: ["{SH}", "-c", "echo fetched"]}}}}
      - id: parse
        type: external.process
        retry: {{max_attempts: 2, backoff_seconds: 0}}
        inputs: {{command: ["{SH}", "-c", "echo 'boom {LONG_TAIL}' >&2; exit 3"]}}
  - {{id: load, depends_on: [extract], steps: [{{id: s, type: check_items, inputs: {{items: "x"}}}}]}}
  - {{id: optional, when: "false", steps: [{{id: s, type: check_items, inputs: {{items: "x"}}}}]}}
  - id: audit
    steps: [{{id: s, type: check_items, inputs: {{items: "x"}}, outputs: {{label: "{"L" * 200}"}}}}]
"""


OK = """
version: 1
flow: {id: okflow}
jobs:
  - {id: a, steps: [{id: s, type: check_items, inputs: {items: x}}]}
"""


def _failed_run(tmp_path: Path, text: str = FAILING) -> FlowRun:
    flow = make_flow(tmp_path, text)
    assert flow.run().code in (1, 3)
    return flow


def _show(flow: FlowRun, *extra: str, run_id: str = "r1") -> CliResult:
    result = aetherflow("runs", "show", run_id, "--state", str(flow.state), *extra)
    assert result.code == 0, result.stderr
    return result


def _rows(text: str) -> dict[str, list[str]]:
    """The table's rows by their first cell (steps keep their indent stripped)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("JOB/STEP"))
    rows = {}
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells
    return rows


def test_a_failed_runs_table_shows_durations_attempts_skip_reasons_and_the_whole_error_in_120_by_40(
    tmp_path: Path,
) -> None:
    flow = _failed_run(tmp_path)

    text = _show(flow).stdout

    lines = text.splitlines()
    assert len(lines) <= 40, text
    assert max(len(line) for line in lines) <= 120, text
    assert lines[1].split() == ["JOB/STEP", "STATUS", "ATTEMPTS", "DURATION", "STARTED", "SKIP_REASON"]
    rows = _rows(text)
    assert rows["parse"][1:3] == ["FAILED", "2"]
    assert re.fullmatch(r"\d+ms|\d+\.\ds", rows["parse"][3])
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", rows["parse"][4])
    assert rows["load"][1] == "BLOCKED" and rows["load"][-1] == "blocked by: extract (FAILED)"
    assert rows["optional"][1] == "SKIPPED" and rows["optional"][-1] != "-"
    assert rows["audit"][1] == "SUCCESS"
    joined = "".join(line.strip() for line in lines)
    assert LONG_TAIL in joined  # wrapped, never cut
    assert "\x1b" not in text  # no colour when stdout is not a terminal


def test_the_table_lists_jobs_and_steps_in_execution_order_also_with_only_the_state(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: order}
        jobs:
          - {id: c, depends_on: [a], steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
          - {id: b, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
        """,
    )
    assert flow.run().code == 0

    text = _show(flow).stdout

    firsts = [line.split()[0] for line in text.splitlines()[2:] if line and not line.startswith(" ")]
    assert firsts == ["b", "a", "c"]


def test_output_json_is_byte_identical_to_the_json_flag_and_carries_retryable(tmp_path: Path) -> None:
    flow = _failed_run(tmp_path)

    flag = _show(flow, "--json").stdout
    option = _show(flow, "-o", "json").stdout

    assert option == flag
    doc = json.loads(option)
    assert list(doc)[4:7] == ["ended_at", "exit_code", "retryable"]


def test_output_yaml_is_the_json_document(tmp_path: Path) -> None:
    flow = _failed_run(tmp_path)

    assert yaml.safe_load(_show(flow, "-o", "yaml").stdout) == json.loads(_show(flow, "--json").stdout)


def test_output_wide_adds_truncated_outputs_and_the_attempt_history(tmp_path: Path) -> None:
    flow = _failed_run(tmp_path)

    text = _show(flow, "-o", "wide").stdout

    assert text.splitlines()[1].split()[-1] == "OUTPUTS"
    rows = _rows(text)
    assert rows["fetch"][-1] == '{"exit_code":0,"attempts":1}'
    assert rows["audit"][-1].startswith('{"label":"LLL') and rows["audit"][-1].endswith("…")
    assert all(len(cells[-1]) <= 60 for cells in rows.values())
    history = text.split("attempts:", 1)[1]
    assert "extract.parse #1 FAILED" in history and "extract.parse #2 FAILED" in history


def test_hostile_values_in_errors_never_break_the_table(tmp_path: Path) -> None:
    flow = _failed_run(tmp_path)
    # a server's message lands in an error as it came: newlines, tabs, ANSI sequences, NUL and wide characters
    hostile = "line1\nline2\ttab \x1b[31mred\x1b[0m \r\x00 ünïcødé 日本語" * 8 + " end"
    flow.query("UPDATE step_runs SET error = ? WHERE step_id = 'parse'", hostile)
    flow.query("UPDATE job_runs SET skip_reason = ? WHERE job_id = 'optional'", hostile)

    text = _show(flow).stdout

    assert "\x1b" not in text and "\t" not in text and "\r" not in text
    assert "\\x1b[31mred" in text and "日本語" in text and "line1\\nline2\\ttab" in text and "\\x00" in text
    lines = text.splitlines()
    rows = _rows(text)
    assert lines[1].startswith("JOB/STEP") and rows["parse"][1] == "FAILED" and rows["optional"][1] == "SKIPPED"
    assert max(width(line) for line in lines) <= 120
    # the whole error under the step's name: its lines kept, each wrapped, every other control character escaped
    error_block = text.split("error extract.parse:\n", 1)[1]
    assert re.sub(r"\s", "", escape(hostile.replace("\n", " "))) in re.sub(r"\s", "", error_block)


def _three_runs(tmp_path: Path) -> Path:
    """Runs ``first`` and ``third`` of ``okflow`` (SUCCESS), ``second`` of ``nightly`` (FAILED), in one database."""
    (tmp_path / "ok").mkdir()
    (tmp_path / "bad").mkdir()
    ok = make_flow(tmp_path / "ok", OK)
    bad = make_flow(tmp_path / "bad", FAILING)
    state = tmp_path / "shared.db"
    for flow, run_id in ((ok, "first"), (bad, "second"), (ok, "third")):
        argv = ["--flow-yaml", str(flow.flow), "--state", str(state), "--work-root", str(tmp_path / "work")]
        result = aetherflow("run", *argv, "--run-id", run_id)
        assert result.code in (0, 1), result.stderr
    return state


def _list(state: Path, *extra: str) -> CliResult:
    result = aetherflow("runs", "list", "--state", str(state), *extra)
    assert result.code == 0, result.stderr
    return result


def test_runs_list_prints_newest_first_and_filters_by_status_and_flow(tmp_path: Path) -> None:
    state = _three_runs(tmp_path)

    assert [r["run_id"] for r in json.loads(_list(state, "-o", "json").stdout)] == ["third", "second", "first"]
    assert _list(state, "-o", "json").stdout == _list(state, "--json").stdout
    assert [r["run_id"] for r in json.loads(_list(state, "--status", "FAILED", "-o", "json").stdout)] == ["second"]
    assert [r["run_id"] for r in json.loads(_list(state, "--flow", "okflow", "-o", "json").stdout)] == [
        "third",
        "first",
    ]
    text = _list(state, "--status", "FAILED").stdout.splitlines()
    assert text[0].split() == ["RUN_ID", "FLOW_ID", "STATUS", "ATTEMPT", "STARTED_AT", "ENDED_AT", "EXIT"]
    assert text[1].split()[:3] == ["second", "nightly", "FAILED"]
    wide = _list(state, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[-2:] == ["DURATION", "ERROR"]
    assert [row["run_id"] for row in yaml.safe_load(_list(state, "-o", "yaml").stdout)] == ["third", "second", "first"]
