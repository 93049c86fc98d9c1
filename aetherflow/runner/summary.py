"""The run summary: what the ``run_summary`` event, the exit message and the metrics tell about a run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aetherflow.plan import Plan
    from aetherflow.runner.outcomes import JobOutcome


def run_summary(
    plan: Plan,
    results: Mapping[str, JobOutcome],
    *,
    flow_id: str,
    run_id: str,
    status: str,
    code: int,
    attempt: int,
    duration_ms: int,
    bundle_fingerprint: str | None,
) -> dict[str, Any]:
    """The run summary: the run's status and exit code, counts per job status, each job with its steps in order."""
    counts: dict[str, int] = {}
    jobs = []
    for job in plan.jobs:
        outcome = results.get(job.id)
        if outcome is None:
            continue
        status_text = str(outcome.status)
        counts[status_text] = counts.get(status_text, 0) + 1
        order = {s.id: i for i, s in enumerate(job.steps)}
        steps = sorted(outcome.steps, key=lambda s: order.get(s.step_id, len(order)))
        jobs.append(
            {
                "job_id": job.id,
                "status": status_text,
                "duration_ms": outcome.duration_ms,
                "skip_reason": outcome.skip_reason,
                "error": outcome.error,
                "steps": [
                    {
                        "step_id": s.step_id,
                        "step_type": s.step_type,
                        "status": str(s.status),
                        "duration_ms": s.duration_ms,
                        "attempts": s.attempts,
                        **({"error": s.error} if s.error else {}),
                    }
                    for s in steps
                ],
            }
        )
    return {
        "flow_id": flow_id,
        "run_id": run_id,
        "status": str(status),
        "exit_code": int(code),
        "attempt": attempt,
        "duration_ms": duration_ms,
        "bundle_fingerprint": bundle_fingerprint,
        "status_counts": counts,
        "jobs": jobs,
    }
