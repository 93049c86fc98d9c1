"""Locks in PostgreSQL: processes on separate connections racing for one lock, every lock time judged by the
server's clock, and the operator's ``locks`` commands with ``--state postgresql://…``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from aetherflow.errors import LockBusy
from aetherflow.state.backends import open_store
from aetherflow.state.locks import LockManager, list_locks
from tests.integration.state_pg.conftest import query, schema_of
from tests.servers.postgres import PostgresServer
from tests.support.cli import aetherflow
from tests.unit.state_locks.support import Events, Worker

RACERS = 8


@pytest.fixture
def lock_url(pg_url: str) -> str:
    open_store(pg_url).close()  # the run creates the schema before any lock is taken
    return pg_url


@pytest.fixture
def spawn() -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(*args: object) -> Worker:
        worker = Worker(*args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def test_eight_processes_on_separate_connections_never_hold_the_same_lock_at_once(
    lock_url: str, tmp_path: object, spawn: Callable[..., Worker], postgres_server: PostgresServer
) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    side_file, go_file = base / "inside-critical-section", base / "go"
    racers = [spawn("race", lock_url, f"run-{i}", "flow:race", side_file, go_file, 3.0) for i in range(RACERS)]
    for racer in racers:
        racer.expect("ready", timeout=60)

    go_file.touch()
    results = [json.loads(racer.expect("result", timeout=90)) for racer in racers]
    exit_codes = [racer.wait() for racer in racers]

    assert exit_codes == [0] * RACERS  # 3: a second holder found the first one's side-effect file
    assert sum(r["acquired"] for r in results) >= 20
    assert sum(1 for r in results if r["acquired"]) >= 2  # the lock changed hands between processes
    assert sum(r["busy"] for r in results) > 0  # and they really contended
    assert query(postgres_server, schema_of(lock_url), "SELECT count(*) FROM locks") == [(0,)]


def test_a_live_lock_is_not_taken_by_a_claimant_whose_own_clock_runs_far_ahead(lock_url: str) -> None:
    with LockManager(lock_url, run_id="holder", flow_id="f") as holder:
        holder.acquire("flow:f", 30)
        skewed = LockManager(lock_url, run_id="skewed", flow_id="f", clock=lambda: time.time() + 86_400)
        try:
            with pytest.raises(LockBusy) as busy:
                skewed.acquire("flow:f", 30)
            assert busy.value.owner.startswith("holder#")
        finally:
            skewed.close()


def test_a_lock_without_heartbeat_on_the_server_clock_is_taken_over_as_stale(
    lock_url: str, postgres_server: PostgresServer
) -> None:
    events = Events()
    with LockManager(lock_url, run_id="dead", flow_id="f") as dead:
        dead.acquire("flow:f", 30)
        # its pod on another node stopped renewing 40 s ago by the server's clock; the row has not expired yet
        postgres_server.execute(
            f"UPDATE \"{schema_of(lock_url)}\".locks SET host_boot_id = 'other-node',"
            " heartbeat_at = extract(epoch FROM clock_timestamp()) - 40,"
            " expires_at = extract(epoch FROM clock_timestamp()) + 600"
        )
        with LockManager(lock_url, run_id="next", flow_id="f", on_event=events) as successor:
            successor.acquire("flow:f", 30)
            assert [row.owner.split("#")[0] for row in list_locks(lock_url)] == ["next"]
    assert [(e["reason"], e["previous_owner"].split("#")[0]) for e in events.named("lock_takeover")] == [
        ("stale", "dead")
    ]


def test_locks_list_and_release_work_on_a_postgresql_url_without_showing_its_password(
    lock_url: str, postgres_server: PostgresServer
) -> None:
    with LockManager(lock_url, run_id="r1", flow_id="f") as holder:
        holder.acquire("flow:f", 60)
        listed = aetherflow("locks", "list", "--state", lock_url, "--json")
        assert listed.code == 0, listed.stderr
        rows = json.loads(listed.stdout)
        assert [(r["key"], r["owner"].split("#")[0], r["expired"]) for r in rows] == [("flow:f", "r1", False)]
        refused = aetherflow("locks", "release", "flow:f", "--owner", "other", env={"AETHERFLOW_STATE_URL": lock_url})
        assert refused.code == 1 and "held by r1#" in refused.stderr
        released = aetherflow("locks", "release", "flow:f", "--force", env={"AETHERFLOW_STATE_URL": lock_url})
        assert released.code == 0, released.stderr
    for result in (listed, refused, released):
        assert postgres_server.password not in result.stdout + result.stderr
    assert list_locks(lock_url) == []


def test_the_heartbeat_keeps_a_lock_across_renewals_and_release_deletes_the_row(lock_url: str) -> None:
    events = Events()
    manager = LockManager(lock_url, run_id="r1", flow_id="f", on_event=events)
    manager.acquire("flow:f", 3)  # renewed every second
    first = list_locks(lock_url)[0]
    time.sleep(2.6)
    renewed = list_locks(lock_url)[0]
    assert manager.lost == frozenset()
    assert renewed.heartbeat_at is not None and first.heartbeat_at is not None
    assert renewed.heartbeat_at > first.heartbeat_at and renewed.expires_at > first.expires_at
    manager.release("flow:f")
    manager.close()
    assert [e["key"] for e in events.named("lock_released")] == ["flow:f"]
    assert list_locks(lock_url) == []
