"""The state schema's ordered migrations: a version 1 file, exactly as the first release wrote it, is upgraded in
place to the current version with its rows kept, and its old lock rows stay usable."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from aetherflow.state.locks import LockManager, list_locks
from aetherflow.state.migrations import MIGRATIONS
from aetherflow.state.schema import SCHEMA_V1, SCHEMA_VERSION
from aetherflow.state.sqlite import SqliteStore
from tests.support.cli import aetherflow


def _v1_file(path: Path) -> Path:
    """A state database as version 1 of the store created it (its frozen DDL and meta rows), with a run and a lock."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    conn.execute("PRAGMA journal_mode = wal")
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        conn.execute("INSERT INTO meta (key, value) VALUES ('created_at', '2025-03-01T02:00:00.000Z')")
        conn.execute(
            "INSERT INTO runs (flow_id, run_id, status, started_at, updated_at) VALUES ('f', 'old-run', 'SUCCESS',"
            " '2025-03-01T02:00:00.000Z', '2025-03-01T02:00:01.000Z')"
        )
        conn.execute(
            "INSERT INTO locks (key, owner, expires_at, acquired_at, heartbeat_at, ttl_seconds)"
            " VALUES ('flow:f', 'old-run', ?, ?, ?, 600)",
            (time.time() + 600, time.time(), time.time()),
        )
    conn.close()
    return path


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def test_the_migrations_are_consecutive_and_end_at_the_current_version() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))


def test_a_version_1_file_is_upgraded_in_place_keeping_its_rows(tmp_path: Path) -> None:
    db = _v1_file(tmp_path / "state.db")

    SqliteStore.open(db).close()

    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute("SELECT value FROM meta WHERE key = 'created_at'").fetchone() == (
            "2025-03-01T02:00:00.000Z",
        )
        assert conn.execute("SELECT run_id, status FROM runs").fetchall() == [("old-run", "SUCCESS")]
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert _columns(db, "locks")[-4:] == ["host_boot_id", "host_pid_ns", "host_name", "pid"]


def test_opening_an_upgraded_file_again_changes_nothing(tmp_path: Path) -> None:
    db = _v1_file(tmp_path / "state.db")
    SqliteStore.open(db).close()
    before = db.read_bytes()

    SqliteStore.open(db).close()

    assert _columns(db, "locks").count("pid") == 1
    assert db.read_bytes() == before


def test_a_lock_row_written_by_version_1_stays_busy_while_live_and_lists_with_its_bare_run_id(tmp_path: Path) -> None:
    db = _v1_file(tmp_path / "state.db")
    SqliteStore.open(db).close()

    with LockManager(db, run_id="new-run", flow_id="f") as manager:
        busy = None
        try:
            manager.acquire("flow:f", 600)
        except Exception as exc:
            busy = exc

    assert busy is not None and "held by old-run" in str(busy)
    assert [(r.key, r.owner, r.pid) for r in list_locks(db)] == [("flow:f", "old-run", None)]


def test_locks_list_reads_a_version_1_file_without_migrating_it(tmp_path: Path) -> None:
    db = _v1_file(tmp_path / "state.db")

    listed = aetherflow("locks", "list", "--state", str(db))

    assert listed.code == 0, listed.stderr
    assert "old-run" in listed.stdout
    assert "pid" not in _columns(db, "locks")
