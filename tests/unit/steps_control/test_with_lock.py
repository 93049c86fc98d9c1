"""``with_lock`` (spec steps.md §4): run an inner step while holding a state-store lock owned by the run."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aetherflow.api import LockBusy, Status
from aetherflow.state.locks import LockManager
from aetherflow.state.sqlite import SqliteStore
from tests.support.context import RecordedEvents, make_step_context, run_step


@pytest.fixture
def state_db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    SqliteStore.open(path).close()
    return path


@pytest.fixture
def locks(state_db: Path) -> Iterator[LockManager]:
    with LockManager(state_db, run_id="run1", flow_id="flow") as manager:
        yield manager


@pytest.fixture
def other_run(state_db: Path) -> Iterator[LockManager]:
    with LockManager(state_db, run_id="other-run", flow_id="flow") as manager:
        yield manager


@pytest.fixture
def ctx_and_events(tmp_path: Path, locks: LockManager) -> Iterator[tuple[Any, RecordedEvents]]:
    ctx, events, pool = make_step_context(tmp_path, step_type="with_lock", hold_lock=locks.hold)
    yield ctx, events
    pool.close_all()


def lock_rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT key, owner FROM locks ORDER BY key").fetchall()
    conn.close()
    return [(str(k), str(o)) for k, o in rows]


def test_the_inner_steps_result_is_the_outer_steps_result(ctx_and_events: tuple[Any, RecordedEvents]) -> None:
    ctx, _ = ctx_and_events
    result = run_step(ctx, "with_lock", {"lock_key": "k", "step": {"type": "check_items", "inputs": {"items": "a,b"}}})
    assert result.status == Status.SUCCESS
    assert result.output == {"has_data": True, "count": 2}


def test_a_skipped_inner_step_makes_the_outer_step_skipped(ctx_and_events: tuple[Any, RecordedEvents]) -> None:
    ctx, _ = ctx_and_events
    inner = {"type": "check_items", "inputs": {"items": [], "min_count": 1}}
    result = run_step(ctx, "with_lock", {"lock_key": "k", "step": inner})
    assert result.status == Status.SKIPPED
    assert result.reason == "count(0) < min_count(1)"


def test_the_inner_step_id_defaults_to_the_outer_id_with_inner_suffix(
    ctx_and_events: tuple[Any, RecordedEvents],
) -> None:
    ctx, _ = ctx_and_events
    with pytest.raises(ValueError, match=r"^Step s1_inner missing inputs: \['items'\]$"):
        run_step(ctx, "with_lock", {"lock_key": "k", "step": {"type": "check_items"}})


def test_an_explicit_inner_step_id_is_used(ctx_and_events: tuple[Any, RecordedEvents]) -> None:
    ctx, _ = ctx_and_events
    with pytest.raises(ValueError, match=r"^Step gate missing inputs: \['items'\]$"):
        run_step(ctx, "with_lock", {"lock_key": "k", "step": {"type": "check_items", "id": "gate", "inputs": None}})


def test_the_lock_row_is_owned_by_the_invocation_while_the_inner_step_runs_and_gone_after(
    ctx_and_events: tuple[Any, RecordedEvents], state_db: Path, locks: LockManager
) -> None:
    ctx, _ = ctx_and_events
    probe = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        " print(c.execute(\"SELECT owner FROM locks WHERE key = 'nightly'\").fetchone()[0])"
    )
    inner = {
        "type": "external.process",
        "inputs": {"command": [sys.executable, "-c", probe, str(state_db)], "log": {"stdout": "capture"}},
    }
    result = run_step(ctx, "with_lock", {"lock_key": "nightly", "step": inner})
    assert result.output["stdout"] == f"{locks.owner}\n"
    assert locks.owner.startswith("run1#")
    assert lock_rows(state_db) == []


def test_the_inner_step_sees_its_own_step_id(ctx_and_events: tuple[Any, RecordedEvents]) -> None:
    ctx, events = ctx_and_events
    inner = {
        "type": "external.process",
        "inputs": {"command": 'printf %s "$AETHERFLOW_STEP_ID"', "shell": True, "log": {"stdout": "capture"}},
    }
    result = run_step(ctx, "with_lock", {"lock_key": "k", "step": inner})
    assert result.output["stdout"] == "s1_inner"
    assert {fields["step_id"] for fields in events.named("external_process_start")} == {"s1_inner"}


def test_the_lock_is_released_when_the_inner_step_fails(
    ctx_and_events: tuple[Any, RecordedEvents], state_db: Path
) -> None:
    ctx, _ = ctx_and_events
    with pytest.raises(ValueError, match="check_items expects"):
        run_step(ctx, "with_lock", {"lock_key": "k", "step": {"type": "check_items", "inputs": {"items": 5}}})
    assert lock_rows(state_db) == []


def test_a_lock_held_by_another_run_fails_with_lock_busy(
    ctx_and_events: tuple[Any, RecordedEvents], other_run: LockManager, state_db: Path
) -> None:
    ctx, _ = ctx_and_events
    other_run.acquire("k", 600)
    with pytest.raises(LockBusy, match=r"^Lock not acquired: k \(held by other-run#[0-9a-f]{8}\)$") as info:
        run_step(ctx, "with_lock", {"lock_key": "k", "step": {"type": "check_items", "inputs": {"items": "a"}}})
    assert isinstance(info.value, RuntimeError)
    assert lock_rows(state_db) == [("k", other_run.owner)]


def test_the_lock_nests_within_the_same_invocation(
    ctx_and_events: tuple[Any, RecordedEvents], locks: LockManager
) -> None:
    ctx, _ = ctx_and_events
    inner = {"type": "check_items", "inputs": {"items": "a"}}
    with locks.hold("k", 600):
        result = run_step(ctx, "with_lock", {"lock_key": "k", "step": inner})
        assert result.status == Status.SUCCESS
        assert locks.held == frozenset({"k"})


def test_another_invocation_of_the_same_run_does_not_share_the_lock(
    ctx_and_events: tuple[Any, RecordedEvents], state_db: Path
) -> None:
    ctx, _ = ctx_and_events
    with LockManager(state_db, run_id="run1", flow_id="flow") as earlier_invocation:
        earlier_invocation.acquire("k", 600)
        with pytest.raises(LockBusy, match=r"held by run1#"):
            run_step(ctx, "with_lock", {"lock_key": "k", "step": {"type": "check_items", "inputs": {"items": "a"}}})


def test_wait_seconds_waits_for_a_busy_lock_to_be_released(
    ctx_and_events: tuple[Any, RecordedEvents], other_run: LockManager
) -> None:
    ctx, _ = ctx_and_events
    other_run.acquire("k", 600)
    releaser = threading.Timer(0.3, other_run.release, args=("k",))
    releaser.start()
    try:
        inputs = {"lock_key": "k", "wait_seconds": "10", "step": {"type": "check_items", "inputs": {"items": "a"}}}
        assert run_step(ctx, "with_lock", inputs).status == Status.SUCCESS
    finally:
        releaser.cancel()


def test_the_inner_steps_inputs_are_checked_against_its_model(ctx_and_events: tuple[Any, RecordedEvents]) -> None:
    ctx, _ = ctx_and_events
    inner = {"type": "check_items", "inputs": {"items": "a", "bogus": 1}}
    with pytest.raises(ValueError, match=r"^Step s1_inner invalid inputs: bogus: Extra inputs are not permitted"):
        run_step(ctx, "with_lock", {"lock_key": "k", "step": inner})


def test_the_inner_step_needs_a_type(ctx_and_events: tuple[Any, RecordedEvents]) -> None:
    ctx, _ = ctx_and_events
    with pytest.raises(ValueError, match=r"step\.type: Field required"):
        run_step(ctx, "with_lock", {"lock_key": "k", "step": {"inputs": {}}})


def test_missing_lock_key_and_step_are_reported_in_declaration_order(
    ctx_and_events: tuple[Any, RecordedEvents],
) -> None:
    ctx, _ = ctx_and_events
    with pytest.raises(ValueError, match=r"^Step s1 missing inputs: \['lock_key', 'step'\]$"):
        run_step(ctx, "with_lock", {})
