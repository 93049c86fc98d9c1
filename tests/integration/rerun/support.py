"""Flows of the re-run and workspace tests: jobs whose one step counts its executions and marks its workspace."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import FlowRun, make_flow


def marking_step(job_id: str, counter: Path, *, fail_unless: Path | None = None) -> str:
    """A step that appends the job id to ``counter``, with ``fail_unless`` fails while that file is missing, fails
    if its workspace already holds the mark of an earlier successful execution (a workspace that was not fresh),
    then marks it."""
    gate = f" && test -f {fail_unless}" if fail_unless is not None else ""
    script = (
        f'echo {job_id} >> {counter}{gate} && test ! -e \\"$AETHERFLOW_ARTIFACTS_DIR/mark\\"'
        f' && touch \\"$AETHERFLOW_ARTIFACTS_DIR/mark\\"'
    )
    return f'[{{id: s, type: external.process, inputs: {{command: ["/bin/sh", "-c", "{script}"]}}}}]'


def diamond(tmp_path: Path, *, policy: str = "never", gate: Path | None = None, flow_id: str = "rr") -> FlowRun:
    """a; b and d need a; c needs b (and fails while ``gate`` is missing)."""
    counter = tmp_path / "count.txt"
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: {flow_id}, workspace: {{cleanup_policy: {policy}}}}}
        jobs:
          - {{id: a, steps: {marking_step("a", counter)}}}
          - {{id: b, depends_on: [a], steps: {marking_step("b", counter)}}}
          - {{id: c, depends_on: [b], steps: {marking_step("c", counter, fail_unless=gate)}}}
          - {{id: d, depends_on: [a], steps: {marking_step("d", counter)}}}
        """,
    )


def executed(tmp_path: Path) -> list[str]:
    """The job ids in the order their steps ran."""
    counter = tmp_path / "count.txt"
    return counter.read_text().split() if counter.exists() else []


def workspace(flow: FlowRun, job_id: str, run_id: str = "r1", flow_id: str = "rr") -> Path:
    """The job's workspace directory in the run."""
    return flow.work / flow_id / job_id / run_id
