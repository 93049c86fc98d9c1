"""Overlap protection (exit 75) and SIGTERM-safe runs, with real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.support.cli import aetherflow, clean_env, cli_argv, make_flow, run_args


def _popen(flow: Path, state: Path, work: Path, run_id: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_argv(*run_args(flow, state, work, run_id), *extra),
        env=clean_env(AETHERFLOW_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_two_runs_of_a_flow_scoped_flow_started_together_one_exits_75_having_run_nothing(tmp_path: Path) -> None:
    started = tmp_path / "started"
    counter = tmp_path / "count.txt"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: overlap, locks: {{scope: flow}}}}
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "echo x >> {counter}; touch {started}; sleep 2"]}}
    """,
    )

    first = _popen(flow.flow, flow.state, flow.work, "run-1")
    _wait_for(started)
    second = _popen(flow.flow, flow.state, flow.work, "run-2")
    _, second_err = second.communicate(timeout=60)
    first.communicate(timeout=60)

    assert first.returncode == 0
    assert second.returncode == 75, second_err
    assert counter.read_text().split() == ["x"]
    overlap = [json.loads(line) for line in second_err.splitlines() if '"run_overlap"' in line]
    assert overlap and overlap[0]["owner"].startswith("run-1#") and overlap[0]["key"] == "flow:overlap"
    assert flow.query("SELECT run_id FROM runs") == [("run-1",)]


def test_a_job_scope_lock_held_elsewhere_fails_only_that_job_and_exits_1(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: jobscope, locks: {scope: job}}
        jobs:
          - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
    """,
    )
    flow.run(run_id="seed")  # creates the database
    import sqlite3

    with sqlite3.connect(flow.state) as conn:
        conn.execute(
            "INSERT INTO locks (key, owner, expires_at) VALUES ('job:jobscope:a', 'other-run', ?)", (time.time() + 600,)
        )

    result = flow.run(run_id="r2")

    assert result.code == 1  # a failed job that a later retry may get through, not a refusal without a record
    assert flow.show("r2")["jobs"]["a"]["error"] == "LockBusy: Lock not acquired: job:jobscope:a (held by other-run)"


def test_sigterm_interrupts_the_running_step_releases_locks_and_a_rerun_resumes(tmp_path: Path) -> None:
    started = tmp_path / "started"
    got_term = tmp_path / "got_term"
    done_marker = tmp_path / "done"
    script = (
        f"if [ -f {done_marker} ]; then exit 0; fi; trap 'touch {got_term}; exit 143' TERM; "
        f"touch {started}; sleep 60 & wait"
    )
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: term, locks: {{scope: flow}}}}
        jobs:
          - id: a
            steps:
              - {{id: quick, type: check_items, inputs: {{items: "x"}}}}
              - {{id: long, type: external.process, inputs: {{command: ["/bin/sh", "-c", "{script}"]}}}}
    """,
    )

    proc = _popen(flow.flow, flow.state, flow.work, "r1")
    _wait_for(started)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 143, err
    assert got_term.exists()
    shown = flow.show()
    assert shown["status"] == "INTERRUPTED"
    assert shown["jobs"]["a"]["status"] == "INTERRUPTED"
    assert shown["jobs"]["a"]["steps"]["long"]["status"] == "INTERRUPTED"
    assert shown["jobs"]["a"]["steps"]["long"]["error"] == "Interrupted: received SIGTERM"
    assert flow.query("SELECT COUNT(*) FROM locks") == [(0,)]
    assert any('"run_cancel_requested"' in line for line in err.splitlines())

    done_marker.touch()
    rerun = flow.run()

    assert rerun.code == 0, rerun.stderr
    assert [e["step_id"] for e in rerun.event("step_restored")] == ["quick"]


def test_locks_cli_lists_and_releases_a_lock(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, "version: 1\nflow: {id: lk}\njobs: []\n")
    flow.run()
    import sqlite3

    with sqlite3.connect(flow.state) as conn:
        conn.execute("INSERT INTO locks (key, owner, expires_at) VALUES ('k1', 'o1', ?)", (time.time() + 60,))

    listed = aetherflow("locks", "list", "--state", str(flow.state), "--json")
    refused = aetherflow("locks", "release", "k1", "--state", str(flow.state), "--owner", "o2")
    released = aetherflow("locks", "release", "k1", "--state", str(flow.state), "--owner", "o1")

    assert [lock["key"] for lock in json.loads(listed.stdout)] == ["k1"]
    assert refused.code == 1 and "held by o1" in refused.stderr
    assert released.code == 0 and released.stdout.strip() == "Released k1 (owner o1)"


def test_a_step_ignoring_sigterm_past_the_grace_is_recorded_interrupted_and_the_runner_leaves(tmp_path: Path) -> None:
    started = tmp_path / "started"
    termination = tmp_path / "termination-log"
    termination.touch()
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: stubborn}}
        jobs:
          - {{id: a, steps: [{{id: s, type: stubborn_sleep, inputs: {{marker: "{started}"}}}}]}}
    """,
    )
    plugins = Path(__file__).resolve().parents[2] / "plugins" / "stubborn"
    env = clean_env(
        AETHERFLOW_LOG_FORMAT="json",
        AETHERFLOW_GRACE_SECONDS="1",
        AETHERFLOW_PLUGIN_PATHS=str(plugins),
        AETHERFLOW_TERMINATION_LOG=str(termination),
    )
    proc = subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1")),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(started)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)

    assert proc.returncode == 143, err
    assert time.monotonic() - sent < 30
    shown = flow.show(env={"AETHERFLOW_PLUGIN_PATHS": str(plugins)})
    assert shown["status"] == "INTERRUPTED"
    assert shown["jobs"]["a"]["steps"]["s"]["error"] == "Interrupted: received SIGTERM"
    assert json.loads(termination.read_text())["status"] == "INTERRUPTED"


def test_sigterm_during_the_run_takeover_wait_exits_143_as_interrupted_and_leaves_the_holder_alone(
    tmp_path: Path,
) -> None:
    started = tmp_path / "started"
    release = tmp_path / "release"
    termination = tmp_path / "termination"
    script = f"touch {started}; while [ ! -f {release} ]; do sleep 0.1; done"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: waiting}}
        jobs:
          - id: a
            steps:
              - {{id: long, type: external.process, inputs: {{command: ["/bin/sh", "-c", "{script}"]}}}}
    """,
    )
    termination.touch()  # a pod's termination log exists before the container starts
    holder = _popen(flow.flow, flow.state, flow.work, "r1")
    _wait_for(started)
    waiter = subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1")),
        env=clean_env(AETHERFLOW_LOG_FORMAT="json", AETHERFLOW_TERMINATION_LOG=str(termination)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert waiter.stderr is not None
    waited = next(line for line in iter(waiter.stderr.readline, "") if "already live" in line)  # blocks until the wait
    waiter.send_signal(signal.SIGTERM)
    _, rest = waiter.communicate(timeout=60)
    release.touch()
    _, holder_err = holder.communicate(timeout=60)

    assert waited, rest
    assert waiter.returncode == 143, rest
    message = json.loads(termination.read_text())
    assert message["status"] == "INTERRUPTED" and message["exit_code"] == 143
    assert "interrupted while waiting" in message["error"].lower() and "SIGTERM" in message["error"]
    assert not any('"run_overlap"' in line for line in rest.splitlines())
    assert holder.returncode == 0, holder_err
    assert flow.query("SELECT attempt, status FROM runs") == [(1, "SUCCESS")]
