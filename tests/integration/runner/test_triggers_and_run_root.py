"""Trigger rules (failure handlers, clean-up jobs) and the ``run`` template root, through the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import clean_env, cli_argv, make_flow, run_args

HANDLERS = """
version: 1
flow: {id: handlers}
jobs:
  - id: load
    steps:
      - id: s
        type: check_items
        inputs: {items: "a", min_count: "{{env.MIN_COUNT:1}}"}
  - id: work
    steps:
      - id: s
        type: external.process
        inputs: {command: ["sh", "-c", "{{env.WORK_SCRIPT:exit 0}}"]}
  - id: on_failure
    depends_on: [load, work]
    trigger: one_failed
    steps: [{id: s, type: check_items, inputs: {items: "x"}}]
  - id: tidy
    depends_on: [load, work]
    trigger: all_done
    steps: [{id: s, type: check_items, inputs: {items: "x"}}]
  - id: after_handler
    depends_on: [on_failure]
    steps: [{id: s, type: check_items, inputs: {items: "x"}}]
"""


def _statuses(shown: dict[str, object]) -> dict[str, str]:
    jobs = shown["jobs"]
    assert isinstance(jobs, dict)
    return {job: value["status"] for job, value in jobs.items()}


def test_a_one_failed_handler_runs_after_a_failure_and_the_run_still_exits_1(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, HANDLERS)

    result = flow.run(env={"WORK_SCRIPT": "exit 4"})
    shown = flow.show()

    assert result.code == 1, result.stderr
    assert shown["status"] == "FAILED"
    assert _statuses(shown) == {
        "load": "SUCCESS",
        "work": "FAILED",
        "on_failure": "SUCCESS",
        "tidy": "SUCCESS",
        "after_handler": "SUCCESS",
    }


def test_a_handler_keeps_exit_3_when_every_failure_is_permanent(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, HANDLERS)

    result = flow.run(env={"MIN_COUNT": "not-a-number"})

    assert result.code == 3, result.stderr
    assert _statuses(flow.show())["on_failure"] == "SUCCESS"


def test_a_one_failed_handler_is_skipped_with_the_trigger_reason_when_nothing_failed(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, HANDLERS)

    result = flow.run()
    shown = flow.show()

    assert result.code == 0, result.stderr
    handler = shown["jobs"]["on_failure"]
    assert handler["status"] == "SKIPPED"
    rows = flow.query("SELECT skip_reason, skip_trigger FROM job_runs WHERE job_id = 'on_failure'")
    assert rows == [("trigger=one_failed: no dependency failed", "trigger")]
    assert _statuses(shown)["tidy"] == "SUCCESS"
    assert shown["jobs"]["after_handler"]["error"] == "blocked by: on_failure (SKIPPED)"


def test_when_is_read_only_after_the_trigger_lets_the_job_run(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: order_of_checks}
        jobs:
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
          - id: handler
            depends_on: [a]
            trigger: one_failed
            when: "jobs.a.outputs.never_there == 1"
            steps: [{id: s, type: check_items, inputs: {items: "x"}}]
        """,
    )

    result = flow.run()

    assert result.code == 0, result.stderr  # the missing reference of `when` is never read
    assert _statuses(flow.show())["handler"] == "SKIPPED"


def test_flow_job_applies_the_rule_to_stored_statuses_and_blocks_without_a_record(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, HANDLERS)

    alone = flow.run("--flow-job", "tidy", run_id="r-flow-job")
    assert alone.code == 1
    assert flow.show("r-flow-job")["jobs"]["tidy"]["status"] == "BLOCKED"
    assert flow.show("r-flow-job")["jobs"]["tidy"]["error"] == "blocked by: load (NOT_RUN), work (NOT_RUN)"

    assert flow.run("--flow-job", "load", run_id="r-flow-job").code == 0
    assert flow.run("--flow-job", "work", run_id="r-flow-job", env={"WORK_SCRIPT": "exit 5"}).code == 1
    handler = flow.run("--flow-job", "on_failure", run_id="r-flow-job")

    assert handler.code == 0, handler.stderr
    assert flow.show("r-flow-job")["jobs"]["on_failure"]["status"] == "SUCCESS"


RENDER = """
version: 1
flow:
  id: dated
  timezone: "{{env.FLOW_TZ:UTC}}"
jobs:
  - id: first
    when: "run.attempt >= 1"
    steps:
      # the values are written, then the step may wait to be killed: a resume runs it again, re-rendered
      - id: record
        type: external.process
        inputs:
          command: ["sh", "-c", "printf '%s\\n' \\"$RUN_VALUES\\" >> {out}; {{env.WAIT_SCRIPT:exit 0}}"]
          env: {RUN_VALUES: "{{run.id}}|{{run.attempt}}|{{run.scheduled_at}}|{{run.date}}"}
"""


def _render_flow(tmp_path: Path):  # type: ignore[no-untyped-def]
    out = tmp_path / "values.txt"
    return make_flow(tmp_path, RENDER.replace("{out}", str(out))), out


def test_the_run_root_renders_the_slot_and_its_date_in_the_flow_time_zone(tmp_path: Path) -> None:
    flow, out = _render_flow(tmp_path)
    near_midnight = {"AETHERFLOW_SCHEDULED_AT": "2026-03-01T23:30:00Z"}

    assert flow.run(run_id="utc", env=near_midnight).code == 0
    assert flow.run(run_id="berlin", env={**near_midnight, "FLOW_TZ": "Europe/Berlin"}).code == 0

    assert out.read_text().splitlines() == [
        "utc|1|2026-03-01T23:30:00Z|2026-03-01",
        "berlin|1|2026-03-01T23:30:00Z|2026-03-02",
    ]


def test_run_date_is_identical_across_a_sigkill_and_resume_and_a_differing_slot_warns(tmp_path: Path) -> None:
    flow, out = _render_flow(tmp_path)
    env = clean_env(AETHERFLOW_LOG_FORMAT="json", WAIT_SCRIPT="sleep 60", FLOW_TZ="Pacific/Auckland")
    proc = subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "killed")),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first = out.read_text().splitlines()
    out.write_text("")

    resumed = flow.run(
        run_id="killed", env={"FLOW_TZ": "Pacific/Auckland", "AETHERFLOW_SCHEDULED_AT": "2030-01-01T00:00:00Z"}
    )

    assert resumed.code == 0, resumed.stderr
    (line,) = first
    run_id, attempt, scheduled_at, date = line.split("|")
    assert (run_id, attempt) == ("killed", "1")
    assert out.read_text().splitlines() == [f"killed|2|{scheduled_at}|{date}"]
    kept = resumed.event("scheduled_at_kept")
    assert [(e["level"], e["stored"], e["given"]) for e in kept] == [("WARNING", scheduled_at, "2030-01-01T00:00:00Z")]
    assert json.loads(json.dumps(flow.show("killed")))["scheduled_at"] == scheduled_at


def test_an_unknown_flow_time_zone_exits_2_before_anything_runs(tmp_path: Path) -> None:
    flow, out = _render_flow(tmp_path)

    result = flow.run(env={"FLOW_TZ": "Mars/Olympus_Mons"})

    assert result.code == 2
    assert "flow.timezone: schema:value_error - Value error, unknown time zone 'Mars/Olympus_Mons'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and not flow.state.exists()
