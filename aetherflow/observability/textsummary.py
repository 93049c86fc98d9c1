"""The short form of ``run_summary`` written in text logs: what an operator reads at the end of a run.

JSON logs keep every field (machines read them); a text line carries the status, the exit code, a human duration,
the counts of jobs per status and the failed jobs, so that it stays one readable line however large the flow is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

__all__ = ["human_duration", "text_summary"]

#: the fields every event carries, kept first so that a summary line can be told apart from another run's
_KEPT: Final = ("flow_id", "run_id", "status", "exit_code")


def human_duration(ms: int) -> str:
    """``4.2s``, ``3m07s``, ``2h05m00s``: seconds with one decimal below a minute, whole seconds above."""
    if ms < 59_950:  # what would round to 60.0s reads as 1m00s
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s"


def text_summary(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a text ``run_summary`` line, from the full (already masked) summary."""
    out = {key: fields[key] for key in _KEPT if key in fields}
    duration = fields.get("duration_ms")
    if isinstance(duration, int) and not isinstance(duration, bool):
        out["duration"] = human_duration(duration)
    counts = fields.get("status_counts")
    if isinstance(counts, Mapping) and counts:
        out["counts"] = ",".join(f"{status}:{n}" for status, n in sorted(counts.items()))
    jobs = fields.get("jobs")
    if isinstance(jobs, list):
        failed = [str(job.get("job_id")) for job in jobs if isinstance(job, Mapping) and job.get("status") == "FAILED"]
        if failed:
            out["failed_jobs"] = ",".join(failed)
    return out
