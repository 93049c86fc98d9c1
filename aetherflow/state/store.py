"""Records the state store hands back, and the time format it writes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aetherflow.state.encoding import encode_json

__all__ = ["FINAL", "JobRecord", "RunRecord", "StepRecord", "encode_json", "now_ts"]

#: statuses that end a job or step for good within a run id
FINAL = frozenset({"SUCCESS", "SKIPPED"})


def now_ts(at: float | None = None) -> str:
    """UTC RFC 3339 with milliseconds and ``Z`` (``2025-03-01T02:00:00.123Z``)."""
    ms = round((time.time() if at is None else at) * 1000)  # integer milliseconds: no float truncation (….123 → ….122)
    secs, rem = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{rem:03d}Z"


@dataclass(slots=True)
class RunRecord:
    """A row of ``runs``."""

    flow_id: str
    run_id: str
    status: str
    attempt: int
    started_at: str
    ended_at: str | None = None
    updated_at: str | None = None
    exit_code: int | None = None
    error: str | None = None
    flow_file: str | None = None
    flow_sha256: str | None = None
    flow_job: str | None = None
    job_name: str | None = None
    job_uid: str | None = None
    pod_name: str | None = None
    namespace: str | None = None
    bundle_fingerprint: str | None = None


@dataclass(slots=True)
class JobRecord:
    """A row of ``job_runs`` with its outputs decoded."""

    job_id: str
    status: str
    created_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    skip_reason: str | None = None
    skip_trigger: str | None = None
    reason: str | None = None
    error: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StepRecord:
    """A row of ``step_runs`` with its JSON columns decoded."""

    job_id: str
    step_id: str
    step_type: str
    status: str
    attempts: int = 0
    created_at: str = ""
    started_at: str | None = None
    ended_at: str | None = None
    error: str | None = None
    outputs: dict[str, Any] | None = None
    promoted: dict[str, Any] | None = None
