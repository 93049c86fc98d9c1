"""The job and step locks a run takes while it executes, and the check that none it holds was lost.

The run's own lock and the flow lock are taken by admission; the heartbeat that keeps every held lock alive runs in
the lock manager, which marks a key ``lost`` when another owner took it over.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aetherflow.errors import error_text

if TYPE_CHECKING:
    from aetherflow.state.locks import LockManager

log = logging.getLogger("aetherflow")


class LockGuard:
    """Takes and lets go of locks for one run (a no-op without a lock manager) and notices a lost one."""

    def __init__(self, locks: LockManager | None, ttl_seconds: int, stop: threading.Event) -> None:
        self.locks = locks
        self.ttl_seconds = ttl_seconds
        self.stop = stop
        #: the first lock found lost (the run starts no further step once it is set)
        self.lost: str | None = None

    def take(self, key: str, wait_seconds: float = 0.0) -> None:
        """Hold ``key`` (``LockBusy`` when another owner has it past the wait)."""
        if self.locks is None:
            return
        self.locks.acquire(key, self.ttl_seconds, wait_seconds=wait_seconds, stop=self.stop)

    def let_go(self, key: str) -> None:
        """Give ``key`` up; a failure is logged, never raised, so that it cannot hide the run's result."""
        if self.locks is None:
            return
        try:
            self.locks.release(key)
        except Exception as exc:  # noqa: BLE001 (a failed release must not hide the run's result)
            log.warning("lock release failed for %s: %s", key, error_text(exc))

    @contextlib.contextmanager
    def hold(
        self, key: str, *, ttl_seconds: int, wait_seconds: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[None]:
        """A step's own lock for the length of a block."""
        if self.locks is None:
            raise RuntimeError("locks need a state store")
        self.locks.acquire(key, ttl_seconds, wait_seconds=wait_seconds, stop=stop or self.stop)
        try:
            yield
        finally:
            self.let_go(key)

    def check_lost(self) -> bool:
        """True once a lock the run holds was taken over by another owner."""
        if self.locks is None or self.lost is not None:
            return self.lost is not None
        lost = self.locks.lost
        if lost:
            self.lost = sorted(lost)[0]
            return True
        return False
