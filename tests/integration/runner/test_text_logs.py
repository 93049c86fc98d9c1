"""Text logs through the CLI: one line per event, a step failure without its traceback above DEBUG, a short
``run_summary``, and colour only on a terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.hardening.test_last_guard import _with_fault
from tests.support.cli import CliResult, FlowRun, clean_env, cli_argv, make_flow, run_args

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S+Z [A-Z]+ \w+( .*)?$")
PLUGINS = Path(__file__).resolve().parents[2] / "plugins" / "failing"

FAILING_FLOW = """
version: 1
flow: {id: textlogs}
jobs:
  - id: ok
    steps:
      - {id: fine, type: external.process, inputs: {command: ["sh", "-c", "true"]}}
  - id: broken
    steps:
      - {id: fail, type: external.process, inputs: {command: ["sh", "-c", "exit 1"]}}
"""

NOISY_FLOW = r"""
version: 1
flow: {id: noisy}
jobs:
  - id: talk
    steps:
      - id: print
        type: external.process
        inputs:
          command:
            - sh
            - -c
            - |
              printf 'one\ntwo\rthree\n\033[31mred\033[0m\n'
              printf '2026-01-01T00:00:00.000Z ERROR forged x=1\n'
              printf 'err\n\033[1mbold\n' >&2
  - id: plugin
    steps:
      - {id: loud, type: failing_loudly, inputs: {message: "line one\nTraceback (most recent call last):\n  forged"}}
"""


def run_text(flow: FlowRun, **env: str) -> CliResult:
    done = subprocess.run(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1")),
        capture_output=True,
        text=True,
        env=clean_env(AETHERFLOW_LOG_FORMAT="text", AETHERFLOW_PLUGIN_PATHS=str(PLUGINS), **env),
        timeout=120,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def lines_of(result: CliResult, event: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.split(" ")[2:3] == [event]]


def test_a_failing_exit_1_step_logs_no_traceback_at_info(tmp_path: Path) -> None:
    result = run_text(make_flow(tmp_path, FAILING_FLOW))

    assert result.code == 1, result.stderr
    assert "Traceback" not in result.stderr
    failed = [line for line in lines_of(result, "step_end") if "step_id=fail" in line]
    assert len(failed) == 1 and " ERROR step_end " in failed[0] and "error=" in failed[0]


def test_the_step_failures_traceback_goes_out_at_debug(tmp_path: Path) -> None:
    result = run_text(make_flow(tmp_path, FAILING_FLOW), AETHERFLOW_LOG_LEVEL="DEBUG")

    assert result.code == 1
    traced = [line for line in result.stderr.splitlines() if "Traceback" in line]
    assert traced and all(" DEBUG " in line for line in traced)
    assert all(LINE.match(line) for line in result.stderr.splitlines())


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_every_line_of_a_text_run_is_one_event_even_with_hostile_children_and_plugins(
    tmp_path: Path, level: str
) -> None:
    result = run_text(make_flow(tmp_path, NOISY_FLOW), AETHERFLOW_LOG_LEVEL=level)

    assert result.code == 1, result.stderr
    bad = [line for line in result.stderr.splitlines() if not LINE.match(line)]
    assert bad == [], bad
    assert "\x1b" not in result.stderr  # a child's escape sequences are written escaped, never raw
    assert "\\x1b[31mred" in result.stderr and "two\\x0dthree" in result.stderr
    assert not any(line.startswith("2026-01-01T") for line in result.stderr.splitlines())  # no forged line
    library = lines_of(result, "log")
    assert any("logger=failing_plugin.deep" in line and "KeyError" in line for line in library)


def test_the_text_run_summary_carries_status_exit_code_duration_counts_and_failed_jobs(tmp_path: Path) -> None:
    result = run_text(make_flow(tmp_path, FAILING_FLOW))

    (summary,) = lines_of(result, "run_summary")
    fields = dict(re.findall(r" (\w+)=(\S+)", summary))
    assert fields["status"] == "FAILED"
    assert fields["exit_code"] == "1"
    assert re.fullmatch(r"\d+\.\ds", fields["duration"])
    assert fields["counts"] == "FAILED:1,SUCCESS:1"
    assert fields["failed_jobs"] == "broken"
    assert set(fields) == {"flow_id", "run_id", "status", "exit_code", "duration", "counts", "failed_jobs"}


def test_the_json_run_summary_keeps_every_field(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FAILING_FLOW)
    result = flow.run()

    (summary,) = result.event("run_summary")
    assert {"status", "exit_code", "attempt", "duration_ms", "status_counts", "jobs", "bundle_fingerprint"} <= set(
        summary
    )
    assert [job["job_id"] for job in summary["jobs"]] == ["ok", "broken"]
    assert summary["jobs"][1]["steps"][0]["error"]
    assert all(json.loads(line) for line in result.stderr.splitlines())


def test_text_logs_have_no_colour_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    result = run_text(make_flow(tmp_path, FAILING_FLOW))

    assert "\x1b[" not in result.stderr
    assert " ERROR step_end " in result.stderr


def _run_on_a_pty(flow: FlowRun, **env: str) -> str:
    master, slave = pty.openpty()
    base = {k: v for k, v in clean_env(AETHERFLOW_LOG_FORMAT="text", **env).items() if k != "NO_COLOR"}
    base.update(env)
    proc = subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1")),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=base,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO once the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    proc.wait(timeout=120)
    return b"".join(chunks).decode()


def test_text_logs_colour_the_level_names_on_a_terminal(tmp_path: Path) -> None:
    out = _run_on_a_pty(make_flow(tmp_path, FAILING_FLOW))

    assert "\x1b[31mERROR\x1b[0m step_end" in out
    assert "\x1b[32mINFO\x1b[0m run_summary" in out


def test_no_color_turns_colour_off_even_on_a_terminal(tmp_path: Path) -> None:
    out = _run_on_a_pty(make_flow(tmp_path, FAILING_FLOW), NO_COLOR="1")

    assert "\x1b[" not in out
    assert " ERROR step_end " in out


def test_an_internal_error_of_the_runner_logs_its_traceback_at_error_on_one_line(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, FAILING_FLOW)
    args = ["run", "--flow-yaml", str(flow.flow), "--state", str(flow.state), "--work-root", str(flow.work)]

    result = _with_fault(
        "aetherflow.runner.job_runner:JobRunner.run_jobs",
        args,
        {"AETHERFLOW_LOG_FORMAT": "text", "DB_PASSWORD": "pw-9x"},
    )

    assert result.code == 1
    traced = [line for line in result.stderr.splitlines() if "Traceback" in line]
    assert len(traced) == 1 and " ERROR log " in traced[0] and "kaboom ***\\nsecond line" in traced[0]
    assert "pw-9x" not in result.stderr
    assert all(LINE.match(line) for line in result.stderr.splitlines())
