"""The mistakes a flow author makes most (wrong result key, unknown or later step/job, a value outside the allowed
ones, a typo in a connector's config) are refused by ``validate`` and by ``run`` before anything executes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import aetherflow

#: a flow whose first step leaves a marker file: if it exists, something was executed
_FLOW = """\
version: 1
flow: {{id: static_checks}}
resources:
  wh:
    kind: db
    driver: sqlite3
    config: {{{config}}}
jobs:
  - id: extract
    steps:
      - id: touch
        type: external.process
        inputs: {{command: [/bin/sh, -c, "touch {marker}"]}}
      - id: extract
        type: db_extract
        inputs: {{resource: wh, sql: "SELECT 1 AS x", output: out.tsv, format: {format}}}
        outputs: {{rows: "{{{{result.rows}}}}"}}
      - id: gate
        type: check_items
        inputs: {{items: "{items}"}}
  - id: report
    depends_on: [extract]
    steps:
      - id: r
        type: check_items
        inputs: {{items: [a]}}
"""

_MISTAKES = {
    "a wrong result key": (
        {"items": "{{steps.extract.rowz}}"},
        ("template:unknown_output", "jobs[0].steps[2].inputs.items", "did you mean 'rows'?"),
    ),
    "an unknown step": (
        {"items": "{{steps.extrct.rows}}"},
        ("template:unknown_reference", "jobs[0].steps[2].inputs.items", "did you mean 'extract'?"),
    ),
    "an unknown job": (
        {"items": "{{jobs.reprt.status}}"},
        ("template:unknown_reference", "jobs[0].steps[2].inputs.items", "did you mean 'report'?"),
    ),
    "a later job": (
        {"items": "{{jobs.report.status}}"},
        ("template:unknown_reference", "jobs[0].steps[2].inputs.items", "runs after it"),
    ),
    "the step itself": (
        {"items": "{{steps.gate.count}}"},
        ("template:unknown_reference", "jobs[0].steps[2].inputs.items", "that is itself"),
    ),
    "a format outside the allowed ones": (
        {"format": "xlsx"},
        ("schema:value_error", "jobs[0].steps[1].inputs.format", "use one of: tsv, jsonl"),
    ),
    "a typo in a connector config": (
        {"config": "pathh: x.db"},
        ("schema:extra_forbidden", "resources.wh.config.pathh", "did you mean 'path'?"),
    ),
}


def _write(tmp_path: Path, **change: str) -> tuple[Path, Path]:
    marker = tmp_path / "executed"
    values = {"config": "path: x.db", "format": "tsv", "items": "a,b", "marker": str(marker)} | change
    flow = tmp_path / "flow.yaml"
    flow.write_text(_FLOW.format(**values), encoding="utf-8")
    return flow, marker


def test_the_flow_without_mistakes_validates(tmp_path: Path) -> None:
    flow, _ = _write(tmp_path)

    done = aetherflow("validate", "--flow-yaml", str(flow), env={"AETHERFLOW_WORK_ROOT": str(tmp_path / "w")})

    assert done.code == 0, done.stdout + done.stderr


@pytest.mark.parametrize("mistake", list(_MISTAKES))
def test_validate_reports_the_mistake_with_its_place_and_exits_2(tmp_path: Path, mistake: str) -> None:
    change, (code, loc, hint) = _MISTAKES[mistake]
    flow, _ = _write(tmp_path, **change)

    done = aetherflow("validate", "--flow-yaml", str(flow), "--json")

    assert done.code == 2
    errors = json.loads(done.stdout)["errors"]
    assert [(e["code"], e["loc"]) for e in errors] == [(code, loc)]
    assert hint in errors[0]["msg"]
    assert isinstance(errors[0]["line"], int)


@pytest.mark.parametrize("mistake", list(_MISTAKES))
def test_run_refuses_the_mistake_before_executing_anything(tmp_path: Path, mistake: str) -> None:
    change, (code, loc, _) = _MISTAKES[mistake]
    flow, marker = _write(tmp_path, **change)
    state = tmp_path / "state.db"

    done = aetherflow(
        "run", "--flow-yaml", str(flow), "--state", str(state), env={"AETHERFLOW_WORK_ROOT": str(tmp_path / "w")}
    )

    assert done.code == 2
    assert f"{loc}: {code}" in done.stderr
    assert not marker.exists()
    assert not (tmp_path / "w").exists()
    listed = aetherflow("runs", "list", "--state", str(state), "--json") if state.exists() else None
    assert listed is None or "static_checks" not in listed.stdout
