"""Lock acquire+release against a bare floor: the same two durable transactions on the same SQLite file.

    python bench/locks.py [--iterations N] [--rounds R] [--synchronous FULL|NORMAL ...] [--dir DIR]

(a) ``LockManager.acquire`` + ``release`` (persistent connection, heartbeat thread running);
(b) the floor: ``BEGIN IMMEDIATE; INSERT; COMMIT`` then ``BEGIN IMMEDIATE; DELETE; COMMIT`` on a persistent
connection to the same file with the same pragmas.
Both run interleaved in rounds (so machine load hits them alike) on one WAL database with the same
``synchronous`` pragma: first FULL (every commit waits for the disk), then NORMAL (the store's WAL setting, where
commits cost CPU only and any overhead of the manager shows most). The medians per acquire+release pair and their
ratio are printed (target: ratio <= 1.5 for each).
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aetherflow.state.locks import LockManager
from aetherflow.state.migrations import create_v1, upgrade

TARGET_RATIO = 1.5


def _prepare(db: Path) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    create_v1(conn)
    upgrade(conn, 1)
    conn.execute("COMMIT")
    conn.close()


def _floor_pair(conn: sqlite3.Connection, key: str) -> int:
    start = time.perf_counter_ns()
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO locks (key, owner, expires_at, flow_id, pod_name, acquired_at, heartbeat_at, ttl_seconds)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (key, "floor", now + 600, "bench", None, now, now, 600),
    )
    conn.execute("COMMIT")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("DELETE FROM locks WHERE key = ? AND owner = ?", (key, "floor"))
    conn.execute("COMMIT")
    return time.perf_counter_ns() - start


def _lock_pair(manager: LockManager, key: str) -> int:
    start = time.perf_counter_ns()
    manager.acquire(key, 600)
    manager.release(key)
    return time.perf_counter_ns() - start


def measure(synchronous: str, iterations: int, rounds: int, directory: Path | None) -> tuple[float, float, int]:
    """Median microseconds per acquire+release pair for (floor, locks), and the pairs measured per side."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        db = Path(tmp) / "bench.db"
        _prepare(db)
        manager = LockManager(db, run_id="bench-run", flow_id="bench", synchronous=synchronous)
        floor = sqlite3.connect(db, isolation_level=None, timeout=30)
        floor.execute(f"PRAGMA synchronous = {synchronous}")
        # live locks of other runs, as in a shared database: every acquire scans the table for expired rows
        now = time.time()
        floor.executemany(
            "INSERT INTO locks (key, owner, expires_at, acquired_at, heartbeat_at, ttl_seconds)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(f"other:{i}", f"other-{i}", now + 3600, now, now, 3600) for i in range(5)],
        )
        per_round = max(1, iterations // rounds)
        lock_ns: list[int] = []
        floor_ns: list[int] = []
        for _ in range(3):  # warm-up: statement caches, page cache, heartbeat thread start
            _lock_pair(manager, "flow:bench")
            _floor_pair(floor, "floor:bench")
        for r in range(rounds):
            # alternate which side goes first, so a load spike does not always land on the same one
            for side in ("lock", "floor") if r % 2 == 0 else ("floor", "lock"):
                for _ in range(per_round):
                    if side == "lock":
                        lock_ns.append(_lock_pair(manager, "flow:bench"))
                    else:
                        floor_ns.append(_floor_pair(floor, "floor:bench"))
        manager.close()
        floor.close()
    return statistics.median(floor_ns) / 1000, statistics.median(lock_ns) / 1000, len(lock_ns)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark for each synchronous setting, print medians and ratios; exit 1 if a ratio misses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=600, help="acquire+release pairs per side (default 600)")
    parser.add_argument("--rounds", type=int, default=6, help="interleaved rounds the iterations are split into")
    parser.add_argument(
        "--synchronous",
        action="append",
        choices=["FULL", "NORMAL"],
        help="pragma for both sides; repeatable (default: FULL, then NORMAL = the store's WAL setting)",
    )
    parser.add_argument("--dir", type=Path, default=None, help="directory of the database (default: a temp dir)")
    args = parser.parse_args(argv)

    ok = True
    for synchronous in args.synchronous or ["FULL", "NORMAL"]:
        floor_us, lock_us, pairs = measure(synchronous, args.iterations, args.rounds, args.dir)
        ratio = lock_us / floor_us
        ok = ok and ratio <= TARGET_RATIO
        print(f"locks bench: WAL, synchronous={synchronous} on both sides, {pairs} pairs each, interleaved")
        print(f"  floor  (INSERT txn + DELETE txn)        median {floor_us:9.1f} us per pair")
        print(f"  locks  (LockManager.acquire + release)  median {lock_us:9.1f} us per pair")
        print(f"  ratio  {ratio:.2f}x (target <= {TARGET_RATIO}x) {'OK' if ratio <= TARGET_RATIO else 'OVER TARGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
