"""TTL locks held by one invocation of a run, renewed by a heartbeat, taken over when stale or when the holder died.

Used by the runner (the implicit run lock, ``locks.scope: flow|job``) and by ``with_lock`` steps through
``LockManager``, and by the ``locks`` commands (``list_locks``, ``release_lock``). The rules of who may take a lock
from whom live in ``lock_backend``; the store behind them is a ``LockBackend`` (SQLite: ``sqlite_locks``;
PostgreSQL: ``pg_locks``).

One daemon thread per manager, on its own connection, renews the held keys every ``min(ttl / 3, 10)`` seconds and
parks on a condition while nothing is due. A renewal that touches no row means the lock was force-released or taken
over: the key joins ``lost`` and the runner stops starting steps.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetherflow.errors import LockBusy, StateError
from aetherflow.state.host import HostIdentity, current_host
from aetherflow.state.location import Location, describe
from aetherflow.state.lock_backend import (
    Busy,
    Claim,
    LockBackend,
    LockHeldByOther,
    LockNotFound,
    LockRow,
    heartbeat_interval,
    new_owner,
    run_lock_key,
)

__all__ = ["LockHeldByOther", "LockManager", "LockNotFound", "LockRow", "list_locks", "release_lock"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Hold:
    count: int
    ttl_seconds: int
    generation: int
    next_renewal: float  # time.monotonic() of the next heartbeat; inf once lost


class LockManager:
    """The locks of one invocation of a run (owner ``<run_id>#<token>``), with a heartbeat thread renewing them.

    Thread-safe. Holds are counted per key in this process: the row is deleted when the count returns to 0.
    """

    def __init__(
        self,
        db_path: Location,
        *,
        run_id: str,
        flow_id: str | None = None,
        pod_name: str | None = None,
        busy_timeout_ms: int = 30000,
        on_event: Callable[..., None] | None = None,
        clock: Callable[[], float] = time.time,
        synchronous: str | None = None,
        host: HostIdentity | None = None,
        after_run_lock: Callable[[], None] | None = None,
    ) -> None:
        """Open the lock store at the state's location (an SQLite file or a PostgreSQL URL); ``synchronous=None``
        follows the SQLite store (NORMAL in WAL). ``after_run_lock`` runs once the run lock is held; when it raises,
        the run lock is released and the exception propagates."""
        from aetherflow.state.backends import open_lock_backend

        self.db_path = db_path if isinstance(db_path, str) else Path(db_path)
        self.run_id = run_id
        self.owner = new_owner(run_id)
        self.flow_id = flow_id
        self.pod_name = pod_name
        self.host = host if host is not None else current_host()
        self._on_event = on_event
        self._after_run_lock = after_run_lock
        self._backend: LockBackend = open_lock_backend(
            self.db_path, busy_timeout_ms=busy_timeout_ms, synchronous=synchronous, clock=clock
        )
        # _op serialises the main connection and hold counting; _cond guards the state shared with the heartbeat.
        self._op = threading.Lock()
        self._cond = threading.Condition(threading.Lock())
        self._holds: dict[str, _Hold] = {}
        self._lost: set[str] = set()
        self._generation = 0
        self._closed = False
        self._run_key: str | None = None  # set once this invocation holds its run lock: it then inherits
        self._thread: threading.Thread | None = None
        self._wake_at = math.inf  # when the parked heartbeat will wake; -inf while it is working
        self._idle_interval = math.inf  # how long the heartbeat parks with nothing held (the last interval)

    # -- public API -------------------------------------------------------------------------------------------

    @property
    def lost(self) -> frozenset[str]:
        """Keys whose renewal found no row (force-released or taken over)."""
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
                raise LockBusy(key, busy.owner, busy.expires_at)
            pause = min(max(poll_seconds, 0.01), remaining)
            if stop is not None:
                if stop.wait(pause):
                    raise LockBusy(key, busy.owner, busy.expires_at)
            else:
                time.sleep(pause)

    def acquire_run(
        self,
        ttl_seconds: int,
        *,
        wait_seconds: float,
        poll_seconds: float = 1.0,
        stop: threading.Event | None = None,
    ) -> str:
        """Take this run's own lock, waiting up to ``wait_seconds`` for a live holder to end or go stale; its key.

        From then on this invocation inherits every lock an earlier invocation of the same run left behind.
        """
        if self.flow_id is None:
            raise ValueError("the run lock needs the flow id")
        key = run_lock_key(self.flow_id, self.run_id)
        self.acquire(key, ttl_seconds, wait_seconds=wait_seconds, poll_seconds=poll_seconds, stop=stop)
        if self._after_run_lock is not None:
            try:
                self._after_run_lock()
            except BaseException:
                self.release(key)
                raise
        with self._cond:
            self._run_key = key
        return key

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
                if key == self._run_key:
                    self._run_key = None
            deleted = self._backend.release(key, self.owner)
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
                self._run_key = None
            released: list[tuple[str, int]] = []
            try:
                # The run lock goes last: while it is held nobody else of this run may inherit the others.
                for key, hold in sorted(remaining.items(), key=lambda item: item[0].startswith("run:")):
                    if self._backend.release(key, self.owner):
                        released.append((key, hold.ttl_seconds))
            finally:
                self._backend.close()
        for key, ttl in released:
            self._emit("lock_released", key=key, ttl_seconds=ttl)

    def __enter__(self) -> LockManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- acquisition ------------------------------------------------------------------------------------------

    def _acquire_once(self, key: str, ttl_seconds: int) -> Busy | None:
        """One attempt: None when acquired, else who holds it."""
        with self._op:
            with self._cond:
                if self._closed:
                    raise StateError(f"Lock manager for {describe(self.db_path)} is closed; cannot acquire {key}")
                hold = self._holds.get(key)
                if hold is not None and key not in self._lost:
                    # Nested hold in this process: the row is ours and the heartbeat keeps it.
                    hold.count += 1
                    hold.ttl_seconds = max(hold.ttl_seconds, ttl_seconds)
                    return None
                inherits = self._run_key is not None and self._run_key not in self._lost
            claim = Claim(
                owner=self.owner,
                ttl_seconds=ttl_seconds,
                flow_id=self.flow_id,
                pod_name=self.pod_name,
                host=self.host,
                pid=os.getpid(),
                inherit_run_id=self.run_id if inherits else None,
            )
            result = self._backend.acquire(key, claim)
            if isinstance(result, Busy):
                return result
            self._register(key, ttl_seconds)
        if result.previous_owner is not None:
            self._emit("lock_takeover", key=key, previous_owner=result.previous_owner, reason=result.reason)
        self._emit("lock_acquired", key=key, ttl_seconds=ttl_seconds)
        return None

    def _register(self, key: str, ttl_seconds: int) -> None:
        interval = heartbeat_interval(ttl_seconds)
        with self._cond:
            self._generation += 1
            existing = self._holds.get(key)
            count = existing.count + 1 if existing is not None else 1
            due = time.monotonic() + interval
            self._holds[key] = _Hold(count, ttl_seconds, self._generation, due)
            self._idle_interval = interval
            self._lost.discard(key)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._heartbeat_loop, name=f"aetherflow-lock-heartbeat-{self.owner}", daemon=True
                )
                self._thread.start()
            elif due < self._wake_at:
                self._cond.notify()

    # -- heartbeat --------------------------------------------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        session: LockBackend | None = None
        session_timeout = math.inf
        try:
            while True:
                due = self._wait_for_due()
                if due is None:
                    return
                # A renewal must give up on a busy store well within one interval, then try again soon.
                timeout = min(heartbeat_interval(ttl) for _, _, ttl in due) / 2
                try:
                    if session is None or timeout < session_timeout:
                        if session is not None:
                            session.close()
                            session = None
                        session, session_timeout = self._backend.heartbeat_session(timeout), timeout
                    self._renew(session, due)
                except StateError:
                    # Not a lost lock (no answer is not "no row"): try again soon, well before it turns stale.
                    log.warning("lock renewal failed for %s; retrying in 1 s", describe(self.db_path), exc_info=True)
                    self._postpone(due, 1.0)
        finally:
            if session is not None:
                session.close()

    def _postpone(self, due: list[tuple[str, int, int]], seconds: float) -> None:
        with self._cond:
            for key, gen, ttl in due:
                hold = self._holds.get(key)
                if hold is not None and hold.generation == gen:
                    hold.next_renewal = time.monotonic() + min(seconds, heartbeat_interval(ttl))

    def _wait_for_due(self) -> list[tuple[str, int, int]] | None:
        """Park until a held key is due for renewal; the (key, generation, ttl) of those due, or None once closed."""
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                due = [(k, h.generation, h.ttl_seconds) for k, h in self._holds.items() if h.next_renewal <= now]
                if due:
                    self._wake_at = -math.inf
                    return due
                # With nothing held, keep waking every interval instead of parking for good: a later acquire then
                # finds the heartbeat due to wake before its key needs renewal and does not have to notify it.
                self._wake_at = min((h.next_renewal for h in self._holds.values()), default=now + self._idle_interval)
                self._cond.wait(None if self._wake_at == math.inf else self._wake_at - now)
            return None

    def _renew(self, session: LockBackend, due: list[tuple[str, int, int]]) -> None:
        touched = session.renew(self.owner, [(key, ttl) for key, _, ttl in due])
        newly_lost: list[str] = []
        with self._cond:
            for (key, gen, _), ok in zip(due, touched, strict=True):
                hold = self._holds.get(key)
                if hold is None or hold.generation != gen:
                    continue  # released (or re-acquired) while the renewal ran: its result says nothing
                if ok:
                    hold.next_renewal = time.monotonic() + heartbeat_interval(hold.ttl_seconds)
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


def list_locks(db_path: Location, now: float | None = None, *, busy_timeout_ms: int = 30000) -> list[LockRow]:
    """Every lock row ordered by key, ``expired`` judged at ``now`` (default: the wall clock; PostgreSQL: the
    server's clock always). Never creates the database."""
    from aetherflow.state.backends import open_lock_backend

    clock = time.time if now is None else (lambda: now)
    backend = open_lock_backend(db_path, busy_timeout_ms=busy_timeout_ms, clock=clock)
    try:
        return backend.list_rows()
    finally:
        backend.close()


def release_lock(
    db_path: Location,
    key: str,
    *,
    owner: str | None = None,
    force: bool = False,
    now: float | None = None,
    busy_timeout_ms: int = 30000,
) -> LockRow:
    """Delete the row of ``key`` if run ``owner`` holds it (its owner's run-id part), or whatever the owner with
    ``force``; the deleted row.

    Raises ``LockNotFound`` for an unknown key and ``LockHeldByOther`` when ``owner`` does not match (row kept).
    """
    if not force and owner is None:
        raise ValueError("release_lock needs owner=<run id> or force=True")
    from aetherflow.state.backends import open_lock_backend

    clock = time.time if now is None else (lambda: now)
    backend = open_lock_backend(db_path, busy_timeout_ms=busy_timeout_ms, clock=clock)
    try:
        return backend.release_any(key, run_id=owner, force=force)
    finally:
        backend.close()
