"""Admission of a run: the locks an invocation takes before it may create or change any record.

First the run's own lock, so two invocations of one run id never execute side by side: a second invocation waits for
the holder to end (then resumes), to go stale, or to die on this host (then takes over), and otherwise is refused
without touching a record. Then, with ``locks.scope: flow``, the flow lock (refused at once when another run has it).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from aetherflow.errors import LockBusy
from aetherflow.state.lock_backend import heartbeat_interval, run_lock_key, run_takeover_seconds

if TYPE_CHECKING:
    from aetherflow.state.locks import LockManager

log = logging.getLogger(__name__)


def admit_run(
    locks: LockManager,
    *,
    flow_id: str,
    run_id: str,
    scope: str,
    ttl_seconds: int,
    takeover_seconds: float | None,
    stop: threading.Event,
) -> list[str]:
    """The keys taken, in order (release them in reverse); ``LockBusy`` when the run may not start now."""
    wait = run_takeover_seconds(ttl_seconds) if takeover_seconds is None else takeover_seconds
    poll = min(1.0, heartbeat_interval(ttl_seconds) / 2)
    try:
        held = [locks.acquire_run(ttl_seconds, wait_seconds=0.0, stop=stop)]
    except LockBusy as busy:
        log.warning(
            "run %s is already live in %s; waiting up to %.0f s for it to end or go stale",
            run_id,
            busy.owner,
            wait,
        )
        held = [locks.acquire_run(ttl_seconds, wait_seconds=wait, poll_seconds=poll, stop=stop)]
    if scope == "flow":
        try:
            locks.acquire(f"flow:{flow_id}", ttl_seconds)
        except LockBusy:
            locks.release(run_lock_key(flow_id, run_id))
            raise
        held.append(f"flow:{flow_id}")
    return held
