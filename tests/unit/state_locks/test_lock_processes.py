"""Lock reliability across real processes sharing one state database: mutual exclusion under a race, a killed
holder taken over at once on its own host and only once stale from another host, heartbeat keeping a long hold,
force release noticed by the holder."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aetherflow.errors import LockBusy
from aetherflow.state.lock_backend import run_id_of
from aetherflow.state.locks import LockManager
from tests.unit.state_locks.support import REPO_ROOT, Events, Worker, lock_rows

RACERS = 8


@pytest.fixture
def spawn() -> Iterator[Callable[..., Worker]]:
    """Start lock_worker.py processes; every one still running at the end is killed."""
    started: list[Worker] = []

    def start(*args: object) -> Worker:
        worker = Worker(*args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_racing_processes_never_hold_the_same_lock_at_once(
    lock_db: Path, tmp_path: Path, spawn: Callable[..., Worker]
) -> None:
    side_file, go_file = tmp_path / "inside-critical-section", tmp_path / "go"
    racers = [spawn("race", lock_db, f"run-{i}", "flow:race", side_file, go_file, 3.0) for i in range(RACERS)]
    for racer in racers:
        racer.expect("ready")

    go_file.touch()
    results = [json.loads(racer.expect("result", timeout=60)) for racer in racers]
    exit_codes = [racer.wait() for racer in racers]

    assert exit_codes == [0] * RACERS  # 3 would mean a second holder found the first one's side-effect file
    assert sum(r["acquired"] for r in results) >= 50
    assert sum(1 for r in results if r["acquired"]) >= 2  # the lock really changed hands between processes
    assert sum(r["busy"] for r in results) > 0  # and they really contended
    assert lock_rows(lock_db) == {}


def test_a_killed_holder_recorded_on_another_host_is_taken_over_once_stale_and_not_before(
    lock_db: Path, spawn: Callable[..., Worker]
) -> None:
    holder = spawn("hold", lock_db, "dead-run", "flow:f", 3, -1)
    holder.expect("acquired")
    time.sleep(1.3)  # let the heartbeat renew at least once: staleness counts from the last heartbeat
    with sqlite3.connect(lock_db) as conn:  # as if it ran in a pod on another node: its pid means nothing here
        conn.execute("UPDATE locks SET host_boot_id = 'another-node'")
    holder.kill()
    dead = lock_rows(lock_db)["flow:f"]
    events = Events()
    successor = LockManager(lock_db, run_id="next-run", on_event=events)
    busy_attempts = 0

    try:
        while True:
            try:
                successor.acquire("flow:f", 600)
                break
            except LockBusy as busy:
                assert run_id_of(busy.owner) == "dead-run"
                busy_attempts += 1
                assert time.time() < dead["expires_at"] + 5, "never taken over"
                time.sleep(0.05)
        taken = lock_rows(lock_db)["flow:f"]
    finally:
        successor.close()

    assert dead["heartbeat_at"] > dead["acquired_at"]  # it was renewed while alive
    assert dead["expires_at"] == pytest.approx(dead["heartbeat_at"] + 3)
    assert busy_attempts > 0  # right after the kill the lock was still busy
    assert taken["owner"] == successor.owner
    # At this TTL three heartbeat intervals are the TTL itself: stale and expired at the same moment.
    assert dead["heartbeat_at"] + 3 <= taken["acquired_at"] < dead["heartbeat_at"] + 3 + 1.5
    assert [(e["key"], run_id_of(e["previous_owner"])) for e in events.named("lock_takeover")] == [
        ("flow:f", "dead-run")
    ]


def test_the_heartbeat_keeps_a_lock_held_longer_than_its_ttl(lock_db: Path, spawn: Callable[..., Worker]) -> None:
    holder = spawn("hold", lock_db, "long-run", "flow:f", 2, 6.0)
    holder.expect("acquired")
    held_since = time.monotonic()
    other = LockManager(lock_db, run_id="other-run")
    refused = 0

    try:
        while time.monotonic() - held_since < 5.0:  # 2.5 x the TTL
            with pytest.raises(LockBusy):
                other.acquire("flow:f", 60)
            refused += 1
            time.sleep(0.25)
        renewed = lock_rows(lock_db)["flow:f"]
        holder.expect("released")
        assert holder.wait() == 0
        other.acquire("flow:f", 60)
        after = lock_rows(lock_db)["flow:f"]
    finally:
        other.close()

    assert refused >= 10
    assert run_id_of(renewed["owner"]) == "long-run"
    assert renewed["heartbeat_at"] - renewed["acquired_at"] >= 3.0
    assert run_id_of(after["owner"]) == "other-run"


def test_a_killed_holder_on_this_host_is_taken_over_at_once(lock_db: Path, spawn: Callable[..., Worker]) -> None:
    crashed = spawn("hold", lock_db, "run-7", "flow:f", 600, -1)
    crashed.expect("acquired")
    live = spawn("hold", lock_db, "run-8", "flow:g", 600, -1)
    live.expect("acquired")
    crashed.kill()
    events = Events()
    retried_pod = LockManager(lock_db, run_id="run-7", pod_name="pod-2", on_event=events)

    try:
        started = time.monotonic()
        retried_pod.acquire("flow:f", 600)
        took = time.monotonic() - started
        with pytest.raises(LockBusy, match="held by run-8#"):
            retried_pod.acquire("flow:g", 600)  # its holder is alive: no takeover, however old the row
        row = lock_rows(lock_db)["flow:f"]
    finally:
        retried_pod.close()

    assert took < 1.0
    assert (row["owner"], row["pod_name"]) == (retried_pod.owner, "pod-2")
    assert [e["reason"] for e in events.named("lock_takeover")] == ["holder_gone"]


def aetherflow(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aetherflow", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


def test_only_force_release_takes_a_live_lock_and_its_holder_notices_the_loss(
    lock_db: Path, spawn: Callable[..., Worker]
) -> None:
    holder = spawn("watch", lock_db, "run-1", "flow:f", 3, 20.0)
    holder.expect("acquired")

    wrong_owner = aetherflow("locks", "release", "flow:f", "--state", lock_db, "--owner", "run-2")
    kept = lock_rows(lock_db)
    forced = aetherflow("locks", "release", "flow:f", "--state", lock_db, "--force")
    noticed_at = time.monotonic()
    holder.expect("lost", timeout=10)
    noticed_after = time.monotonic() - noticed_at

    holder_owner = kept["flow:f"]["owner"]
    assert run_id_of(holder_owner) == "run-1"
    assert (wrong_owner.returncode, wrong_owner.stderr.strip()) == (1, f"error: Lock flow:f is held by {holder_owner}")
    assert forced.returncode == 0
    assert forced.stdout == f"Released flow:f (owner {holder_owner})\n"
    assert "lock_force_released" in forced.stderr
    assert noticed_after < 3.0  # within one heartbeat interval (ttl / 3 = 1 s) plus load
    holder.expect("released")
    assert holder.wait() == 0
    assert lock_rows(lock_db) == {}  # the loser's release deleted nothing it did not own
