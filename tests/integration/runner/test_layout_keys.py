"""A run with ``workspace.layout`` naming one key: that key is used, the other two keep their defaults."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import aetherflow, clean_env, run_args, write_flow

FLOW = """
version: 1
flow:
  id: lay
  workspace: {cleanup_policy: never, layout: {artifacts: out}}
jobs:
  - id: a
    steps:
      - id: w
        type: external.process
        inputs:
          cwd: "."
          command: ["/bin/sh", "-c", "echo made > made.txt"]
"""


def test_a_run_with_only_artifacts_in_the_layout_writes_there_and_keeps_default_scratch_and_manifests(
    tmp_path: Path,
) -> None:
    flow, work = write_flow(tmp_path, FLOW), tmp_path / "work"

    result = aetherflow(*run_args(flow, tmp_path / "state.db", work, "r1"), env=clean_env())

    assert result.code == 0, result.stderr
    [made] = work.rglob("made.txt")
    job_dir = made.parent.parent
    assert made.parent.name == "out"
    assert made.read_text() == "made\n"
    assert job_dir == work / "lay" / "a" / "r1"
    assert sorted(p.name for p in job_dir.iterdir()) == ["manifests", "out", "scratch"]
