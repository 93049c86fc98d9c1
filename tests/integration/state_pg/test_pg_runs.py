"""Runs recorded in PostgreSQL through the real CLI: every ``runs``/``state`` command on the URL, the location's
precedence, overlapping runs on separate clients, and SIGKILL at random points never re-running a recorded step."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.state_pg.conftest import query, schema_of
from tests.servers.postgres import PostgresServer
from tests.support.cli import aetherflow, clean_env, cli_argv, write_flow

FLOW = """
version: 1
flow: {id: pgflow}
jobs:
  - id: a
    steps:
      - {id: s1, type: external.process, inputs: {command: ["/bin/sh", "-c", "echo one"]}}
      - {id: s2, type: external.process, inputs: {command: ["/bin/sh", "-c", "echo two"]}}
"""


def _run(flow: Path, work: Path, run_id: str, *extra: str, env: dict[str, str] | None = None) -> list[str]:
    return ["run", "--flow-yaml", str(flow), "--work-root", str(work), "--run-id", run_id, *extra]


def test_a_run_on_a_postgresql_url_is_recorded_and_every_query_command_reads_it(
    pg_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    flow = write_flow(tmp_path, FLOW)
    done = aetherflow(*_run(flow, tmp_path / "w", "r1", "--state", pg_url))
    assert done.code == 0, done.stderr
    env = {"AETHERFLOW_STATE_URL": pg_url}
    listed = aetherflow("runs", "list", "--json", env=env)
    shown = aetherflow("runs", "show", "r1", "--state", pg_url, "--json")
    pruned = aetherflow("state", "prune", "--older-than", "0", "--dry-run", "--json", env=env)
    assert listed.code == shown.code == pruned.code == 0, listed.stderr + shown.stderr + pruned.stderr
    assert [(r["run_id"], r["status"]) for r in json.loads(listed.stdout)] == [("r1", "SUCCESS")]
    document = json.loads(shown.stdout)
    steps = document["jobs"]["a"]["steps"]
    assert [(step_id, step["status"]) for step_id, step in steps.items()] == [("s1", "SUCCESS"), ("s2", "SUCCESS")]
    assert json.loads(pruned.stdout)["runs"] == 1
    for result in (done, listed, shown, pruned):
        assert postgres_server.password not in result.stdout + result.stderr
    assert query(postgres_server, schema_of(pg_url), "SELECT status, attempt FROM runs") == [("SUCCESS", 1)]


def test_the_wide_view_of_a_run_reads_its_attempt_history_from_postgresql(pg_url: str, tmp_path: Path) -> None:
    flow = write_flow(tmp_path, FLOW)
    assert aetherflow(*_run(flow, tmp_path / "w", "r1", "--state", pg_url)).code == 0

    wide = aetherflow("runs", "show", "r1", "--state", pg_url, "-o", "wide")

    assert wide.code == 0, wide.stderr
    assert "s1" in wide.stdout and "s2" in wide.stdout and "SUCCESS" in wide.stdout


def test_state_init_creates_the_schema_and_names_it_without_the_password(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    done = aetherflow("state", "init", "--state", pg_url)
    assert done.code == 0, done.stderr
    assert "schema " + schema_of(pg_url) in done.stdout and postgres_server.password not in done.stdout
    assert query(postgres_server, schema_of(pg_url), "SELECT count(*) FROM runs") == [(0,)]


def test_the_state_url_setting_wins_over_the_state_path_and_the_flag_over_both(
    pg_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    flow = write_flow(tmp_path, FLOW)
    sqlite_file = tmp_path / "state.db"
    env = {"AETHERFLOW_STATE_URL": pg_url, "AETHERFLOW_STATE_PATH": str(sqlite_file)}
    assert aetherflow(*_run(flow, tmp_path / "w", "by-url"), env=env).code == 0
    assert not sqlite_file.exists()
    flagged = aetherflow(*_run(flow, tmp_path / "w", "by-flag", "--state", str(tmp_path / "flag.db")), env=env)
    assert flagged.code == 0, flagged.stderr
    assert (tmp_path / "flag.db").is_file()
    assert query(postgres_server, schema_of(pg_url), "SELECT run_id FROM runs") == [("by-url",)]


def test_a_sqlite_url_names_the_database_file(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, FLOW)
    db = tmp_path / "via-url.db"
    done = aetherflow(*_run(flow, tmp_path / "w", "r1"), env={"AETHERFLOW_STATE_URL": f"sqlite:///{db}"})
    assert done.code == 0, done.stderr
    assert db.is_file()


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("flow", "postgresql://u:pw@127.0.0.1/db", "flow.state.path must be a path"),
        ("env", "mysql://u:pw@127.0.0.1/db", "unsupported state URL"),
        ("env", "postgresql:///db", "needs a host"),
    ],
)
def test_a_bad_state_location_is_one_input_error_line_and_nothing_runs(
    tmp_path: Path, where: str, value: str, message: str
) -> None:
    marker = tmp_path / "ran"
    header = f"flow: {{id: pgflow, state: {{path: '{value}'}}}}" if where == "flow" else "flow: {id: pgflow}"
    text = FLOW.replace("flow: {id: pgflow}", header)
    text = text.replace("echo one", f"touch {marker}")
    flow = write_flow(tmp_path, text)
    env = {"AETHERFLOW_STATE_URL": value} if where == "env" else {}
    done = aetherflow("run", "--flow-yaml", str(flow), "--work-root", str(tmp_path / "w"), env=env)
    assert done.code == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert ":pw@" not in done.stderr
    assert not marker.exists()


def test_two_overlapping_runs_on_separate_clients_execute_the_flow_exactly_once(
    pg_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    counter = tmp_path / "count.txt"
    flow = write_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: overlap, locks: {{scope: flow}}}}
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs: {{command: ["/bin/sh", "-c", "echo x >> {counter}; sleep 3"]}}
        """,
    )
    env = clean_env(AETHERFLOW_LOG_FORMAT="json", AETHERFLOW_STATE_URL=pg_url)
    procs = [
        subprocess.Popen(
            cli_argv(*_run(flow, tmp_path / f"w{i}", f"run-{i}")),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0, 75], [p.stderr.read() for p in procs if p.stderr]  # type: ignore[union-attr]
    assert counter.read_text().split() == ["x"]
    assert len(query(postgres_server, schema_of(pg_url), "SELECT run_id FROM runs")) == 1


STEPS = 20


def _crash_flow(tmp_path: Path, counter: Path) -> Path:
    steps = "\n".join(
        f'      - {{id: s{i:02d}, type: external.process, inputs: {{command: ["/bin/sh", "-c", '
        f'"echo s{i:02d} >> {counter}"]}}}}'
        for i in range(STEPS)
    )
    return write_flow(tmp_path, f"version: 1\nflow: {{id: crash}}\njobs:\n  - id: a\n    steps:\n{steps}\n")


def _succeeded(server: PostgresServer, schema: str) -> set[str]:
    try:
        return {r[0] for r in query(server, schema, "SELECT step_id FROM step_runs WHERE status = 'SUCCESS'")}
    except Exception:
        return set()


def _crash_trial(tmp_path: Path, url: str, server: PostgresServer, rng: random.Random) -> None:
    counter = tmp_path / "counter.txt"
    counter.touch()
    flow, schema = _crash_flow(tmp_path, counter), schema_of(url)
    env = clean_env(AETHERFLOW_LOG_LEVEL="ERROR", AETHERFLOW_STATE_URL=url)
    argv = cli_argv(*_run(flow, tmp_path / "work", "crash-run"))
    seen, kills, recorded = 0, 0, set[str]()
    for attempt in range(10):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, err = proc.communicate(timeout=rng.uniform(0.3, 1.5) if attempt < 3 else 120)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
            code, kills = None, kills + 1
        lines = counter.read_text().split()
        repeated = set(lines[seen:]) & recorded
        assert not repeated, f"steps recorded SUCCESS before attempt {attempt + 1} ran again: {sorted(repeated)}"
        seen, recorded = len(lines), _succeeded(server, schema)
        if code == 0:
            break
        assert code is None, err.decode()
    counts = {f"s{i:02d}": lines.count(f"s{i:02d}") for i in range(STEPS)}
    assert all(c >= 1 for c in counts.values()), counts
    assert sum(c - 1 for c in counts.values()) <= kills, counts  # only a step in flight at a kill may repeat
    assert query(server, schema, "SELECT status FROM runs") == [("SUCCESS",)]
    assert query(server, schema, "SELECT count(*) FROM step_runs WHERE status = 'SUCCESS'") == [(STEPS,)]


def test_sigkill_at_random_points_never_repeats_a_step_recorded_in_postgresql(
    postgres_server: PostgresServer, new_schema: object, tmp_path: Path
) -> None:
    from tests.integration.state_pg.conftest import state_url

    rng = random.Random(int(os.environ.get("AETHERFLOW_CRASH_SEED", time.time())))
    for n in range(6):
        trial = tmp_path / f"t{n}"
        trial.mkdir()
        _crash_trial(trial, state_url(postgres_server, new_schema()), postgres_server, rng)  # type: ignore[operator]


def test_a_reused_job_name_recorded_by_another_job_while_waiting_for_the_run_lock_starts_a_fresh_run(
    pg_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    import threading

    from aetherflow.state.backends import open_store
    from aetherflow.state.locks import LockManager

    marker = tmp_path / "ran"
    flow = write_flow(tmp_path, FLOW.replace("echo one", f"touch {marker}"))
    open_store(pg_url).close()
    # The old Job's pod holds the run lock of the bare Job name and has recorded nothing yet.
    old_pod = LockManager(pg_url, run_id="nightly", flow_id="pgflow")
    old_pod.acquire_run(60, wait_seconds=0)
    env = clean_env(
        AETHERFLOW_LOG_FORMAT="json",
        AETHERFLOW_STATE_URL=pg_url,
        AETHERFLOW_JOB_NAME="nightly",
        AETHERFLOW_JOB_UID="0123456789-new-job",
        AETHERFLOW_RUN_TAKEOVER_SECONDS="60",
    )
    argv = cli_argv("run", "--flow-yaml", str(flow), "--work-root", str(tmp_path / "w"))
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiting, lines = threading.Event(), []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "already live" in line:
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert waiting.wait(60), "".join(lines)  # the new pod derived the bare name and waits for its run lock
        store = open_store(pg_url)
        store.start_run("pgflow", "nightly", job_name="nightly", job_uid="old-job-uid")
        store.finish_run("pgflow", "nightly", "FAILED", 1, "old job")
        store.close()
    finally:
        old_pod.close()
    assert proc.wait(timeout=120) == 0, "".join(lines)
    reader.join(10)
    runs = query(postgres_server, schema_of(pg_url), "SELECT run_id, job_uid, attempt, status FROM runs ORDER BY 1")
    assert runs == [("nightly", "old-job-uid", 1, "FAILED"), ("nightly.01234567", "0123456789-new-job", 1, "SUCCESS")]
    assert marker.exists()
    reused = [json.loads(line) for line in lines if '"run_id_reused"' in line]
    assert [e["previous_uid"] for e in reused] == ["old-job-uid"]


def test_query_commands_on_a_schema_never_initialised_say_so_in_one_line_and_create_nothing(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    for argv in (["runs", "list"], ["runs", "show", "r1"], ["state", "prune", "--older-than", "1"], ["locks", "list"]):
        done = aetherflow(*argv, "--state", pg_url)
        assert done.code == 1, (argv, done.stderr)
        assert "Traceback" not in done.stderr and postgres_server.password not in done.stderr
        assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1, done.stderr
    assert query(postgres_server, "public", "SELECT 1 FROM pg_namespace WHERE nspname = %s", schema_of(pg_url)) == []


def test_an_unreachable_server_fails_the_run_in_one_line_without_running_a_step(tmp_path: Path) -> None:
    from tests.servers.postgres import free_port

    marker = tmp_path / "ran"
    flow = write_flow(tmp_path, FLOW.replace("echo one", f"touch {marker}"))
    url = f"postgresql://u:hunter2-secret@127.0.0.1:{free_port()}/db?connect_timeout=3"
    done = aetherflow(*_run(flow, tmp_path / "w", "r1", "--state", url))
    assert done.code == 1, done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr
    assert "connecting" in done.stderr and not marker.exists()
