"""Timeouts, exit codes and process retries (spec steps.md §3, execution steps 4-5)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from aetherflow.steps.process import ProcessRetryInputs
from tests.unit.steps_process.helpers import ProcessHarness, kill_quietly, py, wait_for_pid_file, wait_gone

# Exits 3 until the counter file reaches ``sys.argv[2]``, then 0.
COUNTING = (
    "import sys, pathlib\n"
    "p = pathlib.Path(sys.argv[1]); n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n))\n"
    "sys.exit(0 if n >= int(sys.argv[2]) else 3)\n"
)


def test_a_timeout_terminates_the_whole_process_group_including_grandchildren(proc_step: ProcessHarness) -> None:
    pid_file = proc_step.artifacts / "grandchild.pid"
    command = f"sleep 60 & echo $! > {pid_file}; wait"
    try:
        with pytest.raises(TimeoutError, match=r"^external\.process timed out after 0\.5s$"):
            proc_step.run(command=command, shell=True, timeout_seconds=0.5, kill_grace_seconds=2)
        grandchild = wait_for_pid_file(pid_file)
        assert wait_gone(grandchild, timeout=2)
    finally:
        if pid_file.exists():
            kill_quietly(int(pid_file.read_text()))
    assert proc_step.events.named("external_process_timeout") == [
        {"level": "WARNING", "job_id": "j1", "step_id": "s1", "step_type": "external.process", "attempt": 1}
    ]


def test_the_timeout_in_the_message_is_written_as_a_float(proc_step: ProcessHarness) -> None:
    with pytest.raises(TimeoutError, match=r"^external\.process timed out after 1\.0s$"):
        proc_step.run(command=["sleep", "30"], timeout_seconds="1", kill_grace_seconds=1)


def test_a_child_ignoring_sigterm_is_killed_after_the_grace(proc_step: ProcessHarness) -> None:
    pid_file = proc_step.artifacts / "stubborn.pid"
    command = f"trap '' TERM; echo $$ > {pid_file}; while :; do sleep 0.05; done"
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        proc_step.run(command=command, shell=True, timeout_seconds=0.3, kill_grace_seconds=0.7)
    elapsed = time.monotonic() - started
    assert wait_gone(wait_for_pid_file(pid_file), timeout=2)
    assert elapsed >= 0.95  # the timeout, then the full grace: SIGTERM was ignored


def test_retry_on_timeout_starts_another_attempt(proc_step: ProcessHarness) -> None:
    with pytest.raises(TimeoutError):
        proc_step.run(
            command=["sleep", "30"],
            timeout_seconds=0.2,
            kill_grace_seconds=1,
            retry={"max_attempts": 2, "retry_on_timeout": "yes"},
        )
    assert [e["attempt"] for e in proc_step.events.named("external_process_start")] == [1, 2]
    assert [e["attempt"] for e in proc_step.events.named("external_process_timeout")] == [1, 2]


def test_a_timeout_is_not_retried_without_retry_on_timeout(proc_step: ProcessHarness) -> None:
    with pytest.raises(TimeoutError):
        proc_step.run(command=["sleep", "30"], timeout_seconds=0.2, kill_grace_seconds=1, retry={"max_attempts": 3})
    assert len(proc_step.events.named("external_process_start")) == 1


def test_retry_on_exit_codes_retries_until_success_and_counts_attempts(proc_step: ProcessHarness) -> None:
    counter = proc_step.artifacts / "n"
    result = proc_step.run(
        command=py(COUNTING, str(counter), "3"),
        retry={"max_attempts": 5, "retry_on_exit_codes": [3], "backoff_seconds": 0.05, "backoff_multiplier": 2},
    )
    assert result.output == {"exit_code": 0, "attempts": 3}
    assert [(e["attempt"], e["exit_code"]) for e in proc_step.events.named("external_process_exit")] == [(1, 3), (2, 3)]
    assert [(e["attempt"], e["exit_code"]) for e in proc_step.events.named("external_process_success")] == [(3, 0)]


def test_retries_stop_at_max_attempts_with_the_last_exit_code(proc_step: ProcessHarness) -> None:
    counter = proc_step.artifacts / "n"
    with pytest.raises(RuntimeError, match=r"^external\.process failed with exit code 3\n") as info:
        proc_step.run(command=py(COUNTING, str(counter), "99"), retry={"max_attempts": 2, "retry_on_exit_codes": "3"})
    assert counter.read_text() == "2"
    assert getattr(info.value, "exit_code", None) == 3


def test_an_exit_code_not_in_retry_on_exit_codes_fails_at_once_with_argv_and_stderr(
    proc_step: ProcessHarness,
) -> None:
    code = "import sys; print('bad things', file=sys.stderr); sys.exit(4)"
    with pytest.raises(RuntimeError) as info:
        proc_step.run(
            command=py(code), log={"stderr": "capture"}, retry={"max_attempts": 3, "retry_on_exit_codes": [3]}
        )
    assert type(info.value) is RuntimeError
    assert str(info.value) == f"external.process failed with exit code 4\n{py(code)}\nbad things\n"
    assert getattr(info.value, "exit_code", None) == 4
    assert len(proc_step.events.named("external_process_start")) == 1
    assert proc_step.events.named("external_process_exit")[0]["exit_code"] == 4


def test_the_failure_message_has_no_stderr_part_when_stderr_was_not_captured(proc_step: ProcessHarness) -> None:
    with pytest.raises(RuntimeError) as info:
        proc_step.run(command=["false"], log={"stderr": "discard"})
    assert str(info.value) == "external.process failed with exit code 1\n['false']"


def test_success_exit_codes_accept_a_nonzero_code(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py("raise SystemExit(2)"), success={"exit_codes": [0, "2"]})
    assert result.output == {"exit_code": 2, "attempts": 1}


def test_exit_code_zero_fails_when_not_accepted(proc_step: ProcessHarness) -> None:
    with pytest.raises(RuntimeError, match="failed with exit code 0"):
        proc_step.run(command=py("pass"), success={"exit_codes": [1]})


def test_a_child_killed_by_a_signal_reports_the_negative_signal_number(proc_step: ProcessHarness) -> None:
    with pytest.raises(RuntimeError, match=r"^external\.process failed with exit code -9\n") as info:
        proc_step.run(command=py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert getattr(info.value, "exit_code", None) == -9


@pytest.mark.parametrize(
    ("settings", "delays"),
    [
        ({}, [0.0, 0.0]),
        ({"backoff_seconds": 1}, [1.0, 1.0, 1.0]),
        ({"backoff_seconds": 1, "backoff_multiplier": 2}, [1.0, 2.0, 4.0, 8.0]),
        ({"backoff_seconds": 1, "backoff_multiplier": 2, "max_backoff_seconds": 3}, [1.0, 2.0, 3.0, 3.0]),
    ],
)
def test_the_delay_before_attempt_n_is_backoff_times_multiplier_to_the_n_minus_2(
    settings: dict[str, float], delays: list[float]
) -> None:
    retry = ProcessRetryInputs.model_validate(settings)
    assert [retry.delay_before(n) for n in range(2, 2 + len(delays))] == delays


def test_backoff_waits_between_attempts(proc_step: ProcessHarness, tmp_path: Path) -> None:
    started = time.monotonic()
    proc_step.run(
        command=py(COUNTING, str(tmp_path / "n"), "3"),
        retry={"max_attempts": 3, "retry_on_exit_codes": [3], "backoff_seconds": 0.2, "backoff_multiplier": 2},
    )
    assert time.monotonic() - started >= 0.6  # 0.2 before attempt 2, 0.4 before attempt 3
