"""What a run is told (``RunOptions``) and what it yields: each step's, each job's and the run's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow.api import Status
from aetherflow.errors import ExitCode, LockBusy
from aetherflow.progress import DEFAULT_PROGRESS_SECONDS


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What the edge resolved for this run (CLI flag > setting > flow YAML)."""

    run_id: str
    work_root: Path
    locks_scope: str = "none"
    locks_ttl_seconds: int = 600
    flow_job: str | None = None
    grace_seconds: float = 20.0
    strict_sandbox: bool = True
    enterprise: bool = False
    max_output_bytes: int = 16 * 1024 * 1024
    connector_cache_default: str = "run"
    connector_cache_disabled: bool = False
    job_name: str | None = None
    job_uid: str | None = None
    pod_name: str | None = None
    namespace: str | None = None
    bundle_fingerprint: str | None = None
    overlap_exit_code: int = ExitCode.OVERLAP
    run_takeover_seconds: float | None = None
    #: the schedule slot in Unix seconds when known (stored as ``run.scheduled_at`` by a run's first attempt)
    scheduled_at: float | None = None
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS
    #: jobs to reset with every job that needs them before resuming (``--rerun``)
    rerun: tuple[str, ...] = ()


@dataclass(slots=True)
class StepOutcome:
    """One step's result in this attempt (or restored)."""

    step_id: str
    step_type: str
    status: str
    attempts: int = 0
    duration_ms: int = 0
    error: str | None = None


@dataclass(slots=True)
class JobOutcome:
    """One job's result in this attempt (or restored)."""

    job_id: str
    status: str
    outputs: dict[str, Any] = field(default_factory=dict)
    duration_ms: int = 0
    skip_reason: str | None = None
    skip_trigger: str | None = None
    error: str | None = None
    blocked_by_failure: bool = False
    steps: list[StepOutcome] = field(default_factory=list)
    interrupted: bool = False
    #: FAILED with an error that retrying cannot fix (a run whose every failed job is permanent exits 3)
    permanent: bool = False

    def view(self) -> dict[str, Any]:
        """The job as ``when`` and templates see it under ``jobs.<id>``."""
        out: dict[str, Any] = {"status": self.status, "outputs": self.outputs}
        if self.status == Status.SKIPPED:
            out["skip_reason"] = self.skip_reason
            out["skip_trigger"] = self.skip_trigger
        return out


@dataclass(slots=True)
class RunOutcome:
    """What the run did, for the exit code, the summary, metrics and the termination message."""

    flow_id: str
    run_id: str
    status: str
    exit_code: int
    attempt: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    overlap: LockBusy | None = None
    already_complete: bool = False
    #: a stop request ended the wait for another invocation of this run id: no record was written
    interrupted_waiting: str | None = None
