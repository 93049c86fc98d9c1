"""The ``jobs`` root of templates and ``when``, kept up to date as jobs end so that a step's work does not grow with
the number of jobs before it."""

from __future__ import annotations

from typing import Any

from aetherflow.api import Status
from aetherflow.runner.outcomes import JobOutcome


class JobResults(dict[str, JobOutcome]):
    """Each job's outcome in this attempt, with its view built once when the job's outcome is set or ends.

    A job's outcome is set anew when it is restored, gated, re-run or ended without steps; a running job's outcome
    changes in place until its status leaves RUNNING. Only those are rebuilt, so a finished job's view is never
    built twice and never served stale.
    """

    def __init__(self) -> None:
        super().__init__()
        self._views: dict[str, Any] = {}
        self._changed: set[str] = set()

    def __setitem__(self, job_id: str, outcome: JobOutcome) -> None:
        super().__setitem__(job_id, outcome)
        self._changed.add(job_id)

    def views(self) -> dict[str, Any]:
        """``{job id: view}`` of every job with a status (a new dict; the views themselves are shared)."""
        for job_id in list(self._changed):
            outcome = self[job_id]
            if outcome.status:
                self._views[job_id] = outcome.view()
            else:
                self._views.pop(job_id, None)
            if outcome.status != Status.RUNNING:
                self._changed.discard(job_id)
        return dict(self._views)
