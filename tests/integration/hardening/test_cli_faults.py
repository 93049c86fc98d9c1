"""Bad input and faults around the state store and the command line: one line, the right exit code, nothing lost."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plugins import VALUES_DIR
from tests.support.cli import CliResult, aetherflow, clean_env, cli_argv, make_flow, run_args, write_flow

SIMPLE = """
    version: 1
    flow: {id: simple}
    jobs:
      - {id: a, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
"""


def _one_line_error(result: CliResult) -> str:
    """The single ``error:`` line of a failed command (JSON log events aside), with no traceback anywhere."""
    assert "Traceback" not in result.stderr and "Error:" not in result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "command",
    [
        ["run", "--flow-yaml", "{flow}", "--state", "{flow}", "--work-root", "{work}"],
        ["runs", "list", "--state", "{flow}"],
        ["runs", "show", "r1", "--state", "{flow}"],
        ["state", "init", "--state", "{flow}"],
        ["state", "prune", "--older-than", "1", "--state", "{flow}"],
        ["locks", "list", "--state", "{flow}"],
        ["locks", "release", "run:x:y", "--force", "--state", "{flow}"],
    ],
    ids=["run", "runs-list", "runs-show", "state-init", "state-prune", "locks-list", "locks-release"],
)
def test_a_state_path_that_is_not_an_sqlite_database_is_an_input_error(tmp_path: Path, command: list[str]) -> None:
    flow = write_flow(tmp_path, SIMPLE)
    before = flow.read_bytes()

    result = aetherflow(*[part.format(flow=flow, work=tmp_path / "work") for part in command])

    assert result.code == 2
    assert f"{flow} is not an SQLite database" in _one_line_error(result)
    assert flow.read_bytes() == before


@pytest.mark.parametrize("days", ["inf", "1e12"])
def test_a_retention_beyond_the_epoch_keeps_every_run_and_the_run_succeeds(tmp_path: Path, days: str) -> None:
    flow = make_flow(tmp_path, SIMPLE)

    result = flow.run(env={"AETHERFLOW_STATE_RETENTION_DAYS": days})
    listed = aetherflow("runs", "list", "--state", str(flow.state), "--json")

    assert result.code == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert [r["status"] for r in json.loads(listed.stdout)] == ["SUCCESS"]


@pytest.mark.parametrize("days", ["inf", "1e12"])
def test_state_prune_older_than_an_age_beyond_the_epoch_prunes_nothing(tmp_path: Path, days: str) -> None:
    flow = make_flow(tmp_path, SIMPLE)
    assert flow.run().code == 0

    result = aetherflow("state", "prune", "--older-than", days, "--state", str(flow.state), "--json")

    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "runs": 0,
        "jobs": 0,
        "steps": 0,
        "locks": 0,
        "workspaces_removed": 0,
        "workspaces_unreachable": 0,
        "dry_run": False,
    }


#: deeper than the JSON parser can go, and still under the 128 KiB limit of one environment variable
TOO_DEEP = 60_000


@pytest.mark.parametrize("depth", [900, TOO_DEEP])
def test_deeply_nested_profiles_json_is_an_input_error(tmp_path: Path, depth: int) -> None:
    flow = make_flow(tmp_path, SIMPLE)

    result = flow.run(env={"AETHERFLOW_PROFILES_JSON": '{"profiles": ' + "[" * depth + "]" * depth + "}"})

    assert result.code == 2
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert "AETHERFLOW_PROFILES_JSON" in result.stderr or depth < TOO_DEEP
    assert not flow.state.exists()


def test_a_deeply_nested_json_env_file_is_an_input_error(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)
    env_file = tmp_path / "env.json"
    env_file.write_text('{"A": ' + "[" * 200_000 + "]" * 200_000 + "}")

    result = flow.run(env={"AETHERFLOW_ENV_FILES": json.dumps([str(env_file)])})

    assert result.code == 2
    assert str(env_file) in _one_line_error(result)
    assert not flow.state.exists()


def test_a_deeply_nested_env_files_setting_is_an_input_error(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)

    result = flow.run(env={"AETHERFLOW_ENV_FILES": "[" * TOO_DEEP + "]" * TOO_DEEP})

    assert result.code == 2
    assert "AETHERFLOW_ENV_FILES" in _one_line_error(result)


@pytest.mark.parametrize("run_id", ["", "bad id/with slash", "x" * 300])
def test_an_invalid_run_id_flag_is_reported_as_the_flag_and_nothing_runs(tmp_path: Path, run_id: str) -> None:
    flow = make_flow(tmp_path, SIMPLE)

    result = aetherflow(
        "run",
        "--flow-yaml",
        str(flow.flow),
        "--state",
        str(flow.state),
        "--work-root",
        str(flow.work),
        "--run-id",
        run_id,
        env={"AETHERFLOW_RUN_ID": "from-env"},
    )

    assert result.code == 2
    line = _one_line_error(result)
    assert "--run-id" in line and "AETHERFLOW_RUN_ID" not in line
    assert not flow.state.exists()


def test_an_invalid_run_id_setting_is_reported_as_the_setting(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)

    result = aetherflow(
        "run",
        "--flow-yaml",
        str(flow.flow),
        "--state",
        str(flow.state),
        "--work-root",
        str(flow.work),
        env={"AETHERFLOW_RUN_ID": "bad id"},
    )

    assert result.code == 2
    assert "AETHERFLOW_RUN_ID" in _one_line_error(result)


def test_runs_list_into_a_closed_pipe_prints_no_traceback(tmp_path: Path) -> None:
    flow = make_flow(tmp_path, SIMPLE)
    assert flow.run().code == 0
    with sqlite3.connect(flow.state) as conn:
        conn.executemany(
            "INSERT INTO runs (flow_id, run_id, status, attempt, started_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)",
            [
                ("simple", f"bulk-{i:05d}", "SUCCESS", "2020-01-01T00:00:00.000Z", "2020-01-01T00:00:00.000Z")
                for i in range(20000)
            ],
        )

    proc = subprocess.Popen(
        cli_argv("runs", "list", "--state", str(flow.state), "--limit", "20000"),
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read()
    proc.wait(timeout=60)

    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert err == ""


def _has_failed_attempt(state: Path) -> bool:
    if not state.exists():
        return False
    try:
        with sqlite3.connect(state) as conn:
            return bool(conn.execute("SELECT 1 FROM step_attempts WHERE status = 'FAILED'").fetchall())
    except sqlite3.OperationalError:  # the tables are not created yet
        return False


def test_sigterm_during_a_retry_backoff_keeps_the_failed_attempts_error(tmp_path: Path) -> None:
    marker = tmp_path / "attempted"
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: backoff}}
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "touch {marker}; echo boom >&2; exit 7"]}}
                retry: {{max_attempts: 3, backoff_seconds: 60}}
    """,
    )
    proc = subprocess.Popen(
        cli_argv(*run_args(flow.flow, flow.state, flow.work, "r1")),
        env=clean_env(AETHERFLOW_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not _has_failed_attempt(flow.state):
        assert time.monotonic() < deadline, "the first attempt never failed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)

    attempts = flow.query("SELECT attempt, status, error FROM step_attempts ORDER BY attempt")
    assert proc.returncode == 143, err
    assert len(attempts) == 1
    attempt, status, error = attempts[0]
    assert (attempt, status) == (1, "FAILED")
    assert error and "Interrupted" not in error
    assert flow.query("SELECT status FROM step_runs") == [("INTERRUPTED",)]


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs: a state volume that fills up (skipped where mounting is not allowed)."""
    mount_point = tmp_path / "vol"
    mount_point.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def test_a_state_volume_that_fills_up_fails_the_run_with_one_line_and_a_termination_message(
    tmp_path: Path, small_volume: Path
) -> None:
    filler, once = small_volume / "filler", tmp_path / "filled-once"
    fill_once = f"test -e {once} || {{ touch {once}; dd if=/dev/zero of={filler} bs=4k; }}; true"
    flow = write_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: full}}
        jobs:
          - id: a
            steps:
              - id: fill
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "{fill_once}"]}}
          - {{id: b, steps: [{{id: s, type: check_items, inputs: {{items: "x"}}}}]}}
    """,
    )
    state, termination = small_volume / "state.db", tmp_path / "termination-log"
    termination.touch()
    assert aetherflow("state", "init", "--state", str(state)).code == 0

    result = aetherflow(
        *run_args(flow, state, tmp_path / "work", "r1"), env={"AETHERFLOW_TERMINATION_LOG": str(termination)}
    )
    message = json.loads(termination.read_text())
    filler.unlink()
    again = aetherflow(*run_args(flow, state, tmp_path / "work", "r1"))

    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert "database or disk is full" in result.stderr
    assert (message["run_id"], message["status"], message["exit_code"]) == ("r1", "FAILED", 1)
    assert "database or disk is full" in json.dumps(message)
    assert again.code == 0, again.stderr


def test_a_document_too_big_for_the_volume_fails_its_step_and_the_run_is_recorded(
    tmp_path: Path, small_volume: Path
) -> None:
    flow = write_flow(
        tmp_path,
        """
        version: 1
        flow: {id: full}
        jobs:
          - id: a
            steps: [{id: big, type: emit_values, inputs: {kind: big, size: 400000}}]
    """,
    )
    state = small_volume / "state.db"

    result = aetherflow(
        *run_args(flow, state, tmp_path / "work", "r1"), env={"AETHERFLOW_PLUGIN_PATHS": str(VALUES_DIR)}
    )
    with sqlite3.connect(state) as conn:
        runs = conn.execute("SELECT status, exit_code FROM runs").fetchall()
        steps = conn.execute("SELECT status, error FROM step_runs").fetchall()
        running = conn.execute(
            "SELECT (SELECT COUNT(*) FROM job_runs WHERE status = 'RUNNING')"
            " + (SELECT COUNT(*) FROM step_runs WHERE status = 'RUNNING')"
            " + (SELECT COUNT(*) FROM step_attempts WHERE status = 'RUNNING')"
        ).fetchone()[0]

    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert runs == [("FAILED", 1)]
    assert steps[0][0] == "FAILED" and "database or disk is full" in steps[0][1]
    assert running == 0
