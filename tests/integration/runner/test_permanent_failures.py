"""Exit 3 when every failed job failed for a reason retrying cannot fix; exit 1 when any failure may pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aetherflow.errors import ExitCode
from tests.support.cli import make_flow

TWO_JOBS = """
version: 1
flow:
  id: permanence
jobs:
  - id: first
    steps:
      - id: s
        type: external.process
        inputs:
          command: ["sh", "-c", "{{env.FIRST_SCRIPT:exit 0}}"]
  - id: second
    steps:
      - id: s
        type: check_items
        inputs:
          items: "a"
          min_count: "{{env.SECOND_MIN_COUNT:1}}"
"""

#: a step input whose template names a key the step may produce but did not: a templating error at step time
MISSING_KEY = """
version: 1
flow:
  id: permanence
jobs:
  - id: only
    steps:
      - id: first
        type: check_items
        inputs: {items: "a"}
      - id: second
        type: check_items
        retry: {max_attempts: 3, backoff_seconds: 0}
        inputs:
          items: "{{steps.first.reason}}"  # a documented key that a SUCCESS result lacks
"""


def _termination(tmp_path: Path) -> Path:
    path = tmp_path / "termination-log"
    path.touch()
    return path


def test_a_templating_error_at_step_time_exits_3_not_retryable(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, MISSING_KEY)
    termination = _termination(tmp_path)

    result = flow.run(env={"AETHERFLOW_TERMINATION_LOG": str(termination)})

    assert result.code == ExitCode.PERMANENT, result.stderr
    message = json.loads(termination.read_text())
    assert list(message)[3:5] == ["exit_code", "retryable"]
    assert (message["status"], message["exit_code"], message["retryable"]) == ("FAILED", 3, False)
    shown = flow.show()
    assert (shown["exit_code"], shown["retryable"]) == (3, False)
    keys = list(shown)
    assert keys[keys.index("ended_at") + 1 : keys.index("ended_at") + 3] == ["exit_code", "retryable"]


def test_a_bad_input_value_is_not_retried_and_exits_3(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, MISSING_KEY.replace('"{{steps.first.reason}}"', "42"))

    result = flow.run()

    assert result.code == ExitCode.PERMANENT, result.stderr
    [step_end] = [e for e in result.event("step_end") if e["step_id"] == "second"]
    assert step_end["attempts"] == 1


def test_a_process_that_exits_non_zero_is_retryable_and_exits_1(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)
    termination = _termination(tmp_path)

    result = flow.run(env={"FIRST_SCRIPT": "exit 4", "AETHERFLOW_TERMINATION_LOG": str(termination)})

    assert result.code == ExitCode.FAILED
    message = json.loads(termination.read_text())
    assert (message["exit_code"], message["retryable"]) == (1, True)
    assert flow.show()["retryable"] is True


def test_one_retryable_failure_among_permanent_ones_exits_1(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)

    result = flow.run(env={"FIRST_SCRIPT": "exit 4", "SECOND_MIN_COUNT": "not-a-number"})

    assert result.code == ExitCode.FAILED, result.stderr
    assert {e["job_id"]: e["status"] for e in result.event("job_end")} == {"first": "FAILED", "second": "FAILED"}


def test_an_invalid_input_value_from_the_environment_alone_exits_3(tmp_path: Path) -> None:
    result = make_flow(tmp_path, TWO_JOBS).run(env={"SECOND_MIN_COUNT": "not-a-number"})

    assert result.code == ExitCode.PERMANENT, result.stderr


@pytest.mark.parametrize("status", ["SUCCESS"])
def test_a_successful_run_is_neither_retryable_nor_permanent(tmp_path: Path, status: str) -> None:
    flow = make_flow(tmp_path, TWO_JOBS)
    termination = _termination(tmp_path)

    result = flow.run(env={"AETHERFLOW_TERMINATION_LOG": str(termination)})

    assert result.code == ExitCode.OK
    message = json.loads(termination.read_text())
    assert (message["status"], message["retryable"]) == (status, None)
    assert flow.show()["retryable"] is None
