"""Stops reach the child: cancellation token, runner-side termination, and the parent-death signal.

Spec: steps.md §3 (process group, PR_SET_PDEATHSIG), execution.md §9 and §13, plugins-and-bundles.md §2.1.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from aetherflow.api import Interrupted
from tests.unit.steps_process.helpers import ProcessHarness, kill_quietly, py, wait_for_pid_file, wait_gone

REPO_ROOT = Path(__file__).resolve().parents[3]


def long_child(pid_file: Path) -> str:
    """A shell child that records its pid and then becomes ``sleep 60`` (same pid)."""
    return f"echo $$ > {pid_file}; exec sleep 60"


def test_a_stop_request_while_the_child_runs_terminates_it_and_raises_interrupted(proc_step: ProcessHarness) -> None:
    pid_file = proc_step.artifacts / "child.pid"
    stopper = threading.Timer(0.3, proc_step.ctx.cancelled.set)
    stopper.start()
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted, match=r"stop requested while external\.process attempt 1 was running"):
            proc_step.run(command=long_child(pid_file), shell=True, kill_grace_seconds=5)
        assert time.monotonic() - started < 5
        assert wait_gone(wait_for_pid_file(pid_file), timeout=2)
    finally:
        stopper.cancel()
        if pid_file.exists():
            kill_quietly(int(pid_file.read_text()))


def test_a_stop_request_before_the_step_starts_no_process(proc_step: ProcessHarness) -> None:
    proc_step.ctx.cancelled.set()
    with pytest.raises(Interrupted):
        proc_step.run(command=py("pass"))
    assert proc_step.events.named("external_process_start") == []


def test_a_stop_request_during_the_retry_backoff_ends_the_wait_without_another_attempt(
    proc_step: ProcessHarness,
) -> None:
    stopper = threading.Timer(0.3, proc_step.ctx.cancelled.set)
    stopper.start()
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted, match=r"before external\.process attempt 2"):
            proc_step.run(
                command=py("raise SystemExit(3)"),
                retry={"max_attempts": 2, "retry_on_exit_codes": [3], "backoff_seconds": 30},
            )
    finally:
        stopper.cancel()
    assert time.monotonic() - started < 10
    assert len(proc_step.events.named("external_process_start")) == 1


def test_the_child_is_registered_so_the_runner_can_terminate_its_group(proc_step: ProcessHarness) -> None:
    pid_file = proc_step.artifacts / "child.pid"
    tracker = proc_step.ctx._tracker

    def runner_stops_the_step() -> None:
        wait_for_pid_file(pid_file)
        # The child can write its pid before the step thread has registered it: wait for the registration.
        deadline = time.monotonic() + 5
        while not tracker._procs and time.monotonic() < deadline:
            time.sleep(0.01)
        tracker.terminate_all(budget_seconds=2)  # what the runner does on a step timeout or a stop request

    stopper = threading.Thread(target=runner_stops_the_step)
    stopper.start()
    try:
        with pytest.raises(RuntimeError, match=r"^external\.process failed with exit code -15\n"):
            proc_step.run(command=long_child(pid_file), shell=True, timeout_seconds=30)
    finally:
        stopper.join()
        kill_quietly(int(pid_file.read_text()))


RUNNER_LIKE = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    from tests.support.context import make_step_context, run_step

    ctx, events, pool = make_step_context(Path(sys.argv[1]), step_type="external.process")
    inputs = {"command": sys.argv[2], "shell": True}
    # Like the runner, run the step on a worker thread: the child must be tied to that thread, which stays alive.
    worker = threading.Thread(target=run_step, args=(ctx, "external.process", inputs))
    worker.start()
    worker.join()
    """
)


def test_the_child_dies_when_the_runner_process_is_sigkilled(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    runner = subprocess.Popen([sys.executable, "-c", RUNNER_LIKE, str(tmp_path), long_child(pid_file)], cwd=REPO_ROOT)
    try:
        child = wait_for_pid_file(pid_file)
        runner.kill()  # SIGKILL: the runner gets no chance to clean up
        runner.wait()
        assert wait_gone(child, timeout=5), "the child outlived its SIGKILLed parent (no PR_SET_PDEATHSIG)"
    finally:
        runner.kill()
        runner.wait()
        if pid_file.exists():
            kill_quietly(int(pid_file.read_text()))
