"""Secrets never leave through the argv of ``external.process`` (spec observability.md §4, steps.md §3)."""

from __future__ import annotations

import pytest

from tests.unit.steps_process.helpers import ProcessHarness, py

SECRET = "hunter2-very-secret"


def test_the_start_event_shows_the_argv_redacted_element_by_element(proc_step: ProcessHarness) -> None:
    proc_step.redactor.add(SECRET)
    proc_step.run(command=py("pass", f"--password={SECRET}", SECRET))
    (start,) = proc_step.events.named("external_process_start")
    assert start["command"][-2:] == ["--password=***", "***"]
    assert SECRET not in repr(start)


def test_the_failure_message_shows_the_argv_redacted(proc_step: ProcessHarness) -> None:
    proc_step.redactor.add(SECRET)
    with pytest.raises(RuntimeError) as info:
        proc_step.run(command=py("raise SystemExit(9)", f"--token={SECRET}"))
    assert SECRET not in str(info.value)
    assert str(info.value).endswith("'--token=***']")


def test_the_child_still_receives_the_real_secret(proc_step: ProcessHarness) -> None:
    proc_step.redactor.add(SECRET)
    code = f"import sys; sys.exit(0 if sys.argv[1] == {SECRET!r} else 1)"
    assert proc_step.run(command=py(code, SECRET)).output["exit_code"] == 0


def test_a_secret_in_a_shell_command_is_redacted_inside_the_command_string(proc_step: ProcessHarness) -> None:
    proc_step.redactor.add(SECRET)
    proc_step.run(command=f"test -n '{SECRET}'", shell=True)
    (start,) = proc_step.events.named("external_process_start")
    assert start["command"] == ["/bin/sh", "-c", "test -n '***'"]
