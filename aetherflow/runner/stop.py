"""The stop request that the edge's signal handlers raise and the runner obeys."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StopToken:
    """A stop request shared by the edge (signal handlers) and the runner."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.requested_at: float | None = None
        self._callbacks: list[Callable[[], None]] = []

    def request(self, signum: int) -> None:
        """First signal: start nothing new; the running step's children get SIGTERM."""
        if self.event.is_set():
            return
        self.signum = signum
        self.requested_at = time.monotonic()
        self.event.set()
        for callback in list(self._callbacks):
            callback()

    def on_request(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from the signal handler's thread) when a stop is requested."""
        self._callbacks.append(callback)

    def is_set(self) -> bool:
        """True once a stop was requested."""
        return self.event.is_set()
