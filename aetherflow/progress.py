"""``ProgressMeter``: counts the rows or bytes a long step has done and reports them at most once per interval.

One throttle serves every step that reports progress (extracts, transfers, zip/unzip): the step adds what it did, the
meter reads a monotonic clock and, once ``interval`` seconds have passed since the step began (or since the last
report), calls ``report`` with the count, the total when known and the rate since the start. A step that finishes
within the interval reports nothing, so a fast step logs no progress line. An interval of 0 turns reports off.

Counts may come from several threads at once (parallel uploads, an S3 transfer's worker threads), hence the lock.
Standard library only: it sits below ``aetherflow.api``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Unit = Literal["rows", "bytes"]

#: seconds between two progress reports of one step (``AETHERFLOW_PROGRESS_SECONDS``); 0 turns them off
DEFAULT_PROGRESS_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class ProgressReport:
    """What one report says: ``done`` rows or bytes of ``total`` (None when unknown), ``rate`` per second since the
    step began, and the seconds elapsed."""

    unit: Unit
    done: int
    total: int | None
    rate: float
    elapsed_seconds: float


class ProgressMeter:
    """A throttled counter of one step's rows or bytes; ``report`` is called outside the lock."""

    def __init__(
        self,
        report: Callable[[ProgressReport], None],
        unit: Unit,
        *,
        interval: float,
        total: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.unit: Unit = unit
        self.total = total
        self.done = 0
        self._report = report
        self._interval = interval
        self._clock = clock
        self._started = clock()
        # inf when disabled: the hot path then costs one addition and one comparison per call
        self._due = self._started + interval if interval > 0 else float("inf")
        self._lock = threading.Lock()

    def add(self, count: int) -> None:
        """Count ``count`` more rows or bytes; report when the interval has passed."""
        with self._lock:
            self.done += count
            report = self._due_report()
        if report is not None:
            self._report(report)

    def part(self) -> Callable[[int], None]:
        """A callback for one part of the work (a file) that reports the part's own running total, as the transfer
        connectors' ``progress`` callbacks do; each call adds what the part did since its previous call.

        The difference is taken under the lock: an S3 transfer calls from several threads, not always in order.
        """
        seen = 0

        def advance(current: int) -> None:
            nonlocal seen
            with self._lock:
                self.done += current - seen
                seen = current
                report = self._due_report()
            if report is not None:
                self._report(report)

        return advance

    def _due_report(self) -> ProgressReport | None:
        now = self._clock()
        if now < self._due:
            return None
        self._due = now + self._interval
        elapsed = max(now - self._started, 1e-9)
        return ProgressReport(self.unit, self.done, self.total, round(self.done / elapsed, 1), round(elapsed, 3))
