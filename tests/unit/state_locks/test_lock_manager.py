"""LockManager semantics in one process: acquire, busy, invocation owners, takeover (expired, stale, holder gone,
inherited by the run lock), nesting, release by owner only, heartbeat renewal, lost-lock detection, waiting, events."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aetherflow.errors import ExitCode, LockBusy, StateError
from aetherflow.state.host import HostIdentity, current_host
from aetherflow.state.lock_backend import heartbeat_interval, run_id_of, run_takeover_seconds, stale_after
from aetherflow.state.locks import LockHeldByOther, LockManager, LockNotFound, list_locks, release_lock
from tests.unit.state_locks.support import Events, FakeClock, insert_lock, lock_rows, make_state_db, wait_until


@pytest.fixture
def managers(lock_db: Path) -> Iterator[list[LockManager]]:
    """Managers created by a test are closed after it."""
    made: list[LockManager] = []
    yield made
    for manager in made:
        manager.close()


def manager(
    managers: list[LockManager], db: Path, owner: str, clock: FakeClock | None = None, **kwargs: object
) -> LockManager:
    extra = {"clock": clock} if clock is not None else {}
    made = LockManager(db, run_id=owner, **extra, **kwargs)  # type: ignore[arg-type]
    managers.append(made)
    return made


def heartbeat_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("aetherflow-lock-heartbeat-")]


# -- acquire -------------------------------------------------------------------------------------------------------


def test_acquire_writes_a_row_owned_by_the_run_with_ttl_times_flow_and_pod(
    lock_db: Path, managers: list[LockManager]
) -> None:
    clock = FakeClock(1000.0)
    run = manager(managers, lock_db, "run-1", clock, flow_id="nightly", pod_name="nightly-abc")

    run.acquire("flow:nightly", 600)

    host = current_host()
    assert lock_rows(lock_db)["flow:nightly"] == {
        "key": "flow:nightly",
        "owner": run.owner,
        "expires_at": 1600.0,
        "flow_id": "nightly",
        "pod_name": "nightly-abc",
        "acquired_at": 1000.0,
        "heartbeat_at": 1000.0,
        "ttl_seconds": 600,
        "host_boot_id": host.boot_id,
        "host_pid_ns": host.pid_ns,
        "host_name": host.hostname,
        "pid": os.getpid(),
    }
    assert re.fullmatch(r"run-1#[0-9a-f]{8}", run.owner)


def test_a_lock_held_by_another_run_is_busy_at_once_naming_the_holder(
    lock_db: Path, managers: list[LockManager]
) -> None:
    clock = FakeClock(1000.0)
    holder = manager(managers, lock_db, "run-1", clock)
    holder.acquire("flow:f", 600)
    other = manager(managers, lock_db, "run-2", clock)

    started = time.monotonic()
    with pytest.raises(LockBusy) as caught:
        other.acquire("flow:f", 600)

    assert time.monotonic() - started < 1.0
    assert str(caught.value) == f"Lock not acquired: flow:f (held by {holder.owner})"
    assert (caught.value.key, caught.value.owner, caught.value.expires_at) == ("flow:f", holder.owner, 1600.0)
    assert caught.value.exit_code == ExitCode.FAILED  # busy inside a run fails the job; a retry may succeed
    assert isinstance(caught.value, RuntimeError)


def test_a_busy_attempt_leaves_the_holders_row_untouched(lock_db: Path, managers: list[LockManager]) -> None:
    clock = FakeClock(1000.0)
    manager(managers, lock_db, "run-1", clock, pod_name="p1").acquire("flow:f", 600)
    before = lock_rows(lock_db)
    clock.now = 1020.0  # within the stale threshold (30 s at this TTL)

    with pytest.raises(LockBusy):
        manager(managers, lock_db, "run-2", clock, pod_name="p2").acquire("flow:f", 60)

    assert lock_rows(lock_db) == before


def test_a_second_invocation_of_the_same_run_is_busy_while_the_first_is_live(
    lock_db: Path, managers: list[LockManager]
) -> None:
    clock = FakeClock(1000.0)
    first = manager(managers, lock_db, "run-1", clock)
    first.acquire("flow:f", 600)
    clock.now = 1005.0
    second = manager(managers, lock_db, "run-1", clock, pod_name="pod-retry")

    with pytest.raises(LockBusy) as caught:
        second.acquire("flow:f", 600)

    row = lock_rows(lock_db)["flow:f"]
    assert caught.value.owner == first.owner != second.owner
    assert (row["owner"], row["heartbeat_at"]) == (first.owner, 1000.0)


def test_the_heartbeat_interval_is_a_third_of_the_ttl_but_at_most_ten_seconds() -> None:
    assert [heartbeat_interval(t) for t in (3, 30, 600)] == [1.0, 10.0, 10.0]
    assert [stale_after(t) for t in (3, 600)] == [3.0, 30.0]
    assert run_takeover_seconds(600) == 40.0  # stale threshold plus one interval


@pytest.mark.parametrize(("silent_for", "taken"), [(29.9, False), (30.1, True)])
def test_a_lock_without_a_heartbeat_for_three_intervals_is_stale_and_taken_over(
    lock_db: Path, managers: list[LockManager], silent_for: float, taken: bool
) -> None:
    insert_lock(lock_db, "flow:f", "run-1#0badf00d", 5000.0, heartbeat_at=1000.0 - silent_for, ttl_seconds=600)
    events = Events()
    run = manager(managers, lock_db, "run-2", FakeClock(1000.0), on_event=events)

    if taken:
        run.acquire("flow:f", 600)
    else:
        with pytest.raises(LockBusy, match=r"held by run-1#0badf00d"):
            run.acquire("flow:f", 600)

    assert (lock_rows(lock_db)["flow:f"]["owner"] == run.owner) is taken
    expected = [{"key": "flow:f", "previous_owner": "run-1#0badf00d", "reason": "stale"}] if taken else []
    assert events.named("lock_takeover") == expected


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def host_columns(host: HostIdentity, pid: int) -> dict[str, object]:
    return {"host_boot_id": host.boot_id, "host_pid_ns": host.pid_ns, "host_name": host.hostname, "pid": pid}


def test_a_lock_whose_holder_on_this_host_is_gone_is_taken_over_at_once(
    lock_db: Path, managers: list[LockManager]
) -> None:
    insert_lock(
        lock_db, "flow:f", "run-1#0badf00d", 5000.0, heartbeat_at=1000.0, **host_columns(current_host(), dead_pid())
    )
    events = Events()

    manager(managers, lock_db, "run-2", FakeClock(1000.0), on_event=events).acquire("flow:f", 600)

    assert events.named("lock_takeover") == [
        {"key": "flow:f", "previous_owner": "run-1#0badf00d", "reason": "holder_gone"}
    ]


@pytest.mark.parametrize("part", ["boot_id", "pid_ns", "hostname"])
def test_a_dead_pid_recorded_on_another_host_is_not_judged_here(
    lock_db: Path, managers: list[LockManager], part: str
) -> None:
    here = current_host()
    elsewhere = HostIdentity(
        **{**{"boot_id": here.boot_id, "pid_ns": here.pid_ns, "hostname": here.hostname}, part: "x"}
    )
    insert_lock(lock_db, "flow:f", "run-1#0badf00d", 5000.0, heartbeat_at=1000.0, **host_columns(elsewhere, dead_pid()))

    with pytest.raises(LockBusy):
        manager(managers, lock_db, "run-2", FakeClock(1000.0)).acquire("flow:f", 600)


def test_a_live_holder_on_this_host_keeps_its_lock(lock_db: Path, managers: list[LockManager]) -> None:
    insert_lock(lock_db, "flow:f", "run-1#0badf00d", 5000.0, heartbeat_at=1000.0, **host_columns(current_host(), 1))

    with pytest.raises(LockBusy):
        manager(managers, lock_db, "run-2", FakeClock(1000.0)).acquire("flow:f", 600)


def test_the_holder_of_the_run_lock_inherits_the_locks_of_its_runs_earlier_invocations(
    lock_db: Path, managers: list[LockManager]
) -> None:
    # A crashed invocation on another node: live rows, nothing says it is gone until they turn stale.
    for key in ("flow:f", "job:f:a"):
        insert_lock(lock_db, key, "run-1#0badf00d", 5000.0, heartbeat_at=1000.0, ttl_seconds=600)
    insert_lock(lock_db, "job:f:b", "run-9#0badf00d", 5000.0, heartbeat_at=1000.0, ttl_seconds=600)
    events = Events()
    resumed = manager(managers, lock_db, "run-1", FakeClock(1000.0), flow_id="f", on_event=events)

    with pytest.raises(LockBusy):
        resumed.acquire("flow:f", 600)  # not before it holds its run lock
    key = resumed.acquire_run(600, wait_seconds=0)
    resumed.acquire("flow:f", 600)
    resumed.acquire("job:f:a", 600)
    with pytest.raises(LockBusy):
        resumed.acquire("job:f:b", 600)  # another run's lock is never inherited

    rows = lock_rows(lock_db)
    assert key == "run:f:run-1"
    assert {k: rows[k]["owner"] for k in rows} == {
        "run:f:run-1": resumed.owner,
        "flow:f": resumed.owner,
        "job:f:a": resumed.owner,
        "job:f:b": "run-9#0badf00d",
    }
    assert [e["reason"] for e in events.named("lock_takeover")] == ["inherited", "inherited"]


def test_the_run_lock_of_a_live_invocation_refuses_a_second_one_after_the_wait(
    lock_db: Path, managers: list[LockManager]
) -> None:
    first = manager(managers, lock_db, "run-1", flow_id="f")
    first.acquire_run(600, wait_seconds=0)
    second = manager(managers, lock_db, "run-1", flow_id="f")

    started = time.monotonic()
    with pytest.raises(LockBusy) as caught:
        second.acquire_run(600, wait_seconds=0.3, poll_seconds=0.05)

    assert 0.25 <= time.monotonic() - started < 3.0
    assert (caught.value.key, caught.value.owner) == ("run:f:run-1", first.owner)


def test_an_expired_lock_of_another_run_is_taken_over_with_an_event(lock_db: Path, managers: list[LockManager]) -> None:
    insert_lock(lock_db, "flow:f", "dead-run", expires_at=999.0, ttl_seconds=60)
    events = Events()
    run = manager(managers, lock_db, "run-2", FakeClock(1000.0), on_event=events)

    run.acquire("flow:f", 600)

    assert run_id_of(lock_rows(lock_db)["flow:f"]["owner"]) == "run-2"
    assert events.named("lock_takeover") == [{"key": "flow:f", "previous_owner": "dead-run", "reason": "expired"}]
    assert events.named("lock_acquired") == [{"key": "flow:f", "ttl_seconds": 600}]


def test_a_lock_expiring_exactly_now_counts_as_expired(lock_db: Path, managers: list[LockManager]) -> None:
    insert_lock(lock_db, "flow:f", "dead-run", expires_at=1000.0)

    manager(managers, lock_db, "run-2", FakeClock(1000.0)).acquire("flow:f", 600)

    assert run_id_of(lock_rows(lock_db)["flow:f"]["owner"]) == "run-2"


def test_acquire_deletes_every_expired_row_but_keeps_live_ones(lock_db: Path, managers: list[LockManager]) -> None:
    insert_lock(lock_db, "job:f:a", "old-1", expires_at=10.0)
    insert_lock(lock_db, "job:f:b", "old-2", expires_at=20.0)
    insert_lock(lock_db, "job:f:c", "live", expires_at=5000.0)
    events = Events()

    manager(managers, lock_db, "run-2", FakeClock(1000.0), on_event=events).acquire("flow:f", 600)

    assert sorted(lock_rows(lock_db)) == ["flow:f", "job:f:c"]
    assert events.named("lock_takeover") == []  # other keys' expiry is housekeeping, not a takeover


def test_a_non_positive_ttl_is_refused(lock_db: Path, managers: list[LockManager]) -> None:
    with pytest.raises(ValueError, match="ttl_seconds must be positive"):
        manager(managers, lock_db, "run-1").acquire("k", 0)


# -- nesting and release ---------------------------------------------------------------------------------------------


def test_nested_holds_keep_the_row_until_the_last_release(lock_db: Path, managers: list[LockManager]) -> None:
    run = manager(managers, lock_db, "run-1")
    run.acquire("flow:f", 600)
    run.acquire("flow:f", 600)

    run.release("flow:f")
    still_there = "flow:f" in lock_rows(lock_db)
    run.release("flow:f")

    assert still_there
    assert "flow:f" not in lock_rows(lock_db)


def test_holds_on_different_keys_are_independent(lock_db: Path, managers: list[LockManager]) -> None:
    run = manager(managers, lock_db, "run-1")
    run.acquire("flow:f", 600)
    run.acquire("export", 60)

    run.release("export")

    assert sorted(lock_rows(lock_db)) == ["flow:f"]
    assert run.held == frozenset({"flow:f"})


def test_release_never_deletes_another_owners_row(lock_db: Path, managers: list[LockManager]) -> None:
    clock = FakeClock(1000.0)
    holder = manager(managers, lock_db, "run-1", clock)
    holder.acquire("k", 600)
    release_lock(lock_db, "k", force=True)
    insert_lock(lock_db, "k", "run-2", expires_at=5000.0)

    holder.release("k")

    assert lock_rows(lock_db)["k"]["owner"] == "run-2"


def test_releasing_a_key_that_is_not_held_changes_nothing(lock_db: Path, managers: list[LockManager]) -> None:
    insert_lock(lock_db, "k", "run-1", expires_at=time.time() + 600)

    manager(managers, lock_db, "run-1").release("k")

    assert "k" in lock_rows(lock_db)


def test_hold_releases_when_its_body_raises(lock_db: Path, managers: list[LockManager]) -> None:
    run = manager(managers, lock_db, "run-1")

    with pytest.raises(RuntimeError, match="boom"), run.hold("export", 60):
        assert "export" in lock_rows(lock_db)
        raise RuntimeError("boom")

    assert lock_rows(lock_db) == {}


def test_acquire_and_release_emit_events_with_key_and_ttl(lock_db: Path, managers: list[LockManager]) -> None:
    events = Events()
    run = manager(managers, lock_db, "run-1", on_event=events)

    with run.hold("export", 60):
        pass

    assert events.calls == [
        ("lock_acquired", {"key": "export", "ttl_seconds": 60}),
        ("lock_released", {"key": "export", "ttl_seconds": 60}),
    ]


def test_a_failing_event_observer_does_not_break_locking(lock_db: Path, managers: list[LockManager]) -> None:
    def broken(name: str, **fields: object) -> None:
        raise RuntimeError("observer down")

    run = manager(managers, lock_db, "run-1", on_event=broken)

    with run.hold("export", 60):
        held = "export" in lock_rows(lock_db)

    assert held
    assert lock_rows(lock_db) == {}


def test_close_releases_every_held_lock_and_stops_the_heartbeat(lock_db: Path) -> None:
    run = LockManager(lock_db, run_id="run-1")
    run.acquire("flow:f", 600)
    run.acquire("flow:f", 600)
    run.acquire("job:f:a", 600)
    threads_before = heartbeat_threads()

    run.close()
    run.close()

    assert lock_rows(lock_db) == {}
    assert len(threads_before) == 1
    assert not threads_before[0].is_alive()


def test_a_closed_manager_refuses_to_acquire(lock_db: Path) -> None:
    run = LockManager(lock_db, run_id="run-1")
    run.close()

    with pytest.raises(StateError, match="closed"):
        run.acquire("k", 60)


# -- heartbeat -------------------------------------------------------------------------------------------------------


def test_one_heartbeat_thread_serves_every_acquire_of_a_manager(lock_db: Path, managers: list[LockManager]) -> None:
    before = len(heartbeat_threads())
    run = manager(managers, lock_db, "run-1")

    for i in range(50):
        run.acquire(f"k{i % 3}", 600)
        run.release(f"k{i % 3}")

    assert len(heartbeat_threads()) == before + 1


def test_the_heartbeat_renews_a_held_lock_every_third_of_its_ttl(lock_db: Path, managers: list[LockManager]) -> None:
    run = manager(managers, lock_db, "run-1")
    run.acquire("k", 3)
    first = lock_rows(lock_db)["k"]

    renewed = wait_until(lambda: lock_rows(lock_db)["k"]["heartbeat_at"] > first["heartbeat_at"], timeout=4.0)

    row = lock_rows(lock_db)["k"]
    assert renewed
    assert row["expires_at"] == pytest.approx(row["heartbeat_at"] + 3)
    assert row["heartbeat_at"] - first["heartbeat_at"] >= 0.9  # ttl / 3, not a busy loop
    assert run.lost == frozenset()


def test_a_force_released_lock_is_reported_lost_by_the_next_renewal(lock_db: Path, managers: list[LockManager]) -> None:
    events = Events()
    run = manager(managers, lock_db, "run-1", on_event=events)
    run.acquire("flow:f", 3)

    release_lock(lock_db, "flow:f", force=True)
    detected = wait_until(lambda: "flow:f" in run.lost, timeout=4.0)

    assert detected
    assert events.named("lock_lost") == [{"key": "flow:f"}]
    assert "flow:f" not in lock_rows(lock_db)  # the heartbeat does not resurrect it


def test_a_lock_taken_over_by_another_run_is_reported_lost(lock_db: Path, managers: list[LockManager]) -> None:
    run = manager(managers, lock_db, "run-1")
    run.acquire("flow:f", 3)
    conn = sqlite3.connect(lock_db)
    with conn:
        conn.execute("UPDATE locks SET owner = 'run-2' WHERE key = 'flow:f'")
    conn.close()

    assert wait_until(lambda: "flow:f" in run.lost, timeout=4.0)
    assert lock_rows(lock_db)["flow:f"]["owner"] == "run-2"


# -- waiting ---------------------------------------------------------------------------------------------------------


def test_waiting_acquires_once_the_holder_releases(lock_db: Path, managers: list[LockManager]) -> None:
    holder = manager(managers, lock_db, "run-1")
    holder.acquire("export", 60)
    waiter = manager(managers, lock_db, "run-2")
    threading.Timer(0.3, holder.release, args=("export",)).start()

    waiter.acquire("export", 60, wait_seconds=5, poll_seconds=0.05)

    assert lock_rows(lock_db)["export"]["owner"] == waiter.owner


def test_waiting_gives_up_busy_after_wait_seconds(lock_db: Path, managers: list[LockManager]) -> None:
    manager(managers, lock_db, "run-1").acquire("export", 60)
    waiter = manager(managers, lock_db, "run-2")

    started = time.monotonic()
    with pytest.raises(LockBusy, match=r"held by run-1#"):
        waiter.acquire("export", 60, wait_seconds=0.5, poll_seconds=0.1)

    assert 0.45 <= time.monotonic() - started < 3.0


def test_a_stop_request_ends_the_wait_early(lock_db: Path, managers: list[LockManager]) -> None:
    manager(managers, lock_db, "run-1").acquire("export", 60)
    waiter = manager(managers, lock_db, "run-2")
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()

    started = time.monotonic()
    with pytest.raises(LockBusy):
        waiter.acquire("export", 60, wait_seconds=10, poll_seconds=2, stop=stop)

    assert time.monotonic() - started < 5.0


# -- database --------------------------------------------------------------------------------------------------------


def test_a_missing_database_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"

    with pytest.raises(StateError, match=r"State database not found: .*absent\.db"):
        LockManager(db, run_id="run-1")

    assert not db.exists()


def test_a_database_without_a_locks_table_is_a_state_error(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    sqlite3.connect(db).close()
    run = LockManager(db, run_id="run-1")

    try:
        with pytest.raises(StateError, match="has no locks table"):
            run.acquire("k", 60)
    finally:
        run.close()


def test_delete_journal_databases_work_with_full_synchronous(tmp_path: Path, managers: list[LockManager]) -> None:
    db = make_state_db(tmp_path / "delete.db", journal_mode="delete")
    run = manager(managers, db, "run-1")

    with run.hold("k", 60):
        synchronous = run._backend._conn.execute("PRAGMA synchronous").fetchone()[0]  # type: ignore[attr-defined]

    assert synchronous == 2  # FULL
    assert lock_rows(db) == {}


def test_a_database_locked_beyond_the_busy_timeout_fails_after_the_retries(
    lock_db: Path, managers: list[LockManager]
) -> None:
    blocker = sqlite3.connect(lock_db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    run = manager(managers, lock_db, "run-1", busy_timeout_ms=50)

    started = time.monotonic()
    try:
        with pytest.raises(StateError, match="stayed locked by another process while acquiring lock k"):
            run.acquire("k", 60)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    assert 1.5 <= time.monotonic() - started < 10  # three retries of 0.5-2 s each


# -- list and release ------------------------------------------------------------------------------------------------


def test_list_locks_reports_rows_by_key_with_expiry_judged_at_now(lock_db: Path) -> None:
    insert_lock(lock_db, "b", "run-2", expires_at=2000.0, flow_id="f", ttl_seconds=600)
    insert_lock(lock_db, "a", "run-1", expires_at=500.0)

    rows = list_locks(lock_db, now=1000.0)

    assert [(r.key, r.owner, r.expired) for r in rows] == [("a", "run-1", True), ("b", "run-2", False)]
    assert (rows[1].flow_id, rows[1].ttl_seconds, rows[1].acquired_at) == ("f", 600, None)


def test_release_with_the_matching_owner_deletes_and_returns_the_row(lock_db: Path) -> None:
    insert_lock(lock_db, "k", "run-1", expires_at=2000.0)

    row = release_lock(lock_db, "k", owner="run-1")

    assert (row.key, row.owner) == ("k", "run-1")
    assert lock_rows(lock_db) == {}


def test_release_by_run_id_matches_the_run_id_part_of_an_invocation_owner(lock_db: Path) -> None:
    insert_lock(lock_db, "k", "run-1#0badf00d", expires_at=2000.0)
    insert_lock(lock_db, "j", "run-10#0badf00d", expires_at=2000.0)

    row = release_lock(lock_db, "k", owner="run-1")
    with pytest.raises(LockHeldByOther):
        release_lock(lock_db, "j", owner="run-1")  # a prefix of the run id is not the run id

    assert row.owner == "run-1#0badf00d"
    assert sorted(lock_rows(lock_db)) == ["j"]


def test_release_with_another_owner_is_refused_and_keeps_the_row(lock_db: Path) -> None:
    insert_lock(lock_db, "k", "run-1", expires_at=2000.0)

    with pytest.raises(LockHeldByOther) as caught:
        release_lock(lock_db, "k", owner="run-9")

    assert str(caught.value) == "Lock k is held by run-1"
    assert caught.value.exit_code == ExitCode.FAILED
    assert "k" in lock_rows(lock_db)


def test_release_of_an_unknown_key_is_not_found(lock_db: Path) -> None:
    with pytest.raises(LockNotFound) as caught:
        release_lock(lock_db, "nope", owner="run-1")

    assert str(caught.value) == "Lock not found: nope"
    assert caught.value.exit_code == ExitCode.FAILED


def test_force_release_deletes_whatever_the_owner(lock_db: Path) -> None:
    insert_lock(lock_db, "k", "run-1", expires_at=2000.0)

    row = release_lock(lock_db, "k", force=True)

    assert row.owner == "run-1"
    assert lock_rows(lock_db) == {}


def test_release_needs_an_owner_or_force(lock_db: Path) -> None:
    with pytest.raises(ValueError, match="owner"):
        release_lock(lock_db, "k")
