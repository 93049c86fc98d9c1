"""Environment and working directory of the child (spec steps.md §3 "Environment", ``cwd``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aetherflow.redaction import Redactor
from tests.support.context import make_step_context, run_step
from tests.unit.steps_process.helpers import ProcessHarness, py


def env_of(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines())


def run_env(tmp_path: Path, snapshot: dict[str, str], **inputs: object) -> dict[str, str]:
    ctx, _events, pool = make_step_context(tmp_path, step_type="external.process", env=snapshot, redactor=Redactor())
    try:
        result = run_step(ctx, "external.process", {"command": "/usr/bin/env", "log": {"stdout": "capture"}, **inputs})
    finally:
        pool.close_all()
    return env_of(result.output["stdout"])


def test_the_child_starts_from_the_run_env_snapshot_not_the_process_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONLY_IN_PROCESS_ENV", "x")
    env = run_env(tmp_path, {"FROM_SNAPSHOT": "yes"})
    assert env["FROM_SNAPSHOT"] == "yes"
    assert "ONLY_IN_PROCESS_ENV" not in env


def test_aetherflow_variables_are_set_and_override_inherited_ones(tmp_path: Path) -> None:
    env = run_env(tmp_path, {"AETHERFLOW_RUN_ID": "stale", "AETHERFLOW_STEP_ID": "stale"})
    artifacts = tmp_path / "work" / "flow" / "j1" / "run1" / "artifacts"
    assert {k: v for k, v in env.items() if k.startswith("AETHERFLOW_")} == {
        "AETHERFLOW_FLOW_ID": "flow",
        "AETHERFLOW_RUN_ID": "run1",
        "AETHERFLOW_JOB_ID": "j1",
        "AETHERFLOW_STEP_ID": "s1",
        "AETHERFLOW_ARTIFACTS_DIR": str(artifacts),
    }


def test_inputs_env_is_applied_last_with_values_as_text_and_null_as_empty(tmp_path: Path) -> None:
    env = run_env(tmp_path, {"KEEP": "1", "REPLACE": "old"}, env={"REPLACE": "new", "N": 7, "B": True, "NULL": None})
    assert (env["KEEP"], env["REPLACE"], env["N"], env["B"], env["NULL"]) == ("1", "new", "7", "True", "")


def test_inputs_env_may_override_an_aetherflow_variable(tmp_path: Path) -> None:
    assert run_env(tmp_path, {}, env={"AETHERFLOW_RUN_ID": "mine"})["AETHERFLOW_RUN_ID"] == "mine"


def test_inherit_env_false_starts_from_an_empty_env(tmp_path: Path) -> None:
    env = run_env(tmp_path, {"FROM_SNAPSHOT": "yes", "PATH": "/usr/bin"}, inherit_env="false", env={"ONLY": "me"})
    assert sorted(env) == [
        "AETHERFLOW_ARTIFACTS_DIR",
        "AETHERFLOW_FLOW_ID",
        "AETHERFLOW_JOB_ID",
        "AETHERFLOW_RUN_ID",
        "AETHERFLOW_STEP_ID",
        "ONLY",
    ]


def test_a_relative_cwd_resolves_against_the_artifacts_dir(proc_step: ProcessHarness) -> None:
    (proc_step.artifacts / "in" / "here").mkdir(parents=True)
    result = proc_step.run(command=py("import os; print(os.getcwd())"), cwd="in/here", log={"stdout": "capture"})
    assert result.output["stdout"] == f"{proc_step.artifacts / 'in' / 'here'}\n"


def test_without_cwd_the_child_runs_in_the_process_cwd(proc_step: ProcessHarness) -> None:
    result = proc_step.run(command=py("import os; print(os.getcwd())"), log={"stdout": "capture"})
    assert result.output["stdout"] == f"{os.getcwd()}\n"


def test_a_cwd_outside_the_sandbox_fails_before_any_process_starts(proc_step: ProcessHarness) -> None:
    with pytest.raises(ValueError, match=r"^Path not under allowed roots: /etc\. Allowed roots: "):
        proc_step.run(command=py("pass"), cwd="/etc")
    assert proc_step.events.named("external_process_start") == []
