"""Job workspaces through the real CLI: kept while a job that needs them may still run, removed by the cleanup
policy only when nothing can need them, re-created by re-running the dependency when a resume finds them gone, and
deleted by ``state prune`` when they are on this machine."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.integration.rerun.support import diamond, executed, workspace
from tests.support.cli import aetherflow, make_flow, run_args, write_flow

EXTRACT_FLOW = """
version: 1
flow: {{id: files}}
jobs:
  - id: extract
    steps:
      - id: write
        type: external.process
        inputs:
          command:
            - /bin/sh
            - -c
            - echo id,name > "$AETHERFLOW_ARTIFACTS_DIR/data.csv"; printf %s "$AETHERFLOW_ARTIFACTS_DIR/data.csv"
          log: {{stdout: capture}}
        outputs: {{path: "{{{{result.stdout}}}}"}}
  - id: publish
    depends_on: [extract]
    steps:
      - id: copy
        type: external.process
        inputs: {{command: [/bin/sh, -c, 'cat "$0" >> {out}', "{{{{jobs.extract.outputs.path}}}}"]}}
  - id: audit
    depends_on: [publish]
    steps:
      - id: check
        type: external.process
        inputs: {{command: [/bin/sh, -c, 'cat "$0" >> {out}{gate}', "{{{{jobs.extract.outputs.path}}}}"]}}
"""


def _extract_flow(tmp_path: Path, gate: Path | None = None):  # type: ignore[no-untyped-def]
    out = tmp_path / "published.txt"
    return make_flow(tmp_path, EXTRACT_FLOW.format(out=out, gate=f" && test -f {gate}" if gate else ""))


def test_a_later_job_reads_an_earlier_jobs_files_under_the_default_cleanup_policy(tmp_path: Path) -> None:
    flow = _extract_flow(tmp_path)

    done = flow.run()

    assert done.code == 0, done.stderr
    assert (tmp_path / "published.txt").read_text() == "id,name\nid,name\n"
    assert not (flow.work / "files" / "extract" / "r1").exists()  # everything that needed it is done
    assert not (flow.work / "files" / "audit" / "r1").exists()


def test_a_job_directory_stays_while_a_job_that_reads_it_has_not_succeeded(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    flow = _extract_flow(tmp_path, gate)

    failed = flow.run()

    assert failed.code == 1
    assert (flow.work / "files" / "extract" / "r1" / "artifacts" / "data.csv").exists()
    assert (flow.work / "files" / "publish" / "r1").is_dir()  # audit needs publish and has not succeeded
    gate.touch()
    assert flow.run().code == 0
    assert not (flow.work / "files" / "extract" / "r1").exists()


def test_files_stay_across_flow_job_invocations_until_the_last_reader_is_done(tmp_path: Path) -> None:
    flow = _extract_flow(tmp_path)

    steps = [flow.run("--flow-job", job) for job in ("extract", "publish")]
    kept = (flow.work / "files" / "extract" / "r1" / "artifacts" / "data.csv").exists()
    last = flow.run("--flow-job", "audit")

    assert [s.code for s in steps] == [0, 0] and last.code == 0, last.stderr
    assert kept
    assert not (flow.work / "files" / "extract" / "r1").exists()


def test_each_job_records_the_absolute_path_of_its_workspace(tmp_path: Path) -> None:
    flow = diamond(tmp_path)

    assert flow.run().code == 0

    rows = dict(flow.query("SELECT job_id, workspace_path FROM job_runs"))
    assert rows == {job: str(workspace(flow, job).absolute()) for job in "abcd"}


def test_resuming_a_run_whose_success_dependency_workspace_is_gone_reruns_it_before_its_dependent(
    tmp_path: Path,
) -> None:
    gate = tmp_path / "gate"
    flow = diamond(tmp_path, gate=gate)
    assert flow.run().code == 1  # c failed; a, b, d succeeded
    shutil.rmtree(workspace(flow, "b"))  # a new pod on an emptyDir
    gate.touch()

    resumed = flow.run()

    assert resumed.code == 0, resumed.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "b", "c"]  # b again, before c; a and d are not reset
    assert [(e["job_id"], e["needed_by"]) for e in resumed.event("workspace_gone")] == [("b", "c")]
    assert resumed.event("jobs_reset")[0]["jobs"] == ["b"]


def test_a_gone_workspace_cascades_to_the_dependency_that_the_reset_job_needs(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    flow = diamond(tmp_path, gate=gate)
    assert flow.run().code == 1
    shutil.rmtree(flow.work)  # the whole emptyDir is new
    gate.touch()

    resumed = flow.run()

    assert resumed.code == 0, resumed.stderr
    assert executed(tmp_path) == ["a", "b", "c", "d", "a", "b", "c"]  # d is done and not reset


def test_under_flow_job_a_gone_dependency_workspace_fails_the_job_naming_it(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    flow = diamond(tmp_path, gate=gate)
    assert flow.run().code == 1
    shutil.rmtree(workspace(flow, "b"))
    gate.touch()

    done = flow.run("--flow-job", "c")

    assert done.code == 3
    assert flow.show()["jobs"]["c"]["error"].endswith("Workspace of dependency b is gone; rerun it")
    assert executed(tmp_path) == ["a", "b", "c", "d"]


ALWAYS_PERMANENT = """
version: 1
flow: {id: perm, workspace: {cleanup_policy: always}}
jobs:
  - id: a
    steps: [{id: s, type: external.process, inputs: {command: [/bin/sh, -c, 'touch "$AETHERFLOW_ARTIFACTS_DIR/x"']}}]
  - id: b
    depends_on: [a]
    steps: [{id: s, type: external.process, inputs: {command: [/bin/true], success: {require_files: [none.txt]}}}]
"""


def test_always_removes_every_directory_when_the_run_fails_permanently(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, ALWAYS_PERMANENT)

    done = flow.run()

    assert done.code == 3, done.stderr
    assert not (flow.work / "perm" / "a" / "r1").exists() and not (flow.work / "perm" / "b" / "r1").exists()


def test_always_removes_nothing_the_run_may_still_need_when_it_fails_with_exit_1(tmp_path: Path) -> None:
    flow = diamond(tmp_path, policy="always", gate=tmp_path / "never")

    done = flow.run()

    assert done.code == 1
    assert workspace(flow, "b").is_dir() and workspace(flow, "c").is_dir()  # c may run again and needs b
    assert not workspace(flow, "a").exists() and not workspace(flow, "d").exists()  # nothing left needs them


def test_never_keeps_every_directory(tmp_path: Path) -> None:
    flow = diamond(tmp_path, policy="never")

    assert flow.run().code == 0

    assert all(workspace(flow, job).is_dir() for job in "abcd")


def test_state_prune_deletes_the_workspaces_on_this_machine_and_reports_the_others_unreachable(
    tmp_path: Path,
) -> None:
    flow = diamond(tmp_path, policy="never")
    assert flow.run().code == 0
    shutil.rmtree(workspace(flow, "d"))  # written by a pod on another node
    with sqlite3.connect(flow.state) as conn:  # a record that does not name a workspace is never deleted
        conn.execute("UPDATE job_runs SET workspace_path = ? WHERE job_id = 'c'", (str(tmp_path),))

    dry = aetherflow("state", "prune", "--older-than", "0", "--state", str(flow.state), "--dry-run", "--json")
    done = aetherflow("state", "prune", "--older-than", "0", "--state", str(flow.state), "--json")

    assert dry.code == 0 and done.code == 0, done.stderr
    expected = {"runs": 1, "workspaces_removed": 2, "workspaces_unreachable": 2}
    assert {k: json.loads(dry.stdout)[k] for k in expected} == expected
    assert {k: json.loads(done.stdout)[k] for k in expected} == expected
    assert not workspace(flow, "a").exists() and not workspace(flow, "b").exists()
    assert workspace(flow, "c").exists() and tmp_path.exists()


def test_the_automatic_prune_removes_only_runs_of_the_current_flow(tmp_path: Path) -> None:
    one = diamond(tmp_path, policy="never", flow_id="one")
    other = write_flow(tmp_path, one.flow.read_text().replace("id: one", "id: two"), name="other.yaml")
    assert one.run(run_id="old").code == 0
    assert aetherflow(*run_args(other, one.state, one.work, "other")).code == 0

    later = one.run(run_id="new", env={"AETHERFLOW_STATE_RETENTION_DAYS": "0"})

    assert later.code == 0, later.stderr
    runs = one.query("SELECT flow_id, run_id FROM runs")
    assert ("two", "other") in runs and ("one", "old") not in runs
    assert not workspace(one, "a", "old", "one").exists()
    assert (one.work / "two" / "a" / "other").is_dir()


NO_FILES_FLOW = """
version: 1
flow: {{id: nofiles}}
jobs:
  - id: notify
    steps:
      - {{id: count, type: check_items, inputs: {{items: [a, b]}}}}
  - id: load
    depends_on: [notify]
    steps:
      - {{id: gate, type: external.process, inputs: {{command: [/bin/sh, -c, 'test -f {gate}']}}}}
"""


def test_a_job_that_wrote_no_file_is_not_re_run_when_a_new_pod_resumes_on_an_empty_disk(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    flow = make_flow(tmp_path, NO_FILES_FLOW.format(gate=gate))
    assert flow.run().code == 1  # load fails until the gate exists
    assert not (flow.work / "nofiles" / "notify" / "r1").exists()  # no file asked for: no directory made
    shutil.rmtree(flow.work, ignore_errors=True)  # the next pod starts on an empty volume
    gate.touch()

    resumed = flow.run()

    assert resumed.code == 0, resumed.stderr
    # notify is restored, not run again: it never had a workspace, so none can be gone
    assert [e["job_id"] for e in resumed.event("step_start")] == ["load"]
    assert not resumed.event("workspace_gone")
