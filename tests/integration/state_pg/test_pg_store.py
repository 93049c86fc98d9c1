"""The PostgreSQL state store against a real server: the same records as SQLite, its own schema per namespace,
created at the current version once however many pods open it together, passwords from libpq's sources."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aetherflow.errors import StateError, StateInputError
from aetherflow.state import migrations, schema
from aetherflow.state.backends import open_store
from aetherflow.state.migrations import Migration
from aetherflow.state.postgres import PostgresStore
from aetherflow.state.store import StateStore
from tests.integration.state_pg.conftest import query, schema_of, state_url
from tests.servers.postgres import PostgresServer

HOSTILE = 'it\'s "quoted" \\ back\\slash\nnew line ? %s %% ünïcødé 🚀 $1 ; DROP TABLE runs; --'


def _script(store: StateStore) -> None:
    """Every kind of transition a run writes, with hostile text wherever text goes."""
    store.start_run("f", "r1", flow_file=HOSTILE, flow_sha256="abc", job_name="j", job_uid="u1", pod_name="p")
    store.set_job("f", "r1", "a", "RUNNING", started=True, ended=False)
    store.step_running("f", "r1", "a", "s1", "external.process", 1, 1)
    store.step_attempt_failed("f", "r1", "a", "s1", 1, HOSTILE)
    store.step_running("f", "r1", "a", "s1", "external.process", 2, 1)
    store.step_end("f", "r1", "a", "s1", "external.process", "SUCCESS", attempts=2, outputs_json='{"x": "' + "y" + '"}')
    store.set_promoted("f", "r1", "a", "s1", '{"v": [1, 2.5, null, "\\u0000"]}')
    store.step_running("f", "r1", "a", "s2", "external.process", 1, 1)  # left RUNNING: the attempt dies
    resumed, previous = store.start_run("f", "r1", pod_name="p2")
    assert previous is not None and previous.attempt == 1 and resumed.attempt == 2
    store.step_end("f", "r1", "a", "s2", "external.process", "FAILED", attempts=1, error=HOSTILE)
    store.set_job("f", "r1", "a", "FAILED", error=HOSTILE, reason="why", outputs_json='{"o": 1}')
    store.finish_run("f", "r1", "FAILED", 1, HOSTILE)


def _comparable(store: StateStore) -> dict[str, Any]:
    def strip(record: Any) -> dict[str, Any]:
        return {
            k: v for k, v in dataclasses.asdict(record).items() if not k.endswith("_at") and k not in {"created_at"}
        }

    return {
        "run": strip(store.get_run("f", "r1")),
        "runs": [strip(r) for r in store.list_runs("f")],
        "by_id": [strip(r) for r in store.runs_with_id("r1")],
        "jobs": {k: strip(v) for k, v in store.load_jobs("f", "r1").items()},
        "steps": {"/".join(k): strip(v) for k, v in store.load_steps("f", "r1").items()},
    }


def test_runs_jobs_and_steps_read_back_exactly_as_the_sqlite_store_records_them(pg_url: str, tmp_path: Path) -> None:
    pg, lite = open_store(pg_url), open_store(tmp_path / "state.db")
    try:
        _script(pg)
        _script(lite)
        assert _comparable(pg) == _comparable(lite)
        assert _comparable(pg)["steps"]["a/s2"]["status"] == "FAILED"
        assert _comparable(pg)["run"]["error"] == HOSTILE
    finally:
        pg.close()
        lite.close()


def test_a_resumed_run_marks_what_the_dead_attempt_left_running_interrupted(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    store = open_store(pg_url)
    store.start_run("f", "r1")
    store.set_job("f", "r1", "a", "RUNNING", started=True, ended=False)
    store.step_running("f", "r1", "a", "s1", "external.process", 1, 1)
    store.start_run("f", "r1")
    store.close()
    sql = "SELECT status FROM step_attempts UNION ALL SELECT status FROM job_runs"
    rows = query(postgres_server, schema_of(pg_url), sql)
    assert rows == [("INTERRUPTED",), ("INTERRUPTED",)]


def test_an_error_text_with_nul_and_lone_surrogates_is_recorded_instead_of_failing_the_write(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        store.start_run("f", "r1")
        store.finish_run("f", "r1", "FAILED", 1, "before\x00after \udcff end")
        run = store.get_run("f", "r1")
        assert run is not None and run.error == "before\u2400after \ufffd end"
    finally:
        store.close()


def test_a_step_end_that_cannot_be_written_leaves_its_attempt_running_too(pg_url: str) -> None:
    # the step row and its attempt row are one transition: all or nothing, also now that it is a single statement
    store = open_store(pg_url)
    try:
        store.start_run("f", "r1")
        store.step_running("f", "r1", "a", "s1", "external.process", 1, 1)
        with pytest.raises(StateError, match=r"ending step a\.s1"):
            store.step_end("f", "r1", "a", "s1", None, "SUCCESS", attempts=1)  # type: ignore[arg-type]
        assert store.load_steps("f", "r1")[("a", "s1")].status == "RUNNING"
        assert [row[3] for row in store.load_attempts("f", "r1")] == ["RUNNING"]
        store.step_end("f", "r1", "a", "s1", "external.process", "SUCCESS", attempts=1)  # the connection still works
        assert [row[3] for row in store.load_attempts("f", "r1")] == ["SUCCESS"]
    finally:
        store.close()


def test_a_step_start_whose_attempt_row_cannot_be_written_leaves_no_running_step(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        store.start_run("f", "r1")
        with pytest.raises(StateError, match=r"starting step a\.s1"):
            store.step_running("f", "r1", "a", "s1", "external.process", 1, None)  # type: ignore[arg-type]
        assert store.load_steps("f", "r1") == {}
        assert store.load_attempts("f", "r1") == []
    finally:
        store.close()


def test_a_new_schema_is_created_at_the_current_version_with_the_lock_holder_columns(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    open_store(pg_url).close()
    name = schema_of(pg_url)
    assert query(postgres_server, name, "SELECT value FROM meta WHERE key = 'schema_version'") == [
        (str(schema.SCHEMA_VERSION),)
    ]
    columns = query(
        postgres_server,
        name,
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'locks'",
        name,
    )
    assert {"host_boot_id", "host_pid_ns", "host_name", "pid"} <= {c for (c,) in columns}


def test_two_schemas_of_one_database_never_share_runs_or_locks(
    postgres_server: PostgresServer, new_schema: Callable[[], str]
) -> None:
    from aetherflow.state.locks import LockManager, list_locks

    staging, production = state_url(postgres_server, new_schema()), state_url(postgres_server, new_schema())
    for url, run_id in ((staging, "staging-run"), (production, "production-run")):
        store = open_store(url)
        store.start_run("f", run_id)
        store.close()
    with LockManager(staging, run_id="staging-run", flow_id="f") as staging_locks:
        staging_locks.acquire("flow:f", 60)
        with LockManager(production, run_id="production-run", flow_id="f") as production_locks:
            production_locks.acquire("flow:f", 60)  # the same key, another namespace: not busy
            assert [r.owner.split("#")[0] for r in list_locks(production)] == ["production-run"]
    store = open_store(production, create=False)
    try:
        assert [r.run_id for r in store.list_runs()] == ["production-run"]
    finally:
        store.close()


def test_a_query_never_creates_the_schema_and_says_to_initialise_it(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    with pytest.raises(StateError, match="state init"):
        open_store(pg_url, create=False)
    assert query(postgres_server, "public", "SELECT 1 FROM pg_namespace WHERE nspname = %s", schema_of(pg_url)) == []


def test_pods_opening_a_new_schema_together_create_it_once(pg_url: str, postgres_server: PostgresServer) -> None:
    errors: list[BaseException] = []
    go = threading.Barrier(8)

    def open_one() -> None:
        try:
            go.wait()
            open_store(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert query(postgres_server, schema_of(pg_url), "SELECT key FROM meta ORDER BY key") == [
        ("created_at",),
        ("schema_version",),
    ]


def test_a_later_migration_is_applied_to_an_existing_postgresql_schema_once(
    pg_url: str, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_store(pg_url).close()
    next_version = schema.SCHEMA_VERSION + 1

    def add_column(tx: migrations.Executor) -> None:
        tx.execute("ALTER TABLE runs ADD COLUMN note TEXT DEFAULT '?'")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, Migration(next_version, "t", add_column)))
    monkeypatch.setattr("aetherflow.state.postgres.SCHEMA_VERSION", next_version)
    open_store(pg_url).close()
    open_store(pg_url).close()  # at the version already: nothing applied twice
    name = schema_of(pg_url)
    assert query(postgres_server, name, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(next_version),)]
    assert query(
        postgres_server,
        name,
        "SELECT column_default FROM information_schema.columns WHERE table_schema = %s AND column_name = 'note'",
        name,
    ) == [("'?'::text",)]


def test_a_schema_newer_than_this_version_is_refused_as_input(pg_url: str, postgres_server: PostgresServer) -> None:
    open_store(pg_url).close()
    postgres_server.execute(f"UPDATE \"{schema_of(pg_url)}\".meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateInputError, match="99 is newer"):
        open_store(pg_url)


def test_a_wrong_password_fails_in_one_line_that_never_shows_the_password(
    postgres_server: PostgresServer, new_schema: Callable[[], str]
) -> None:
    wrong = "s3cr3t-'\"-\\-pw"
    url = state_url(postgres_server, new_schema(), password=wrong)
    with pytest.raises(StateError) as caught:
        open_store(url)
    text = str(caught.value)
    assert "\n" not in text and "password authentication failed" in text
    assert "s3cr3t" not in text and "***" in text


def test_the_password_may_come_from_pgpassword_or_a_pgpassfile(
    postgres_server: PostgresServer, new_schema: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = state_url(postgres_server, new_schema(), password=None)
    monkeypatch.setenv("PGPASSWORD", postgres_server.password)
    PostgresStore.open(url).close()
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    s = postgres_server
    passfile.write_text(f"{s.host}:{s.port}:{s.dbname}:{s.user}:{s.password}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    store = PostgresStore.open(url, create=False)
    assert store.list_runs() == []
    store.close()


def test_prune_deletes_old_finished_runs_with_their_rows_and_keeps_running_ones(
    pg_url: str, postgres_server: PostgresServer
) -> None:
    store = open_store(pg_url)
    for run_id, status in (("old", "SUCCESS"), ("live", None)):
        store.start_run("f", run_id)
        store.set_job("f", run_id, "a", "SUCCESS")
        store.step_end("f", run_id, "a", "s", "t", "SUCCESS", attempts=1)
        if status:
            store.finish_run("f", run_id, status, 0, None)
    assert store.prune(0, dry_run=True).counts == {"runs": 1, "jobs": 1, "steps": 1, "locks": 0}
    assert store.prune(0).counts == {"runs": 1, "jobs": 1, "steps": 1, "locks": 0}
    assert [r.run_id for r in store.list_runs()] == ["live"]
    assert store.prune(float("inf")).counts == {"runs": 0, "jobs": 0, "steps": 0, "locks": 0}
    store.close()
    assert query(postgres_server, schema_of(pg_url), "SELECT DISTINCT run_id FROM step_runs") == [("live",)]


def test_a_migration_parameter_becomes_a_placeholder_but_a_quoted_question_mark_stays_text() -> None:
    from aetherflow.state.postgres import pg_placeholders

    sql = "UPDATE \"a?b\" SET x = '?''?', y = ?, z = '50%' WHERE k = ?"
    assert pg_placeholders(sql) == "UPDATE \"a?b\" SET x = '?''?', y = %s, z = '50%%' WHERE k = %s"


def test_list_runs_limits_like_sqlite_and_a_negative_limit_means_all(pg_url: str, tmp_path: Path) -> None:
    for store in (open_store(pg_url), open_store(tmp_path / "s.db")):
        try:
            for run_id in ("a", "b", "c"):
                store.start_run("f", run_id)
            assert len(store.list_runs(limit=2)) == 2
            assert len(store.list_runs(limit=-1)) == 3
            assert store.list_runs(limit=0) == []
        finally:
            store.close()
