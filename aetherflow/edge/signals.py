"""The only ``signal.signal`` calls: the first SIGTERM/SIGINT requests a stop, the second exits at once."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Protocol


class _Stop(Protocol):
    def is_set(self) -> bool: ...

    def request(self, signum: int) -> None: ...


def install(stop: _Stop, kill_tracked: Callable[[], None]) -> None:
    """Route SIGTERM/SIGINT to ``stop``; a second signal SIGKILLs tracked children and leaves immediately."""

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            kill_tracked()
            # No further state writes: rows left RUNNING are marked INTERRUPTED by the next attempt.
            os._exit(128 + signum)
        stop.request(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handle)
