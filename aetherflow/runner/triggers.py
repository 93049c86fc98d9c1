"""Trigger rules: whether a job runs once its dependencies have a status in this run.

``all_success`` (the default) runs a job only behind successful dependencies and BLOCKs it otherwise. ``all_done``
runs it once every dependency is SUCCESS, SKIPPED, FAILED or BLOCKED (clean-up after whatever happened);
``one_failed`` runs it only when a dependency FAILED or is BLOCKED behind a failure (a failure handler), and SKIPs it
otherwise. A dependency without such a status (no record, or INTERRUPTED) BLOCKs the job whatever its rule: there is
nothing yet to react to. The job's ``when`` is read only after the rule lets it run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aetherflow.api import Status

__all__ = ["ONE_FAILED_SKIP_REASON", "TRIGGER_SKIP", "Dependency", "Gate", "gate"]

#: the ``skip_reason`` of a ``one_failed`` job none of whose dependencies failed
ONE_FAILED_SKIP_REASON: Final = "trigger=one_failed: no dependency failed"
#: the ``skip_trigger`` of a job its trigger rule skipped (``when`` and ``step`` are the others)
TRIGGER_SKIP: Final = "trigger"

_DONE: Final = frozenset({Status.SUCCESS, Status.SKIPPED, Status.FAILED, Status.BLOCKED})


@dataclass(frozen=True, slots=True)
class Dependency:
    """A dependency's status in this run (None: no record), and whether a BLOCKED one is blocked by a failure."""

    job_id: str
    status: str | None
    blocked_by_failure: bool = False

    @property
    def failed(self) -> bool:
        """FAILED, or BLOCKED behind a failure: what a ``one_failed`` job reacts to."""
        return self.status == Status.FAILED or (self.status == Status.BLOCKED and self.blocked_by_failure)

    @property
    def benign(self) -> bool:
        """Not a success, but quiet: SKIPPED, or BLOCKED only behind skipped work (a blocked dependent exits 0)."""
        return self.status == Status.SKIPPED or (self.status == Status.BLOCKED and not self.blocked_by_failure)


@dataclass(frozen=True, slots=True)
class Gate:
    """The rule's decision: run, or end the job BLOCKED / SKIPPED without steps."""

    run: bool
    status: str | None = None
    #: the BLOCKED reason (``blocked by: a (FAILED), ...``) or the ``skip_reason``
    reason: str | None = None
    #: a BLOCKED job counts as failed for the run's exit code (a dependency failed, was interrupted or never ran)
    blocked_by_failure: bool = False
    skip_trigger: str | None = None


_RUN: Final = Gate(run=True)


def gate(trigger: str, deps: Sequence[Dependency]) -> Gate:
    """Apply ``trigger`` to the dependencies' statuses (in ``depends_on`` order)."""
    if trigger == "all_success":
        unsatisfied = [dep for dep in deps if dep.status != Status.SUCCESS]
        return _blocked(unsatisfied) if unsatisfied else _RUN
    not_done = [dep for dep in deps if dep.status not in _DONE]
    if not_done:
        return _blocked(not_done)
    if trigger == "all_done" or any(dep.failed for dep in deps):
        return _RUN
    return Gate(run=False, status=Status.SKIPPED, reason=ONE_FAILED_SKIP_REASON, skip_trigger=TRIGGER_SKIP)


def _blocked(deps: Sequence[Dependency]) -> Gate:
    reason = "blocked by: " + ", ".join(f"{dep.job_id} ({dep.status or 'NOT_RUN'})" for dep in deps)
    return Gate(
        run=False,
        status=Status.BLOCKED,
        reason=reason,
        blocked_by_failure=not all(dep.benign for dep in deps),
    )
