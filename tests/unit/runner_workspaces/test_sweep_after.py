"""The sweep after a job ends looks only at that job and the jobs it needs, and reads the run's records only when
another job's status decides (a run of many independent jobs must not read every record after every job)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aetherflow.plan import validate_flow
from aetherflow.registry import Registry
from aetherflow.runner.workspaces import RunWorkspaces
from aetherflow.settings import Settings

FLOW = """
version: 1
flow: {id: sweep}
jobs:
  - id: a
    steps: [{id: s, type: check_items, inputs: {items: [x]}}]
  - id: b
    steps: [{id: s, type: check_items, inputs: {items: [x]}}]
  - id: c
    depends_on: [b]
    steps: [{id: s, type: check_items, inputs: {items: [x]}}]
"""


def _workspaces(tmp_path: Path) -> RunWorkspaces:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    report, plan = validate_flow(str(flow), settings=Settings(), env={}, registry=Registry.builtin())
    assert plan is not None, report.errors
    return RunWorkspaces(plan, tmp_path / "work", "r1")


class _Rec:
    """The two fields of a job record the sweep reads."""

    def __init__(self, status: str, workspace_path: str | None = None) -> None:
        self.status = status
        self.workspace_path = workspace_path


class _Loads:
    def __init__(self, records: dict[str, _Rec]) -> None:
        self.records = records
        self.count = 0

    def __call__(self) -> dict[str, Any]:
        self.count += 1
        return self.records


def test_a_job_no_other_job_needs_is_removed_without_reading_the_records(tmp_path: Path) -> None:
    spaces = _workspaces(tmp_path)
    root = spaces.start("a").ensure().root
    loads = _Loads({})

    assert spaces.sweep_after("a", "SUCCESS", loads) == ["a"]
    assert loads.count == 0 and not root.exists()


def test_a_failed_job_keeps_its_directory(tmp_path: Path) -> None:
    spaces = _workspaces(tmp_path)
    root = spaces.start("a").ensure().root

    assert spaces.sweep_after("a", "FAILED", _Loads({})) == []
    assert root.exists()


def test_a_dependency_goes_once_the_job_that_needs_it_is_done(tmp_path: Path) -> None:
    spaces = _workspaces(tmp_path)
    b_root = spaces.start("b").ensure().root
    loads = _Loads({"b": _Rec("SUCCESS")})

    assert spaces.sweep_after("b", "SUCCESS", loads) == []  # c still needs b's files
    assert b_root.exists()

    spaces.start("c").ensure()
    loads.records["c"] = _Rec("SUCCESS")
    assert spaces.sweep_after("c", "SUCCESS", loads) == ["c", "b"]
    assert not b_root.exists()
