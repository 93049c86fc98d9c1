"""``aetherflow run --run-id R --rerun JOB`` through the real CLI: exactly the named jobs and the jobs that need
them run again, in fresh workspaces, with their attempt history kept; a retried pod of the same Job does not reset
them a second time."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from tests.integration.rerun.support import diamond, executed, workspace
from tests.support.cli import clean_env, cli_argv, make_flow, run_args


def test_rerun_re_executes_exactly_the_named_job_and_its_dependents_in_fresh_workspaces(tmp_path: Path) -> None:
    flow = diamond(tmp_path)
    assert flow.run().code == 0, flow.run().stderr
    assert executed(tmp_path) == ["a", "b", "c", "d"]

    again = flow.run("--rerun", "b")

    assert again.code == 0, again.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "b", "c"]  # the marks of the first run were gone: fresh
    assert again.event("jobs_reset")[0]["jobs"] == ["b", "c"]
    assert sorted(e["job_id"] for e in again.event("job_restored")) == ["a", "d"]
    assert again.event("run_already_complete") == []
    shown = flow.show()
    assert {job_id: job["status"] for job_id, job in shown["jobs"].items()} == dict.fromkeys("abcd", "SUCCESS")


def test_a_rerun_keeps_the_attempt_history_and_continues_its_numbering(tmp_path: Path) -> None:
    flow = diamond(tmp_path)
    assert flow.run().code == 0

    assert flow.run("--rerun", "c").code == 0

    rows = flow.query("SELECT job_id, attempt, run_attempt, status FROM step_attempts WHERE job_id = 'c'")
    assert sorted(rows) == [("c", 1, 1, "SUCCESS"), ("c", 2, 2, "SUCCESS")]
    assert flow.show()["jobs"]["c"]["steps"]["s"]["attempts"] == 2


def test_a_second_pod_of_the_same_job_with_the_same_request_resumes_without_resetting(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    flow = diamond(tmp_path, gate=gate)
    gate.touch()
    assert flow.run().code == 0
    gate.unlink()
    pod = {"AETHERFLOW_JOB_UID": "uid-7", "AETHERFLOW_RERUN": "b"}

    first_pod = flow.run(env=pod)  # b runs again, c fails
    gate.touch()
    second_pod = flow.run(env=pod)  # the same Job retried: b is kept, c runs

    assert first_pod.code == 1 and second_pod.code == 0, second_pod.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "b", "c", "c"]
    assert second_pod.event("jobs_reset") == []
    assert second_pod.event("rerun_already_reset")[0]["job_uid"] == "uid-7"
    stored = flow.query("SELECT rerun_request FROM runs")[0][0]
    assert json.loads(stored) == {"jobs": ["b"], "job_uid": "uid-7"}


def test_a_new_job_with_the_same_request_resets_again(tmp_path: Path) -> None:
    flow = diamond(tmp_path)
    assert flow.run().code == 0
    assert flow.run(env={"AETHERFLOW_JOB_UID": "uid-1", "AETHERFLOW_RERUN": "c"}).code == 0

    again = flow.run(env={"AETHERFLOW_JOB_UID": "uid-2", "AETHERFLOW_RERUN": "c"})

    assert again.code == 0, again.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "c", "c"]


def test_a_rerun_warns_about_a_dependency_whose_workspace_is_gone_and_never_runs_it(tmp_path: Path) -> None:
    flow = diamond(tmp_path)
    assert flow.run().code == 0
    shutil.rmtree(workspace(flow, "a"))

    again = flow.run("--rerun", "b")

    assert again.code == 0, again.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "b", "c"]
    gone = again.event("workspace_gone")
    assert [(e["job_id"], e["needed_by"], e["level"]) for e in gone] == [("a", "b", "WARNING")]
    assert gone[0]["path"] == str(workspace(flow, "a"))


def test_a_rerun_while_the_run_is_live_elsewhere_is_refused_and_resets_nothing(tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: live}}
        jobs:
          - {{id: a, steps: [{{id: s, type: check_items, inputs: {{items: [x]}}}}]}}
          - id: b
            depends_on: [a]
            steps:
              - id: wait
                type: external.process
                inputs: {{command: [/bin/sh, -c, "touch {started}; while [ ! -f {release} ]; do sleep 0.05; done"]}}
        """,
    )
    env = clean_env(AETHERFLOW_LOG_FORMAT="json")
    holder = subprocess.Popen(cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1")), env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started.exists()

        refused = flow.run("--rerun", "a", env={"AETHERFLOW_RUN_TAKEOVER_SECONDS": "0"})

        assert refused.code == 75, refused.stderr
        assert refused.event("jobs_reset") == []
        assert flow.query("SELECT job_id, status FROM job_runs ORDER BY job_id") == [
            ("a", "SUCCESS"),
            ("b", "RUNNING"),
        ]
    finally:
        release.touch()
        holder.communicate(timeout=60)
    assert holder.returncode == 0
