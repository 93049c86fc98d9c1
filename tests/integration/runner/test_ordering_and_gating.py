"""Job order, depends_on/BLOCKED, when, outputs and exit codes of whole runs through the CLI."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import make_flow

SH = "/bin/sh"


def test_jobs_run_in_dependency_order_with_declaration_order_as_tie_break(tmp_path: Path) -> None:
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

    result = flow.run()

    assert result.code == 0, result.stderr
    assert [e["job_id"] for e in result.event("job_start")] == ["b", "a", "c"]


def test_failed_job_blocks_its_dependents_while_independent_jobs_still_run(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: fanout}}
        jobs:
          - id: extract
            steps: [{{id: fail, type: external.process, inputs: {{command: ["{SH}", "-c", "exit 3"]}}}}]
          - {{id: load, depends_on: [extract], steps: [{{id: s, type: check_items, inputs: {{items: "x"}}}}]}}
          - {{id: report, depends_on: [load], steps: [{{id: s, type: check_items, inputs: {{items: "x"}}}}]}}
          - {{id: audit, steps: [{{id: s, type: check_items, inputs: {{items: "x"}}}}]}}
    """,
    )

    result = flow.run()
    shown = flow.show()

    assert result.code == 1
    assert {j: v["status"] for j, v in shown["jobs"].items()} == {
        "extract": "FAILED",
        "load": "BLOCKED",
        "report": "BLOCKED",
        "audit": "SUCCESS",
    }
    assert shown["jobs"]["load"]["error"] == "blocked by: extract (FAILED)"
    assert shown["jobs"]["report"]["error"] == "blocked by: load (BLOCKED)"
    assert shown["jobs"]["extract"]["error"].startswith("RuntimeError: external.process failed with exit code 3")


def test_job_blocked_only_behind_a_skipped_job_does_not_fail_the_run(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: quiet}
        jobs:
          - {id: a, when: "false", steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
          - {id: b, depends_on: [a], steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
    """,
    )

    result = flow.run()
    shown = flow.show()

    assert result.code == 0, result.stderr
    assert shown["status"] == "SUCCESS"
    assert shown["jobs"]["a"]["status"] == "SKIPPED"
    assert shown["jobs"]["b"] == {"status": "BLOCKED", "error": "blocked by: a (SKIPPED)", "outputs": {}, "steps": {}}


def test_when_reads_promoted_outputs_of_earlier_jobs_with_their_types(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: gate}
        jobs:
          - id: probe
            steps:
              - id: count
                type: check_items
                inputs: {items: "a,b,c"}
                outputs: {n: "{{result.count}}", label: "n={{result.count}}"}
          - id: big
            depends_on: [probe]
            when: "jobs.probe.outputs.n >= 3 and jobs.probe.outputs.label == 'n=3'"
            steps: [{id: s, type: check_items, inputs: {items: "{{jobs.probe.outputs.label}}"}}]
          - id: small
            depends_on: [probe]
            when: "jobs.probe.outputs.n < 3"
            steps: [{id: s, type: check_items, inputs: {items: "x"}}]
    """,
    )

    result = flow.run()
    shown = flow.show()

    assert result.code == 0, result.stderr
    assert shown["jobs"]["probe"]["outputs"] == {"n": 3, "label": "n=3"}
    assert shown["jobs"]["big"]["status"] == "SUCCESS"
    assert shown["jobs"]["small"]["status"] == "SKIPPED"


def test_when_with_a_missing_reference_fails_the_job_and_blocks_its_dependents(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: badwhen}
        jobs:
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
          - {id: b, depends_on: [a], when: " jobs.a.outputs.nope == 1 ", steps: []}
          - {id: c, depends_on: [b], steps: []}
    """,
    )

    result = flow.run()
    shown = flow.show()

    assert result.code == 3  # permanent: retrying cannot help
    assert shown["jobs"]["b"]["error"] == (
        "ValueError: Invalid job.when for job_id=b: 'jobs.a.outputs.nope' is not defined"
        " (when: jobs.a.outputs.nope == 1)"
    )
    assert shown["jobs"]["c"]["status"] == "BLOCKED"


def test_on_no_data_skip_job_skips_the_rest_of_the_job_and_the_job_ends_skipped(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: nodata}
        jobs:
          - id: a
            steps:
              - id: probe
                type: check_items
                inputs: {items: []}
                on_no_data: skip_job
                outputs: {has: "{{result.has_data}}"}
              - {id: never, type: check_items, inputs: {items: "x"}}
    """,
    )

    result = flow.run()
    shown = flow.show()

    assert result.code == 0, result.stderr
    job = shown["jobs"]["a"]
    assert job["status"] == "SKIPPED"
    assert job["outputs"] == {"has": False}
    assert job["steps"]["never"] == {
        "status": "SKIPPED",
        "attempts": 0,
        "error": None,
        "outputs": {"skipped": True, "reason": "count(0) < min_count(1)"},
    }


def test_a_template_error_fails_the_step_without_an_attempt(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: tmpl}
        jobs:
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "{{run_id.part}}"}}]}
    """,
    )  # a string has no keys: known only when the step renders (a missing env stops the run before it starts)

    result = flow.run()
    step = flow.show()["jobs"]["a"]["steps"]["s"]

    assert result.code == 3  # permanent: retrying cannot help
    assert step["attempts"] == 0
    assert step["error"] == "TemplateMissingKey: Missing template key: run_id.part"


def test_an_invalid_flow_exits_2_and_creates_no_state(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: broken}
        jobs:
          - {id: a, depend_on: [], steps: []}
    """,
    )

    result = flow.run()

    assert result.code == 2
    assert result.stderr.splitlines()[0] == f"INVALID: {flow.flow}"
    assert "did you mean 'depends_on'?" in result.stderr
    assert not flow.state.exists()


def test_an_empty_jobs_list_succeeds(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, "version: 1\nflow: {id: empty}\njobs: []\n")

    result = flow.run()

    assert result.code == 0, result.stderr
    assert result.event("run_summary")[0]["status_counts"] == {}
