"""Helpers of the lock tests: create and read a state database directly, poll, collect events, a fake clock."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aetherflow.state.migrations import create_v1, upgrade


def make_state_db(path: Path, journal_mode: str = "wal") -> Path:
    """Create a state database at the current schema version without going through the store (no volume check)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode = {journal_mode}")
    conn.execute("BEGIN IMMEDIATE")
    create_v1(conn)
    upgrade(conn, 1)
    conn.execute("COMMIT")
    conn.close()
    return path


def lock_rows(db: Path) -> dict[str, dict[str, Any]]:
    """Every lock row by key, read on a fresh connection."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return {r["key"]: dict(r) for r in conn.execute("SELECT * FROM locks")}
    finally:
        conn.close()


def insert_lock(db: Path, key: str, owner: str, expires_at: float, **extra: Any) -> None:
    """Write a lock row directly (a run that holds it in another pod, or a dead one)."""
    values = {"key": key, "owner": owner, "expires_at": expires_at, **extra}
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            f"INSERT INTO locks ({', '.join(values)}) VALUES ({', '.join('?' for _ in values)})", list(values.values())
        )
    conn.close()


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


class Events:
    """Collects ``on_event(name, **fields)`` calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, name: str, **fields: Any) -> None:
        self.calls.append((name, fields))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [fields for n, fields in self.calls if n == name]


class FakeClock:
    """A wall clock the test moves by hand (lock times are Unix seconds)."""

    def __init__(self, now: float = 1_740_794_400.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


REPO_ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("lock_worker.py")


class Worker:
    """A ``lock_worker.py`` process whose stdout lines are read in the background."""

    def __init__(self, *args: object) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), *map(str, args)], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, prefix: str, timeout: float = 20.0) -> str:
        """The next line, which must start with ``prefix``; the rest of it."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"worker said nothing for {timeout}s (waiting for {prefix!r})") from None
        if line is None or not line.startswith(prefix):
            raise AssertionError(f"worker said {line!r}, expected {prefix!r} (exit {self.proc.poll()})")
        return line[len(prefix) :].strip()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout: float = 20.0) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
