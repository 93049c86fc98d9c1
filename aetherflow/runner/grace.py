"""What a stop request (SIGTERM/SIGINT) does at once: stop the running step's children, and, when a step ignores the
request past the grace period, record the interruption and leave the process."""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

from aetherflow.api import Status
from aetherflow.runner.exit_status import interrupt_code
from aetherflow.runner.outcomes import RunOutcome

if TYPE_CHECKING:
    from aetherflow.runner.engine import Runner

#: past the grace: a step in a worker thread is abandoned by its own loop at the grace itself
_WATCHDOG_MARGIN_SECONDS = 3.0


def on_stop(runner: Runner) -> None:
    """Called from the signal handler: log, then stop the running step's children without blocking here."""
    name = "SIGINT" if runner.stop.signum == 2 else "SIGTERM"
    runner.journal.cancel_requested(name)
    ctx = runner.active_ctx
    if ctx is not None:
        ctx.cancelled.set()
    threading.Thread(
        target=runner.tracker.terminate_all, args=(runner.opt.grace_seconds,), name="stop-children", daemon=True
    ).start()
    threading.Thread(target=grace_watchdog, args=(runner,), name="grace-watchdog", daemon=True).start()


def grace_watchdog(runner: Runner) -> None:
    """If a step ignores the stop request past the grace period, record the interruption and leave."""
    if runner.finished.wait(runner.opt.grace_seconds + _WATCHDOG_MARGIN_SECONDS):
        return
    running = runner.running
    text = runner.interrupt_text()
    code = interrupt_code(runner.stop.signum)
    try:
        if running is not None:
            runner.journal.step_marked(running, Status.INTERRUPTED, text)
            runner.journal.jobs_marked([running[0]], Status.INTERRUPTED, text)
            outcome = runner.results.get(running[0])
            if outcome is not None:
                outcome.status, outcome.error = Status.INTERRUPTED, text
        runner.journal.run_finished(Status.INTERRUPTED, code, text)
        attempt = runner.journal.attempt
        summary = runner.summary(Status.INTERRUPTED, code, attempt)
        runner.journal.run_summary(summary)
        if runner.on_abandon is not None:
            runner.on_abandon(RunOutcome(runner.flow_id, runner.run_id, Status.INTERRUPTED, code, attempt, summary))
    finally:
        runner.tracker.kill_all()
        logging.shutdown()
        os._exit(int(code))
