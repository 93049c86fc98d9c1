"""One live invocation per run, through the real CLI: a second invocation of a live run never executes a step; it
waits for the holder to end (then resumes), to go stale, or to vanish on this host, and otherwise is refused with the
overlap code without changing a record. Busy locks inside a run fail the job (exit 1), not the overlap code."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import FlowRun, aetherflow, clean_env, cli_argv, make_flow, run_args

# Appends to the counter, then creates the side-effect file with O_EXCL: two executions at once cannot both succeed.
# A file named "quick" makes later executions sleep no more (the retry after a kill).
STEP = (
    "import os, sys, time; d = sys.argv[1]; p = lambda n: os.path.join(d, n); open(p('count'), 'a').write('x\\n'); "
    "fd = os.open(p('side'), os.O_CREAT | os.O_EXCL | os.O_WRONLY); open(p('started'), 'w').close(); "
    "time.sleep(0 if os.path.exists(p('quick')) else float(sys.argv[2])); os.unlink(p('side'))"
)


def _flow(tmp_path: Path, seconds: float, scope: str = "none", ttl: int = 600) -> FlowRun:
    command = json.dumps([sys.executable, "-c", STEP, str(tmp_path), str(seconds)])
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: once, locks: {{scope: {scope}, ttl_seconds: {ttl}}}}}
        jobs:
          - id: a
            steps:
              - {{id: s, type: external.process, inputs: {{command: {command}}}}}
        """,
    )


def _start(flow: FlowRun, run_id: str = "r1", **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, run_id)),
        env=clean_env(AETHERFLOW_LOG_FORMAT="json", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _events(stderr: str, name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{") and f'"{name}"' in line]


def _count(tmp_path: Path) -> int:
    return len((tmp_path / "count").read_text().split())


@pytest.mark.parametrize("scope", ["none", "flow"])
def test_a_second_invocation_of_a_live_run_waits_and_then_resumes_without_running_a_step_again(
    tmp_path: Path, scope: str
) -> None:
    flow = _flow(tmp_path, 2.0, scope)
    first = _start(flow)
    _wait_for(tmp_path / "started")
    second = _start(flow)
    _, second_err = second.communicate(timeout=60)
    first.communicate(timeout=60)

    assert (first.returncode, second.returncode) == (0, 0), second_err
    assert _count(tmp_path) == 1
    assert _events(second_err, "step_start") == []
    assert len(_events(second_err, "run_already_complete")) == 1
    assert flow.query("SELECT status, attempt FROM runs") == [("SUCCESS", 1)]


@pytest.mark.parametrize(("configured", "code"), [(None, 75), ("75", 75), ("0", 0)])
def test_a_second_invocation_still_refused_after_its_wait_exits_with_the_overlap_code_and_changes_no_record(
    tmp_path: Path, configured: str | None, code: int
) -> None:
    flow = _flow(tmp_path, 6.0)
    first = _start(flow)
    _wait_for(tmp_path / "started")
    before = flow.query("SELECT * FROM runs")
    termination = tmp_path / "termination"
    termination.touch()  # as the kubelet provides it: the message is only ever written into an existing file
    env = {"AETHERFLOW_RUN_TAKEOVER_SECONDS": "0.5", "AETHERFLOW_TERMINATION_LOG": str(termination)}
    if configured is not None:
        env["AETHERFLOW_OVERLAP_EXIT_CODE"] = configured

    second = _start(flow, **env)
    _, second_err = second.communicate(timeout=60)
    first_still_running = first.poll() is None
    after = flow.query("SELECT * FROM runs")
    listed = json.loads(aetherflow("locks", "list", "--state", str(flow.state), "--json").stdout)
    first.communicate(timeout=60)

    assert second.returncode == code, second_err
    assert first_still_running
    assert after == before
    assert [(row["key"], row["owner"].split("#")[0]) for row in listed] == [("run:once:r1", "r1")]
    assert _count(tmp_path) == 1
    message = json.loads(termination.read_text())
    assert (message["status"], message["exit_code"], message["run_id"]) == ("OVERLAP", code, "r1")
    assert message["error"].startswith("LockBusy: Lock not acquired: run:once:r1 (held by r1#")
    overlap = _events(second_err, "run_overlap")
    assert len(overlap) == 1 and overlap[0]["key"] == "run:once:r1"


def _kill_while_running(flow: FlowRun, tmp_path: Path) -> None:
    first = _start(flow)
    _wait_for(tmp_path / "started")
    first.kill()
    first.communicate(timeout=30)


def test_a_killed_invocation_on_this_host_is_taken_over_at_once_by_its_retry(tmp_path: Path) -> None:
    flow = _flow(tmp_path, 60.0)
    _kill_while_running(flow, tmp_path)
    (tmp_path / "side").unlink()  # the killed step's side effect: the retry runs the step again
    (tmp_path / "quick").touch()

    started = time.monotonic()
    retry = _start(flow)
    _, err = retry.communicate(timeout=60)
    took = time.monotonic() - started

    assert retry.returncode == 0, err
    assert took < 15  # not the 40 s a holder elsewhere would get before it counts as stale
    assert _count(tmp_path) == 2
    takeovers = _events(err, "lock_takeover")
    assert [(t["key"], t["reason"]) for t in takeovers] == [("run:once:r1", "holder_gone")]


def test_a_holder_recorded_on_another_host_is_taken_over_only_once_it_is_stale(tmp_path: Path) -> None:
    flow = _flow(tmp_path, 60.0, ttl=5)  # heartbeat every 5/3 s, stale after 5 s without one
    first = _start(flow)
    _wait_for(tmp_path / "started")
    # Make it look like another node's pod (same pid numbers mean nothing there), then let it die.
    with sqlite3.connect(flow.state) as conn:
        conn.execute("UPDATE locks SET host_boot_id = 'another-node'")
    first.kill()
    first.communicate(timeout=30)
    with sqlite3.connect(flow.state) as conn:
        (last_heartbeat,) = conn.execute("SELECT heartbeat_at FROM locks WHERE key = 'run:once:r1'").fetchone()
    (tmp_path / "side").unlink()
    (tmp_path / "quick").touch()

    retry = _start(flow)
    _, err = retry.communicate(timeout=60)
    done = time.time()

    assert retry.returncode == 0, err
    assert done >= last_heartbeat + 5
    takeovers = _events(err, "lock_takeover")
    # Up to a TTL of 30 s three intervals are the TTL itself: the row turns stale and expires at the same moment.
    assert [(t["key"], t["reason"]) for t in takeovers] in ([("run:once:r1", "stale")], [("run:once:r1", "expired")])


def _seeded(tmp_path: Path, text: str, key: str) -> FlowRun:
    flow = make_flow(tmp_path, text)
    seed = _start(flow, run_id="seed")
    seed.communicate(timeout=60)
    now = time.time()
    with sqlite3.connect(flow.state) as conn:
        conn.execute(
            "INSERT INTO locks (key, owner, expires_at, acquired_at, heartbeat_at, ttl_seconds, host_boot_id)"
            " VALUES (?, 'other-run#0badf00d', ?, ?, ?, 600, 'another-node')",
            (key, now + 600, now, now),
        )
    return flow


def test_a_with_lock_step_finding_its_lock_busy_fails_the_job_with_exit_1(tmp_path: Path) -> None:
    flow = _seeded(
        tmp_path,
        """
        version: 1
        flow: {id: wl}
        jobs:
          - id: a
            steps:
              - id: guarded
                type: with_lock
                inputs: {lock_key: export, wait_seconds: 0.2, step: {type: check_items, inputs: {items: "x"}}}
        """,
        "export",
    )

    proc = _start(flow, run_id="r2")
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 1, err
    job = flow.query("SELECT status, error FROM job_runs WHERE run_id = 'r2'")
    assert job == [("FAILED", "LockBusy: Lock not acquired: export (held by other-run#0badf00d)")]


def test_a_flow_lock_held_by_another_run_refuses_with_the_configured_code_and_no_record(tmp_path: Path) -> None:
    flow = _seeded(
        tmp_path,
        """
        version: 1
        flow: {id: fl, locks: {scope: flow}}
        jobs:
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
        """,
        "flow:fl",
    )
    termination = tmp_path / "termination"
    termination.touch()  # as the kubelet provides it: the message is only ever written into an existing file

    proc = _start(flow, run_id="r2", AETHERFLOW_OVERLAP_EXIT_CODE="0", AETHERFLOW_TERMINATION_LOG=str(termination))
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 0, err
    assert json.loads(termination.read_text())["status"] == "OVERLAP"
    assert json.loads(termination.read_text())["exit_code"] == 0
    assert flow.query("SELECT run_id FROM runs") == [("seed",)]
    assert [k for (k,) in flow.query("SELECT key FROM locks")] == ["flow:fl"]  # its run lock was given back


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AETHERFLOW_OVERLAP_EXIT_CODE", "1"),
        ("AETHERFLOW_OVERLAP_EXIT_CODE", "76"),
        ("AETHERFLOW_OVERLAP_EXIT_CODE", "yes"),
        ("AETHERFLOW_RUN_TAKEOVER_SECONDS", "-1"),
        ("AETHERFLOW_RUN_TAKEOVER_SECONDS", "soon"),
    ],
)
def test_a_bad_overlap_setting_is_an_input_error_naming_it(tmp_path: Path, name: str, value: str) -> None:
    flow = _flow(tmp_path, 0.0)

    proc = _start(flow, **{name: value})
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 2
    assert name in err
    assert "Traceback" not in err
    assert not (tmp_path / "count").exists()
