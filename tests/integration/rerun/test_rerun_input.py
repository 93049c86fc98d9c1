"""``--rerun`` (``AETHERFLOW_RERUN``) as input: every mistake is exit 2 with one line, and nothing is recorded."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import FlowRun, make_flow


def _flow(tmp_path: Path) -> FlowRun:
    counter = tmp_path / "count.txt"
    steps = {
        job: f'[{{id: s, type: external.process, inputs: {{command: ["/bin/sh", "-c", "echo {job} >> {counter}"]}}}}]'
        for job in "abc"
    }
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: rerun_input}}
        jobs:
          - {{id: a, steps: {steps["a"]}}}
          - {{id: b, depends_on: [a], steps: {steps["b"]}}}
          - {{id: c, depends_on: [b], steps: {steps["c"]}}}
        """,
    )


def _runs(flow: FlowRun) -> list[tuple[str, int]]:
    return flow.query("SELECT run_id, attempt FROM runs ORDER BY run_id") if flow.state.exists() else []


def test_rerun_together_with_flow_job_is_refused_before_anything_runs(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    assert flow.run().code == 0

    done = flow.run("--rerun", "b", "--flow-job", "c")

    assert done.code == 2
    assert "--rerun (AETHERFLOW_RERUN) cannot be combined with --flow-job" in done.stderr
    assert _runs(flow) == [("r1", 1)]


def test_rerun_of_an_unknown_job_names_it_with_a_suggestion(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    assert flow.run().code == 0

    done = flow.run("--rerun", "a,bb")

    assert done.code == 2
    assert "Unknown job for --rerun: 'bb' (did you mean 'b'?)" in done.stderr
    assert "Traceback" not in done.stderr
    assert _runs(flow) == [("r1", 1)]


def test_rerun_of_a_hostile_job_name_is_one_line_and_lists_the_jobs(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    assert flow.run().code == 0

    done = flow.run("--rerun", 'x"\n\\y\x1b')

    assert done.code == 2
    error_lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [r"""error: Unknown job for --rerun: 'x"\n\\y\x1b' (jobs: a, b, c)"""]
    assert _runs(flow) == [("r1", 1)]


def test_rerun_naming_no_job_is_refused(tmp_path: Path) -> None:
    flow = _flow(tmp_path)

    done = flow.run("--rerun", " , ")

    assert done.code == 2
    assert "--rerun (AETHERFLOW_RERUN) names no job" in done.stderr


def test_rerun_of_a_run_id_the_store_does_not_know_records_nothing(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    assert flow.run().code == 0

    done = flow.run("--rerun", "b", run_id="no-such-run")

    assert done.code == 2
    assert "Unknown run for --rerun: no-such-run (flow rerun_input)" in done.stderr
    assert _runs(flow) == [("r1", 1)]
    assert (tmp_path / "count.txt").read_text().split() == ["a", "b", "c"]


def test_the_rerun_setting_is_checked_like_the_flag(tmp_path: Path) -> None:
    flow = _flow(tmp_path)
    assert flow.run().code == 0

    done = flow.run(env={"AETHERFLOW_RERUN": "nope"})

    assert done.code == 2
    assert "Unknown job for --rerun: 'nope'" in done.stderr
    assert _runs(flow) == [("r1", 1)]
