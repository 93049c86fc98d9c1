"""Schema version 3 on both stores: a job's workspace path is recorded and kept, a set of jobs is reset in one
transaction (attempt history kept), the re-run request is stored with the run, and a prune hands back the
workspaces of the runs it deletes. SQLite starts from a version 1 file; PostgreSQL is a real server."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aetherflow.errors import StateError
from aetherflow.state.backends import open_store
from aetherflow.state.schema import SCHEMA_V1, SCHEMA_VERSION
from aetherflow.state.store import StateStore, StoredWorkspace
from tests.integration.state_pg.conftest import query, schema_of
from tests.servers.postgres import PostgresServer


def _v1_file(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO runs (flow_id, run_id, status, started_at, updated_at) VALUES ('v1flow', 'v1-run', 'SUCCESS',"
            " '2025-03-01T02:00:00.000Z', '2025-03-01T02:00:01.000Z')"
        )
        conn.execute(
            "INSERT INTO job_runs (flow_id, run_id, job_id, status, created_at, updated_at) VALUES"
            " ('v1flow', 'v1-run', 'a', 'SUCCESS', '2025-03-01T02:00:00.000Z', '2025-03-01T02:00:01.000Z')"
        )
    conn.close()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(kind, location) of a store at the current version: SQLite upgraded from a version 1 file, or a new schema."""
    if request.param == "sqlite":
        yield "sqlite", str(_v1_file(tmp_path / "state.db"))
    else:
        yield "postgresql", request.getfixturevalue("pg_url")


@pytest.fixture
def store(backend: tuple[str, str]) -> Iterator[StateStore]:
    opened = open_store(backend[1])
    yield opened
    opened.close()


def _ran(store: StateStore, job_id: str, *, attempts: int = 1) -> None:
    store.set_job("f", "r1", job_id, "RUNNING", started=True, ended=False, workspace_path=f"/w/f/{job_id}/r1")
    for n in range(1, attempts + 1):
        store.step_running("f", "r1", job_id, "s", "external.process", n, 1)
        if n < attempts:
            store.step_attempt_failed("f", "r1", job_id, "s", n, "boom")
    store.step_end("f", "r1", job_id, "s", "external.process", "SUCCESS", attempts=attempts, outputs_json="{}")
    store.set_job("f", "r1", job_id, "SUCCESS", outputs_json='{"k": 1}')


def test_a_version_1_file_gains_the_workspace_and_rerun_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    db = _v1_file(tmp_path / "state.db")

    store = open_store(str(db))
    jobs = store.load_jobs("v1flow", "v1-run")
    run = store.get_run("v1flow", "v1-run")
    store.close()

    assert jobs["a"].status == "SUCCESS" and jobs["a"].workspace_path is None
    assert run is not None and run.rerun_request is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)


def test_a_new_postgresql_schema_has_the_workspace_and_rerun_columns(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    open_store(pg_url).close()

    columns = query(
        postgres_server,
        schema_of(pg_url),
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND column_name IN ('workspace_path', 'rerun_request') ORDER BY table_name",
    )
    assert columns == [("job_runs", "workspace_path"), ("runs", "rerun_request")]


def test_the_workspace_path_recorded_at_the_start_of_a_job_stays_through_its_later_transitions(
    store: StateStore,
) -> None:
    store.start_run("f", "r1")
    _ran(store, "a")

    assert store.load_jobs("f", "r1")["a"].workspace_path == "/w/f/a/r1"


def test_resetting_jobs_leaves_them_without_records_keeps_their_attempts_and_records_the_request(
    store: StateStore,
) -> None:
    store.start_run("f", "r1", job_uid="uid-1")
    for job_id in ("a", "b", "c"):
        _ran(store, job_id, attempts=2)
    request = '{"jobs": ["b"], "job_uid": "uid-1"}'

    store.reset_jobs("f", "r1", ["b", "c"], rerun_request=request)

    assert list(store.load_jobs("f", "r1")) == ["a"]
    assert [key for key in store.load_steps("f", "r1")] == [("a", "s")]
    assert sorted((r[0], r[2]) for r in store.load_attempts("f", "r1")) == [
        ("a", 1), ("a", 2), ("b", 1), ("b", 2), ("c", 1), ("c", 2)
    ]  # fmt: skip
    run = store.get_run("f", "r1")
    assert run is not None and run.rerun_request == request


def test_a_reset_without_a_request_keeps_the_stored_request(store: StateStore) -> None:
    store.start_run("f", "r1")
    _ran(store, "a")
    store.reset_jobs("f", "r1", ["a"], rerun_request='{"jobs": ["a"], "job_uid": null}')

    store.reset_jobs("f", "r1", ["a"])

    run = store.get_run("f", "r1")
    assert run is not None and run.rerun_request == '{"jobs": ["a"], "job_uid": null}'


def _refuse_deleting_job(backend: tuple[str, str], job_id: str) -> Callable[[], None]:
    """A trigger that makes deleting ``job_id``'s job row fail (a fault in the middle of the reset)."""
    kind, location = backend
    if kind == "sqlite":
        with sqlite3.connect(location) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse BEFORE DELETE ON job_runs WHEN old.job_id = '{job_id}'"
                " BEGIN SELECT RAISE(ABORT, 'refused by test'); END"
            )
        return lambda: None
    import psycopg

    with psycopg.connect(location) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER refuse BEFORE DELETE ON job_runs FOR EACH ROW WHEN (old.job_id = '{job_id}')"
            " EXECUTE FUNCTION refuse()"
        )
    return lambda: None


def test_a_reset_that_fails_part_way_changes_nothing(store: StateStore, backend: tuple[str, str]) -> None:
    store.start_run("f", "r1")
    for job_id in ("a", "b"):
        _ran(store, job_id)
    _refuse_deleting_job(backend, "b")

    with pytest.raises(StateError):
        store.reset_jobs("f", "r1", ["a", "b"], rerun_request='{"jobs": ["a"], "job_uid": null}')

    assert list(store.load_jobs("f", "r1")) == ["a", "b"]
    assert sorted(store.load_steps("f", "r1")) == [("a", "s"), ("b", "s")]
    run = store.get_run("f", "r1")
    assert run is not None and run.rerun_request is None


def test_a_prune_returns_the_workspaces_the_deleted_runs_recorded_and_a_dry_run_the_same(store: StateStore) -> None:
    store.start_run("f", "r1")
    _ran(store, "a")
    _ran(store, "b")
    store.finish_run("f", "r1", "SUCCESS", 0, None)
    store.start_run("f", "live")
    store.set_job("f", "live", "a", "RUNNING", started=True, ended=False, workspace_path="/w/f/a/live")
    expected = [StoredWorkspace("f", "a", "r1", "/w/f/a/r1"), StoredWorkspace("f", "b", "r1", "/w/f/b/r1")]
    time.sleep(0.01)  # older than the cutoff "now" by at least a millisecond

    dry = store.prune(0, flow_id="f", dry_run=True)
    done = store.prune(0, flow_id="f")

    assert dry.workspaces == expected and done.workspaces == expected
    assert done.counts == {"runs": 1, "jobs": 2, "steps": 2, "locks": 0}
    assert store.prune(0, flow_id="f").workspaces == []
