"""``external.process`` output goes through the runner, and timeouts stay wall-clock bounds, through the CLI.

The default log mode reads the child's lines and logs them masked; only ``passthrough`` hands over the runner's own
streams. A step timeout and the process timeout both end a step whose background child holds the output pipe.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.cli import FlowRun, clean_env, cli_argv, make_flow, run_args
from tests.unit.steps_process.helpers import kill_quietly, wait_for_pid_file, wait_gone

CANARY = "canary-S3cr3t-value-42"


def one_step_flow(tmp_path: Path, step: str) -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: proc}}
        jobs:
          - id: a
            steps:
              - {step}
        """,
    )


def test_by_default_the_childs_lines_reach_the_log_only_as_masked_events(tmp_path: Path) -> None:
    flow = one_step_flow(
        tmp_path,
        '{id: talk, type: external.process, inputs: {command: ["/bin/sh", "-c", '
        '"echo token=$1; echo \\"err $1\\" >&2", "sh", "{{env.API_TOKEN}}"]}}',
    )

    result = flow.run(env={"API_TOKEN": CANARY})

    assert result.code == 0, result.stderr
    assert CANARY not in result.stdout + result.stderr
    assert result.stdout == ""
    assert all(line.startswith("{") for line in result.stderr.splitlines())  # nothing but the runner's own lines
    assert [e["message"] for e in result.event("external_process_stdout")] == ["token=***"]
    assert [(e["level"], e["message"]) for e in result.event("external_process_stderr")] == [("WARNING", "err ***")]
    assert "stdout" not in flow.show()["jobs"]["a"]["steps"]["talk"]["outputs"]


def test_passthrough_writes_the_childs_output_to_the_runners_streams_unmasked(tmp_path: Path) -> None:
    flow = one_step_flow(
        tmp_path,
        '{id: raw, type: external.process, inputs: {command: ["/bin/sh", "-c", "echo raw-out; echo raw-err >&2"], '
        "log: {stdout: passthrough, stderr: passthrough}}}",
    )

    result = flow.run()

    assert result.code == 0, result.stderr
    assert "raw-out\n" in result.stdout
    assert "raw-err\n" in result.stderr.splitlines(keepends=True)
    assert result.event("external_process_stdout") == []


def test_a_step_timeout_ends_a_step_whose_background_child_holds_the_output_pipe(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    flow = one_step_flow(
        tmp_path,
        f'{{id: s, type: external.process, inputs: {{command: "sleep 100 & echo $! > {pid_file}; echo hi", '
        "shell: true, kill_grace_seconds: 1}, timeout_seconds: 2}",
    )
    started = time.monotonic()
    try:
        result = flow.run(timeout=60)
        elapsed = time.monotonic() - started
        assert wait_gone(wait_for_pid_file(pid_file), timeout=2)
    finally:
        if pid_file.exists():
            kill_quietly(int(pid_file.read_text()))

    assert result.code == 1, result.stderr
    assert elapsed < 2 + 1 + 8, elapsed  # the bound, the grace, and the interpreter's start and state writes
    step = flow.show()["jobs"]["a"]["steps"]["s"]
    assert (step["status"], step["error"]) == ("FAILED", "TimeoutError: step timed out after 2.0s")


def test_the_process_timeout_ends_a_run_whose_background_child_holds_the_output_pipe(tmp_path: Path) -> None:
    pid_file = tmp_path / "background.pid"
    flow = one_step_flow(
        tmp_path,
        f'{{id: s, type: external.process, inputs: {{command: "sleep 100 & echo $! > {pid_file}; echo hi", '
        "shell: true, timeout_seconds: 2, kill_grace_seconds: 1, log: {stdout: capture}}}",
    )
    try:
        result = flow.run(timeout=60)
        assert wait_gone(wait_for_pid_file(pid_file), timeout=2)
    finally:
        if pid_file.exists():
            kill_quietly(int(pid_file.read_text()))

    assert result.code == 1, result.stderr
    step = flow.show()["jobs"]["a"]["steps"]["s"]
    assert step["status"] == "FAILED"
    assert step["error"].startswith(
        "TimeoutError: external.process timed out after 2.0s: the process exited with code 0"
    )


def test_a_child_printing_100_mb_without_newlines_is_logged_with_bounded_memory(tmp_path: Path) -> None:
    # Binary noise: NUL bytes, invalid UTF-8, no newline at all; 1 MiB written at a time.
    writer = (
        "import os, sys\n"
        "block = bytes(range(256)).replace(b'\\n', b'\\x00') * 4096\n"
        "for _ in range(100):\n"
        "    os.write(1, block)\n"
    )
    flow = one_step_flow(
        tmp_path,
        f"{{id: big, type: external.process, inputs: {{command: {json.dumps([sys.executable, '-c', writer])}}}}}",
    )
    # The runner in a child of a probe process: the probe reports the largest resident set of its waited-for children.
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    # The reader still reads, splits, decodes and masks every piece; WARNING only spares formatting 100 MB of lines.
    env = clean_env(AETHERFLOW_LOG_FORMAT="json", AETHERFLOW_LOG_LEVEL="WARNING")
    argv = cli_argv(*run_args(flow.flow, flow.state, flow.work))
    done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, env=env, timeout=300)

    code, max_rss_kib = (int(x) for x in done.stdout.split())
    assert code == 0, done.stderr
    assert max_rss_kib < 100 * 1024, max_rss_kib  # well under the 100 MiB the child printed
