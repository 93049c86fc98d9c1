"""A timeout is a wall-clock bound even when a background child keeps the output pipe open.

On a timeout, a stop request or the runner's own step timeout, the child's process group is signalled, also when its
leader already exited; the readers of the output pipes never outlive the step.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.api import Interrupted
from tests.unit.steps_process.helpers import ProcessHarness, kill_quietly, wait_for_pid_file, wait_gone

PIPE_MODES = ["inherit", "capture"]
ALL_MODES = ["inherit", "capture", "file", "discard", "passthrough"]


@pytest.fixture
def pid_file(proc_step: ProcessHarness) -> Iterator[Path]:
    """Where the child writes its background child's pid; that process is killed after the test whatever happens."""
    path = proc_step.artifacts / "background.pid"
    yield path
    if path.exists() and path.read_text().endswith("\n"):
        kill_quietly(int(path.read_text()))


def log_inputs(mode: str) -> dict[str, str]:
    log = {"stdout": mode, "stderr": mode}
    return {**log, "file_path": "child.log"} if mode == "file" else log


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "external-process-reader"]


@pytest.mark.parametrize("mode", PIPE_MODES)
def test_a_timeout_ends_the_step_when_the_child_exited_but_its_background_child_holds_the_pipe(
    proc_step: ProcessHarness, pid_file: Path, mode: str
) -> None:
    command = f"sleep 100 & echo $! > {pid_file}; echo hi"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^external\.process timed out after 2\.0s") as info:
        proc_step.run(command=command, shell=True, timeout_seconds=2, kill_grace_seconds=1, log=log_inputs(mode))
    elapsed = time.monotonic() - started
    assert elapsed < 2 + 1 + 1.5, elapsed
    assert "background" in str(info.value)
    assert wait_gone(wait_for_pid_file(pid_file), timeout=2)
    assert [e["message"] for e in proc_step.events.named("external_process_stdout")] == ["hi"]
    assert len(proc_step.events.named("external_process_timeout")) == 1


@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_timeout_ends_a_shell_with_a_background_child_on_time_and_leaves_no_process(
    proc_step: ProcessHarness, pid_file: Path, mode: str
) -> None:
    command = f"sleep 100 & echo $! > {pid_file}; echo hi; sleep 100"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^external\.process timed out after 2\.0s$"):
        proc_step.run(command=command, shell=True, timeout_seconds=2, kill_grace_seconds=1, log=log_inputs(mode))
    assert time.monotonic() - started < 2 + 1 + 1.5
    assert wait_gone(wait_for_pid_file(pid_file), timeout=2)
    assert reader_threads() == []


def test_a_child_that_left_the_process_group_and_holds_the_pipe_does_not_hold_up_a_timeout(
    proc_step: ProcessHarness, pid_file: Path
) -> None:
    # setsid puts the background child in a session of its own: the group signal cannot reach it.
    command = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 100' & sleep 100"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"^external\.process timed out after 1\.0s$"):
        proc_step.run(command=command, shell=True, timeout_seconds=1, kill_grace_seconds=0.5, log=log_inputs("capture"))
    assert time.monotonic() - started < 1 + 0.5 + 2
    assert reader_threads() == []


def test_without_a_timeout_the_step_waits_for_a_background_child_in_the_group_and_keeps_its_output(
    proc_step: ProcessHarness,
) -> None:
    command = "(sleep 0.5; echo late) & echo early"
    result = proc_step.run(command=command, shell=True, log={"stdout": "capture"})
    assert result.output["stdout"] == "early\nlate\n"


def test_without_a_timeout_a_child_that_left_the_group_does_not_hold_the_step(
    proc_step: ProcessHarness, pid_file: Path
) -> None:
    command = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 100' & echo done"
    started = time.monotonic()
    result = proc_step.run(command=command, shell=True, log={"stdout": "capture"})
    assert time.monotonic() - started < 5
    assert result.output["stdout"] == "done\n"
    assert reader_threads() == []


def test_a_stop_request_while_a_background_child_holds_the_pipe_interrupts_and_ends_it(
    proc_step: ProcessHarness, pid_file: Path
) -> None:
    stopper = threading.Timer(0.5, proc_step.ctx.cancelled.set)
    stopper.start()
    started = time.monotonic()
    try:
        with pytest.raises(Interrupted, match=r"stop requested while external\.process attempt 1 was running"):
            proc_step.run(command=f"sleep 100 & echo $! > {pid_file}; echo hi", shell=True, kill_grace_seconds=1)
    finally:
        stopper.cancel()
    assert time.monotonic() - started < 4
    assert wait_gone(wait_for_pid_file(pid_file), timeout=2)


def test_the_runner_stopping_a_step_reaches_a_background_child_after_the_leader_exited(
    proc_step: ProcessHarness, pid_file: Path
) -> None:
    """A step-level timeout: the runner sets the token and terminates the registered groups."""

    def runner_times_the_step_out() -> None:
        wait_for_pid_file(pid_file)
        time.sleep(0.3)  # the leader has exited by now; its background child holds the pipe
        proc_step.ctx.cancelled.set()
        proc_step.ctx._tracker.terminate_all(budget_seconds=1)

    timer = threading.Thread(target=runner_times_the_step_out)
    timer.start()
    try:
        with pytest.raises(Interrupted):
            proc_step.run(command=f"sleep 100 & echo $! > {pid_file}; echo hi", shell=True, kill_grace_seconds=1)
    finally:
        timer.join()
    assert wait_gone(wait_for_pid_file(pid_file), timeout=2)


def started_group_whose_leader_exited(pid_file: Path) -> subprocess.Popen[bytes]:
    """A leader that exits at once, leaving a background member of its group that ignores SIGTERM."""
    command = f"(trap '' TERM; exec sleep 100) & echo $! > {pid_file}"
    proc = subprocess.Popen(["/bin/sh", "-c", command], start_new_session=True)
    proc.wait()
    return proc


def test_the_runners_termination_reaches_a_group_whose_leader_already_exited(
    proc_step: ProcessHarness, pid_file: Path
) -> None:
    proc = started_group_whose_leader_exited(pid_file)
    member = wait_for_pid_file(pid_file)
    tracker = proc_step.ctx._tracker
    with proc_step.ctx.track_process(proc, kill_grace_seconds=0.3):
        started = time.monotonic()
        tracker.terminate_all(budget_seconds=5)
        assert time.monotonic() - started < 2  # SIGTERM is ignored: SIGKILL after the 0.3 s grace
    assert wait_gone(member, timeout=2)


def test_the_runners_second_signal_kill_reaches_a_group_whose_leader_already_exited(
    proc_step: ProcessHarness, pid_file: Path
) -> None:
    proc = started_group_whose_leader_exited(pid_file)
    member = wait_for_pid_file(pid_file)
    with proc_step.ctx.track_process(proc):
        proc_step.ctx._tracker.kill_all()
    assert wait_gone(member, timeout=2)
