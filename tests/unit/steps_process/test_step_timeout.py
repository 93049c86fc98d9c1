"""The runner's step-level ``timeout_seconds`` around ``external.process``: a wall-clock bound, then a bounded wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from aetherflow.api import StepResult
from aetherflow.runner import attempts
from aetherflow.runner.attempts import AttemptRunner
from aetherflow.runner.engine import StopToken
from tests.unit.steps_process.helpers import ProcessHarness, kill_quietly, wait_for_pid_file, wait_gone


def run_with_step_timeout(proc_step: ProcessHarness, timeout: float, **inputs: object) -> StepResult:
    runner = AttemptRunner(StopToken(), proc_step.ctx._tracker, lambda *_, **__: None, grace_seconds=30)

    def step() -> StepResult:
        result: StepResult = proc_step.run(**inputs)
        return result

    return runner.run(
        step, ctx=proc_step.ctx, policy=None, timeout=timeout, on_attempt=lambda _: None, on_retry=lambda *_: None
    )


def test_the_wait_for_a_timed_out_step_starts_once_its_children_were_stopped(
    proc_step: ProcessHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child ignores SIGTERM, so stopping it takes its whole 2 s grace: longer than the (shortened) return wait.
    monkeypatch.setattr(attempts, "TIMEOUT_RETURN_WAIT_SECONDS", 1.0)
    pid_file: Path = proc_step.artifacts / "child.pid"
    try:
        with pytest.raises(TimeoutError) as info:
            run_with_step_timeout(
                proc_step,
                0.5,
                command=f"trap '' TERM; echo $$ > {pid_file}; while :; do sleep 0.05; done",
                shell=True,
                kill_grace_seconds=2,
            )
        assert wait_gone(wait_for_pid_file(pid_file), timeout=2)
    finally:
        if pid_file.exists():
            kill_quietly(int(pid_file.read_text()))
    assert str(info.value) == "step timed out after 0.5s"  # not "... and did not stop": the step did return
    assert getattr(info.value, "abandoned", None) is False


def test_a_step_that_ignores_its_timeout_is_abandoned_after_the_bounded_wait(
    proc_step: ProcessHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempts, "TIMEOUT_RETURN_WAIT_SECONDS", 0.5)
    runner = AttemptRunner(StopToken(), proc_step.ctx._tracker, lambda *_, **__: None, grace_seconds=30)
    release = threading.Event()

    def deaf_step() -> StepResult:
        release.wait(30)  # never looks at ctx.cancelled
        return StepResult.success({})

    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError) as info:
            runner.run(
                deaf_step,
                ctx=proc_step.ctx,
                policy=None,
                timeout=0.3,
                on_attempt=lambda _: None,
                on_retry=lambda *_: None,
            )
    finally:
        release.set()
    assert time.monotonic() - started < 0.3 + 0.5 + 1
    assert str(info.value) == "step timed out after 0.3s and did not stop"
    assert getattr(info.value, "abandoned", None) is True
