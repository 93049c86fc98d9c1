"""``runs.scheduled_at`` (schema version 3): the value of ``run.scheduled_at`` is fixed at a run's first attempt.

A version 1 file gains the column with its rows kept; a resume never changes the stored value; a run recorded before
the column existed gets its first start at its next attempt.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aetherflow.state.schema import SCHEMA_V1
from aetherflow.state.sqlite import SqliteStore

SLOT = "2026-03-01T02:00:00Z"


def _v1_file_with_a_run(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_V1)
    with conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
        conn.execute(
            "INSERT INTO runs (flow_id, run_id, status, started_at, updated_at) VALUES ('f', 'old-run', 'FAILED',"
            " '2025-03-01T02:00:00.000Z', '2025-03-01T02:00:01.000Z')"
        )
    conn.close()
    return path


def test_a_version_1_file_gains_the_scheduled_at_column_and_keeps_its_runs(tmp_path: Path) -> None:
    db = _v1_file_with_a_run(tmp_path / "state.db")

    store = SqliteStore.open(db)
    try:
        run = store.get_run("f", "old-run")
    finally:
        store.close()

    assert run is not None and run.status == "FAILED" and run.scheduled_at is None


def test_a_run_recorded_before_the_column_gets_its_first_start_at_its_next_attempt(tmp_path: Path) -> None:
    db = _v1_file_with_a_run(tmp_path / "state.db")
    store = SqliteStore.open(db)
    try:
        current, _ = store.start_run("f", "old-run", scheduled_at=None)
        again, _ = store.start_run("f", "old-run", scheduled_at=SLOT)
    finally:
        store.close()

    assert current.scheduled_at == "2025-03-01T02:00:00.000Z"
    assert again.scheduled_at == "2025-03-01T02:00:00.000Z"


def test_the_first_attempt_stores_the_slot_and_a_resume_never_changes_it(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "state.db")
    try:
        first, _ = store.start_run("f", "r1", scheduled_at=SLOT)
        second, previous = store.start_run("f", "r1", scheduled_at="2030-01-01T00:00:00Z")
        third, _ = store.start_run("f", "r1", scheduled_at=None)
    finally:
        store.close()

    assert first.scheduled_at == SLOT
    assert previous is not None and previous.scheduled_at == SLOT
    assert second.scheduled_at == SLOT and third.scheduled_at == SLOT


def test_without_a_slot_the_first_start_is_stored(tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "state.db")
    try:
        first, _ = store.start_run("f", "r1")
        second, _ = store.start_run("f", "r1", scheduled_at=SLOT)
    finally:
        store.close()

    assert first.scheduled_at == first.started_at
    assert second.scheduled_at == first.started_at
