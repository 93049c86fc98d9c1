"""The ``jobs`` root of templates and ``when``: each job's view, kept for finished jobs so that a step's work does
not grow with the number of jobs before it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aetherflow.runner.outcomes import JobOutcome


class JobViews:
    """Caches each job's view by the outcome object and the fields the view shows.

    A job's outcome is replaced (a restore, a re-run) or changes status when it ends: either makes its key differ,
    so the stale view is never served. A running job's view holds its live ``outputs`` dict, as before.
    """

    def __init__(self) -> None:
        self._cache: dict[str, tuple[JobOutcome, tuple[str, str | None, str | None], dict[str, Any]]] = {}

    def of(self, results: Mapping[str, JobOutcome]) -> dict[str, Any]:
        """``{job id: view}`` of every job with a status."""
        views: dict[str, Any] = {}
        cache = self._cache
        for job_id, outcome in results.items():
            if not outcome.status:
                continue
            shown = (outcome.status, outcome.skip_reason, outcome.skip_trigger)
            hit = cache.get(job_id)
            if hit is None or hit[0] is not outcome or hit[1] != shown:
                hit = (outcome, shown, outcome.view())  # the object itself: an id could be reused once it is freed
                cache[job_id] = hit
            views[job_id] = hit[2]
        return views
