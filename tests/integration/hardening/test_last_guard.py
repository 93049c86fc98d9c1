"""The last guard: an error nobody expected still ends as one line, an exit code and a termination message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.cli import CliResult, clean_env, make_flow

SIMPLE = """
    version: 1
    flow: {id: simple}
    jobs:
      - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
"""
SECRET = "hunter2-very-secret"


def _with_fault(target: str, args: list[str], env: dict[str, str]) -> CliResult:
    """The real CLI in a fresh interpreter where ``target`` (module:Class.method) raises a RuntimeError."""
    module, attr = target.split(":")
    cls, method = attr.split(".")
    code = textwrap.dedent(f"""
        import os, sys
        import {module} as target

        def fault(*args, **kwargs):
            raise RuntimeError(("kaboom " + os.environ.get("DB_PASSWORD", "")).strip() + "\\nsecond line")

        target.{cls}.{method} = fault
        from aetherflow.cli import main
        sys.exit(main({args!r}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(**env), timeout=120
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_an_unexpected_error_during_a_run_is_one_masked_line_exit_1_and_a_termination_message(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)
    termination = tmp_path / "termination-log"
    termination.touch()
    args = ["run", "--flow-yaml", str(flow.flow), "--state", str(flow.state), "--work-root", str(flow.work)]

    result = _with_fault(
        "aetherflow.runner.engine:Runner.run",
        args,
        {"AETHERFLOW_TERMINATION_LOG": str(termination), "DB_PASSWORD": SECRET},
    )

    assert result.code == 1
    assert "Traceback" not in result.stderr and SECRET not in result.stderr
    assert result.stderr.splitlines()[-1] == "error: internal error: RuntimeError: kaboom ***"
    message = json.loads(termination.read_text())
    assert message == {"status": "FAILED", "exit_code": 1, "error": "internal error: RuntimeError: kaboom ***"}


def test_an_unexpected_error_in_a_query_command_is_one_line_and_its_traceback_only_at_debug(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)
    assert flow.run().code == 0
    args = ["runs", "list", "--state", str(flow.state)]

    quiet = _with_fault("aetherflow.state.sqlite:SqliteStore.list_runs", args, {})
    debug = _with_fault("aetherflow.state.sqlite:SqliteStore.list_runs", args, {"AETHERFLOW_LOG_LEVEL": "DEBUG"})

    assert quiet.code == 1 and debug.code == 1
    assert quiet.stderr == "error: internal error: RuntimeError: kaboom\n"
    assert debug.stderr.startswith("error: internal error: RuntimeError: kaboom\nTraceback")


def _module(tmp_path: Path, name: str, body: str) -> dict[str, str]:
    (tmp_path / f"{name}.py").write_text(body)
    return {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


def test_a_settings_module_that_fails_while_importing_is_an_input_error(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)
    env = {**_module(tmp_path, "bad_settings", "1 / 0\n"), "AETHERFLOW_SETTINGS_MODULE": "bad_settings"}

    result = flow.run(env=env)

    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "AETHERFLOW_SETTINGS_MODULE: importing bad_settings failed: ZeroDivisionError" in result.stderr
    assert not flow.state.exists()


def test_a_metrics_module_that_fails_while_importing_is_an_input_error(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)
    env = {**_module(tmp_path, "bad_metrics", "raise KeyError('x')\n"), "AETHERFLOW_METRICS_MODULE": "bad_metrics"}

    result = flow.run(env=env)

    assert result.code == 2
    assert "Traceback" not in result.stderr
    assert "bad_metrics failed to import: KeyError" in result.stderr
