"""TTL locks in the state database: owned by a run id, re-entrant, heartbeat-renewed, taken over after expiry.

Used by the runner for ``locks.scope: flow|job`` and by ``with_lock`` steps (through ``LockManager``), and by the
``locks`` commands (``list_locks``, ``release_lock``). Semantics: docs/concepts/locks.md.

Every lock operation is one short ``BEGIN IMMEDIATE`` transaction on a connection kept open for the manager's life;
one daemon thread per manager, with its own connection, renews the held keys every ``ttl / 3`` seconds and parks on
a condition while nothing is due. A renewal that touches no row means the lock was force-released or taken over:
the key joins ``lost`` and the runner stops starting steps.
"""

from __future__ import annotations

import logging
import math
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aetherflow.errors import LockBusy, StateError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: retries after SQLite's own busy timeout ran out (docs/reference/state.md)
BUSY_RETRIES = 3
BUSY_RETRY_DELAY = (0.5, 2.0)

_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6

_DELETE_EXPIRED = "DELETE FROM locks WHERE expires_at <= ? RETURNING key, owner"
_UPSERT = (
    "INSERT INTO locks (key, owner, expires_at, flow_id, pod_name, acquired_at, heartbeat_at, ttl_seconds)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, heartbeat_at = excluded.heartbeat_at,"
    " ttl_seconds = excluded.ttl_seconds, pod_name = coalesce(excluded.pod_name, locks.pod_name)"
    " WHERE locks.owner = excluded.owner"
)
_HOLDER = "SELECT owner, expires_at FROM locks WHERE key = ?"
_DELETE_OWNED = "DELETE FROM locks WHERE key = ? AND owner = ?"
_RENEW = "UPDATE locks SET expires_at = ?, heartbeat_at = ? WHERE key = ? AND owner = ?"
_SELECT_ROW = (
    "SELECT key, owner, expires_at, flow_id, pod_name, acquired_at, heartbeat_at, ttl_seconds FROM locks WHERE key = ?"
)
_SELECT_ALL = (
    "SELECT key, owner, expires_at, flow_id, pod_name, acquired_at, heartbeat_at, ttl_seconds FROM locks ORDER BY key"
)
_DELETE_KEY = "DELETE FROM locks WHERE key = ?"


class LockNotFound(StateError):
    """``locks release`` named a key that has no row (exit 1)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Lock not found: {key}")
        self.key = key


class LockHeldByOther(StateError):
    """``locks release --owner`` named an owner that does not hold the lock (exit 1); the row is kept."""

    def __init__(self, key: str, owner: str) -> None:
        super().__init__(f"Lock {key} is held by {owner}")
        self.key, self.owner = key, owner


@dataclass(frozen=True, slots=True)
class LockRow:
    """One row of the ``locks`` table; times are Unix seconds; ``expired`` is relative to when it was read."""

    key: str
    owner: str
    expires_at: float
    flow_id: str | None
    pod_name: str | None
    acquired_at: float | None
    heartbeat_at: float | None
    ttl_seconds: int | None
    expired: bool


@dataclass(slots=True)
class _Hold:
    count: int
    ttl_seconds: int
    generation: int
    next_renewal: float  # time.monotonic() of the next heartbeat; inf once lost


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc)
    return "locked" in text or "busy" in text


def _connect(db_path: Path, busy_timeout_ms: int, synchronous: str | None) -> sqlite3.Connection:
    if not db_path.is_file():
        raise StateError(f"State database not found: {db_path}")
    # mode=rw: never create the file; the store creates and migrates it.
    uri = f"{db_path.absolute().as_uri()}?mode=rw"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StateError(f"Cannot open state database {db_path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if synchronous is None:
            # The store's rule (docs/reference/state.md): NORMAL is durable enough in WAL, DELETE mode needs FULL.
            (journal,) = conn.execute("PRAGMA journal_mode").fetchone()
            synchronous = "NORMAL" if str(journal).lower() == "wal" else "FULL"
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise StateError(f"Invalid SQLite synchronous setting {synchronous!r} (use NORMAL, FULL or EXTRA)")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    except BaseException:
        conn.close()
        raise
    return conn


def _transaction(conn: sqlite3.Connection, db_path: Path, what: str, body: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``body`` inside ``BEGIN IMMEDIATE … COMMIT``; busy beyond the timeout is retried, then a StateError."""
    attempt = 0
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as exc:
            if _is_busy(exc) and attempt < BUSY_RETRIES:
                attempt += 1
                time.sleep(random.uniform(*BUSY_RETRY_DELAY))
                continue
            if _is_busy(exc):
                raise StateError(
                    f"State database {db_path} stayed locked by another process while {what} "
                    f"(busy timeout and {BUSY_RETRIES} retries exhausted); check for a stuck process using it"
                ) from exc
            if "no such table" in str(exc):
                raise StateError(
                    f"State database {db_path} has no locks table while {what}: "
                    "not an aetherflow state database, or never initialised (run `aetherflow state init`)"
                ) from exc
            raise StateError(f"State database {db_path} failed while {what}: {exc}") from exc


class LockManager:
    """The locks of one run (owner = run id) on one state database, with a heartbeat thread renewing them.

    Thread-safe. Holds are counted per key in this process: the row is deleted when the count returns to 0.
    """

    def __init__(
        self,
        db_path: Path,
        *,
        owner: str,
        flow_id: str | None = None,
        pod_name: str | None = None,
        busy_timeout_ms: int = 30000,
        on_event: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.time,
        synchronous: str | None = None,
    ) -> None:
        """Open a connection to an existing state database; ``synchronous=None`` follows the store (NORMAL in WAL)."""
        self.db_path = Path(db_path)
        self.owner = owner
        self.flow_id = flow_id
        self.pod_name = pod_name
        self._busy_timeout_ms = busy_timeout_ms
        self._synchronous = synchronous
        self._on_event = on_event
        self._clock = clock
        self._conn = _connect(self.db_path, busy_timeout_ms, synchronous)
        # _op serialises the main connection and hold counting; _cond guards the state shared with the heartbeat.
        self._op = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._holds: dict[str, _Hold] = {}
        self._lost: set[str] = set()
        self._generation = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the parked heartbeat will wake; -inf while it is working
        self._idle_interval = math.inf  # how long the heartbeat parks with nothing held (the last ttl / 3)

    # -- public API -------------------------------------------------------------------------------------------

    @property
    def lost(self) -> frozenset[str]:
        """Keys whose renewal found no row (force-released or taken over after expiry)."""
        with self._cond:
            return frozenset(self._lost)

    @property
    def held(self) -> frozenset[str]:
        """Keys this manager currently holds (at least one hold)."""
        with self._cond:
            return frozenset(self._holds)

    def acquire(
        self,
        key: str,
        ttl_seconds: int,
        *,
        wait_seconds: float = 0.0,
        poll_seconds: float = 2.0,
        stop: threading.Event | None = None,
    ) -> None:
        """Take ``key`` for ``ttl_seconds`` (renewed by the heartbeat), or raise ``LockBusy``.

        Busy is reported at once unless ``wait_seconds`` > 0, then the lock is retried every ``poll_seconds`` until
        acquired, the wait runs out, or ``stop`` is set (both raise ``LockBusy`` naming the last holder seen).
        """
        if ttl_seconds <= 0:
            raise ValueError(f"Lock {key}: ttl_seconds must be positive, got {ttl_seconds}")
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        while True:
            busy = self._acquire_once(key, ttl_seconds)
            if busy is None:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stop is not None and stop.is_set()):
                raise LockBusy(key, busy[0], busy[1])
            pause = min(max(poll_seconds, 0.01), remaining)
            if stop is not None:
                if stop.wait(pause):
                    raise LockBusy(key, busy[0], busy[1])
            else:
                time.sleep(pause)

    def release(self, key: str) -> None:
        """Drop one hold of ``key``; at zero, delete the row if this owner still has it. Unheld keys are ignored."""
        with self._op:
            with self._cond:
                hold = self._holds.get(key)
                if hold is None:
                    return
                if hold.count > 1:
                    hold.count -= 1
                    return
                del self._holds[key]
            deleted = self._delete_owned(key)
        if deleted:
            self._emit("lock_released", key=key, ttl_seconds=hold.ttl_seconds)

    @contextmanager
    def hold(
        self,
        key: str,
        ttl_seconds: int,
        *,
        wait_seconds: float = 0.0,
        poll_seconds: float = 2.0,
        stop: threading.Event | None = None,
    ) -> Iterator[None]:
        """``acquire`` on entry, ``release`` on exit (also when the body raises)."""
        self.acquire(key, ttl_seconds, wait_seconds=wait_seconds, poll_seconds=poll_seconds, stop=stop)
        try:
            yield
        finally:
            self.release(key)

    def close(self) -> None:
        """Stop the heartbeat, delete every row still held by this owner, close the connection. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        with self._op:
            with self._cond:
                remaining = dict(self._holds)
                self._holds.clear()
            released: list[tuple[str, int]] = []
            try:
                for key, hold in remaining.items():
                    if self._delete_owned(key):
                        released.append((key, hold.ttl_seconds))
            finally:
                self._conn.close()
        for key, ttl in released:
            self._emit("lock_released", key=key, ttl_seconds=ttl)

    def __enter__(self) -> LockManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- acquisition ------------------------------------------------------------------------------------------

    def _acquire_once(self, key: str, ttl_seconds: int) -> tuple[str, float] | None:
        """One attempt: None when acquired, else (holder, expires_at)."""
        with self._op:
            with self._cond:
                if self._closed:
                    raise StateError(f"Lock manager for {self.db_path} is closed; cannot acquire {key}")
                hold = self._holds.get(key)
                if hold is not None and key not in self._lost:
                    # Nested hold in this process: the row is ours and the heartbeat keeps it.
                    hold.count += 1
                    hold.ttl_seconds = max(hold.ttl_seconds, ttl_seconds)
                    return None
            now = self._clock()
            owner = self.owner
            conn = self._conn

            def body(c: sqlite3.Connection) -> tuple[str | None, tuple[str, float] | None]:
                previous = None
                for expired_key, expired_owner in c.execute(_DELETE_EXPIRED, (now,)).fetchall():
                    if expired_key == key and expired_owner != owner:
                        previous = expired_owner
                cur = c.execute(
                    _UPSERT, (key, owner, now + ttl_seconds, self.flow_id, self.pod_name, now, now, ttl_seconds)
                )
                if cur.rowcount == 1:
                    return previous, None
                row = c.execute(_HOLDER, (key,)).fetchone()
                return previous, (str(row[0]), float(row[1]))

            previous, busy = _transaction(conn, self.db_path, f"acquiring lock {key}", body)
            if busy is None:
                self._register(key, ttl_seconds)
        if busy is not None:
            return busy
        if previous is not None:
            self._emit("lock_takeover", key=key, previous_owner=previous)
        self._emit("lock_acquired", key=key, ttl_seconds=ttl_seconds)
        return None

    def _register(self, key: str, ttl_seconds: int) -> None:
        with self._cond:
            self._generation += 1
            existing = self._holds.get(key)
            count = existing.count + 1 if existing is not None else 1
            due = time.monotonic() + ttl_seconds / 3
            self._holds[key] = _Hold(count, ttl_seconds, self._generation, due)
            self._idle_interval = ttl_seconds / 3
            self._lost.discard(key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._heartbeat_loop, name=f"aetherflow-lock-heartbeat-{self.owner}", daemon=True
                )
                self._thread.start()
            elif due < self._wake_at:
                self._cond.notify()

    def _delete_owned(self, key: str) -> bool:
        owner = self.owner

        def body(c: sqlite3.Connection) -> bool:
            return c.execute(_DELETE_OWNED, (key, owner)).rowcount == 1

        return _transaction(self._conn, self.db_path, f"releasing lock {key}", body)

    # -- heartbeat --------------------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                due = self._wait_for_due()
                if due is None:
                    return
                try:
                    if conn is None:
                        conn = _connect(self.db_path, self._busy_timeout_ms, self._synchronous)
                    self._renew(conn, due)
                except StateError:
                    # Not a lost lock (no answer is not "no row"): try again soon, well before the TTL runs out.
                    log.warning("lock renewal failed for %s; retrying in 1 s", self.db_path, exc_info=True)
                    self._postpone(due, 1.0)
        finally:
            if conn is not None:
                conn.close()

    def _postpone(self, due: list[tuple[str, int, int]], seconds: float) -> None:
        with self._cond:
            for key, gen, ttl in due:
                hold = self._holds.get(key)
                if hold is not None and hold.generation == gen:
                    hold.next_renewal = time.monotonic() + min(seconds, ttl / 3)

    def _wait_for_due(self) -> list[tuple[str, int, int]] | None:
        """Park until a held key is due for renewal; the (key, generation, ttl) of those due, or None once closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                due = [(k, h.generation, h.ttl_seconds) for k, h in self._holds.items() if h.next_renewal <= now]
                if due:
                    self._wake_at = -math.inf
                    return due
                # With nothing held, keep waking every ttl / 3 instead of parking for good: a later acquire then
                # finds the heartbeat due to wake before its key needs renewal and does not have to notify it.
                self._wake_at = min((h.next_renewal for h in self._holds.values()), default=now + self._idle_interval)
                self._cond.wait(None if self._wake_at == math.inf else self._wake_at - now)
            return None

    def _renew(self, conn: sqlite3.Connection, due: list[tuple[str, int, int]]) -> None:
        owner = self.owner
        now = self._clock()

        def body(c: sqlite3.Connection) -> list[tuple[str, int, bool]]:
            return [(key, gen, c.execute(_RENEW, (now + ttl, now, key, owner)).rowcount == 1) for key, gen, ttl in due]

        results = _transaction(conn, self.db_path, "renewing locks", body)
        newly_lost: list[str] = []
        with self._cond:
            for key, gen, touched in results:
                hold = self._holds.get(key)
                if hold is None or hold.generation != gen:
                    continue  # released (or re-acquired) while the renewal ran: its result says nothing
                if touched:
                    hold.next_renewal = time.monotonic() + hold.ttl_seconds / 3
                else:
                    hold.next_renewal = math.inf
                    self._lost.add(key)
                    newly_lost.append(key)
        for key in newly_lost:
            self._emit("lock_lost", key=key)

    # -- events -----------------------------------------------------------------------------------------------

    def _emit(self, name: str, **fields: Any) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(name, **fields)
        except Exception:  # an observer must never corrupt lock bookkeeping
            log.warning("lock event observer failed on %s", name, exc_info=True)


def _open_existing(db_path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    return _connect(Path(db_path), busy_timeout_ms, None)


def _row(values: tuple[Any, ...], now: float) -> LockRow:
    key, owner, expires_at, flow_id, pod_name, acquired_at, heartbeat_at, ttl_seconds = values
    return LockRow(
        key=key,
        owner=owner,
        expires_at=float(expires_at),
        flow_id=flow_id,
        pod_name=pod_name,
        acquired_at=None if acquired_at is None else float(acquired_at),
        heartbeat_at=None if heartbeat_at is None else float(heartbeat_at),
        ttl_seconds=None if ttl_seconds is None else int(ttl_seconds),
        expired=float(expires_at) <= now,
    )


def list_locks(db_path: Path, now: float | None = None, *, busy_timeout_ms: int = 30000) -> list[LockRow]:
    """Every lock row ordered by key, ``expired`` judged at ``now`` (default: the wall clock). Never creates the DB."""
    current = time.time() if now is None else now
    conn = _open_existing(db_path, busy_timeout_ms)
    try:
        try:
            rows = conn.execute(_SELECT_ALL).fetchall()
        except sqlite3.Error as exc:
            if _is_busy(exc):
                raise StateError(f"State database {db_path} is locked by another process; retry later") from exc
            raise StateError(
                f"State database {db_path} cannot be read as a lock table ({exc}): "
                "not an aetherflow state database, or never initialised"
            ) from exc
    finally:
        conn.close()
    return [_row(tuple(r), current) for r in rows]


def release_lock(
    db_path: Path,
    key: str,
    *,
    owner: str | None = None,
    force: bool = False,
    now: float | None = None,
    busy_timeout_ms: int = 30000,
) -> LockRow:
    """Delete the row of ``key`` if ``owner`` holds it (or whatever the owner with ``force``); the deleted row.

    Raises ``LockNotFound`` for an unknown key and ``LockHeldByOther`` when ``owner`` does not match (row kept).
    """
    if not force and owner is None:
        raise ValueError("release_lock needs owner=<run id> or force=True")
    current = time.time() if now is None else now
    conn = _open_existing(db_path, busy_timeout_ms)

    def body(c: sqlite3.Connection) -> LockRow:
        found = c.execute(_SELECT_ROW, (key,)).fetchone()
        if found is None:
            raise LockNotFound(key)
        row = _row(tuple(found), current)
        if not force and row.owner != owner:
            raise LockHeldByOther(key, row.owner)
        c.execute(_DELETE_KEY, (key,))
        return row

    try:
        return _transaction(conn, Path(db_path), f"releasing lock {key}", body)
    finally:
        conn.close()
