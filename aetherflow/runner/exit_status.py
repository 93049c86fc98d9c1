"""A run attempt's exit status: its final status, exit code and error, from its job outcomes and how it ended."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aetherflow.api import Status
from aetherflow.errors import ExitCode, error_text
from aetherflow.runner.outcomes import JobOutcome

_SIGINT = 2


def interrupt_text(signum: int | None) -> str:
    """The error of whatever a stop request ended."""
    return f"Interrupted: received {'SIGINT' if signum == _SIGINT else 'SIGTERM'}"


def interrupt_code(signum: int | None) -> int:
    """The exit code of a run a stop request ended: 130 for SIGINT, 143 for SIGTERM."""
    return ExitCode.SIGINT if signum == _SIGINT else ExitCode.SIGTERM


def final_status(
    outcomes: Iterable[JobOutcome],
    *,
    stop_signum: int | None,
    stopped: bool,
    internal: BaseException | None,
    lock_lost: str | None,
    redact: Callable[[str | None], str | None],
) -> tuple[str, int, str | None]:
    """(status, exit code, error): a stop wins, then an internal error, a lost lock, and then the jobs' results.

    ``outcomes`` are the jobs this invocation answers for (one job with ``--flow-job``). A run whose every failed
    job failed permanently exits 3, so that nothing retries it.
    """
    if stopped:
        return Status.INTERRUPTED, interrupt_code(stop_signum), interrupt_text(stop_signum)
    if internal is not None:
        return Status.FAILED, ExitCode.FAILED, redact(error_text(internal))
    if lock_lost is not None:
        return Status.FAILED, ExitCode.FAILED, f"Lock lost: {lock_lost}"
    outcomes = list(outcomes)
    failed = [o for o in outcomes if o.status in (Status.FAILED, Status.INTERRUPTED)]
    if failed:
        permanent = all(o.status == Status.FAILED and o.permanent for o in failed)
        return Status.FAILED, ExitCode.PERMANENT if permanent else ExitCode.FAILED, failed[0].error
    blocked = [o for o in outcomes if o.status == Status.BLOCKED and o.blocked_by_failure]
    if blocked:
        return Status.FAILED, ExitCode.FAILED, blocked[0].error
    return Status.SUCCESS, ExitCode.OK, None
