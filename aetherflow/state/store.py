"""What a state store offers (``StateStore``), the records it hands back, and the time format it writes.

Two stores implement it: SQLite (``sqlite.SqliteStore``) and PostgreSQL (``postgres.PostgresStore``); the runner and
the ``runs``/``state`` commands see only this protocol. Every transition is its own short transaction.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from aetherflow.state.encoding import encode_json

__all__ = [
    "FINAL",
    "JobRecord",
    "Pruned",
    "RunRecord",
    "StateStore",
    "StepRecord",
    "StoredWorkspace",
    "encode_json",
    "now_ts",
    "step_end_args",
]

#: statuses that end a job or step for good within a run id
FINAL = frozenset({"SUCCESS", "SKIPPED"})


#: a step's end, upserted (both stores; ``?`` placeholders, translated once for PostgreSQL)
STEP_END_UPSERT = (
    "INSERT INTO step_runs (flow_id, run_id, job_id, step_id, step_type, status, attempts, created_at,"
    " ended_at, updated_at, error, outputs_json, promoted_json)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (flow_id, run_id, job_id, step_id) DO UPDATE SET status = excluded.status,"
    " attempts = excluded.attempts, ended_at = excluded.ended_at, updated_at = excluded.updated_at,"
    " error = excluded.error, outputs_json = excluded.outputs_json,"
    " promoted_json = excluded.promoted_json"
)
#: the end of the attempt in flight only: one that already failed keeps its own error
STEP_END_ATTEMPT = (
    "UPDATE step_attempts SET status = ?, ended_at = ?, error = ? WHERE flow_id = ? AND run_id = ?"
    " AND job_id = ? AND step_id = ? AND attempt = ? AND status = 'RUNNING'"
)


def step_end_args(
    ids: tuple[str, str, str, str, str],
    status: str,
    attempts: int,
    ts: str,
    error: str | None,
    outputs_json: str | None,
    promoted_json: str | None,
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The parameters of ``STEP_END_UPSERT`` and of ``STEP_END_ATTEMPT`` for one step end (both stores).

    ``ids`` is ``(flow_id, run_id, job_id, step_id, step_type)``."""
    flow_id, run_id, job_id, step_id, _ = ids
    row = (*ids, status, attempts, ts, ts, ts, error, outputs_json, promoted_json)
    return row, (status, ts, error, flow_id, run_id, job_id, step_id, attempts)


#: a job transition, upserted (both stores); a recorded workspace path stays until another one is written
SET_JOB = (
    "INSERT INTO job_runs (flow_id, run_id, job_id, status, created_at, started_at, ended_at, updated_at,"
    " skip_reason, skip_trigger, reason, error, outputs_json, workspace_path)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (flow_id, run_id, job_id) DO UPDATE SET status = excluded.status,"
    " started_at = COALESCE(excluded.started_at, job_runs.started_at), ended_at = excluded.ended_at,"
    " updated_at = excluded.updated_at, skip_reason = excluded.skip_reason,"
    " skip_trigger = excluded.skip_trigger, reason = excluded.reason, error = excluded.error,"
    " outputs_json = excluded.outputs_json,"
    " workspace_path = COALESCE(excluded.workspace_path, job_runs.workspace_path)"
)
#: a reset job has no record again (both stores): its step rows, then its job row; attempt rows are history and stay
RESET_STEPS = "DELETE FROM step_runs WHERE flow_id = ? AND run_id = ? AND job_id = ?"
RESET_JOB = "DELETE FROM job_runs WHERE flow_id = ? AND run_id = ? AND job_id = ?"
RECORD_RERUN = "UPDATE runs SET rerun_request = ?, updated_at = ? WHERE flow_id = ? AND run_id = ?"
#: the stored workspaces of one run (pruning deletes those on this machine)
RUN_WORKSPACES = (
    "SELECT flow_id, job_id, run_id, workspace_path FROM job_runs"
    " WHERE flow_id = ? AND run_id = ? AND workspace_path IS NOT NULL ORDER BY job_id"
)

#: the columns of one attempt row, as ``load_attempts`` returns them
ATTEMPT_COLUMNS = "job_id, step_id, attempt, status, started_at, ended_at, error"


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
    #: ``run.scheduled_at``: the schedule slot, else the first start (RFC 3339 UTC), fixed at the first attempt
    scheduled_at: str | None = None
    #: the last re-run request (JSON ``{"jobs": [...], "job_uid": ...}``), or None
    rerun_request: str | None = None


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
    #: the absolute path of the job's workspace directory in this run (None: not recorded)
    workspace_path: str | None = None


@dataclass(frozen=True, slots=True)
class StoredWorkspace:
    """A job's recorded workspace directory, with the keys its path must end with."""

    flow_id: str
    job_id: str
    run_id: str
    path: str


@dataclass(slots=True)
class Pruned:
    """What a prune removed (or would remove): row counts, and the workspaces the removed jobs recorded."""

    counts: dict[str, int]
    workspaces: list[StoredWorkspace] = field(default_factory=list)


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


#: the columns of ``runs`` in ``RunRecord`` order (both stores select them this way)
RUN_COLUMNS = (
    "flow_id, run_id, status, attempt, started_at, ended_at, updated_at, exit_code, error, flow_file, flow_sha256,"
    " flow_job, job_name, job_uid, pod_name, namespace, bundle_fingerprint, scheduled_at, rerun_request"
)
#: the columns of ``job_runs`` ``job_record`` reads
JOB_COLUMNS = (
    "job_id, status, created_at, started_at, ended_at, skip_reason, skip_trigger, reason, error, outputs_json,"
    " workspace_path"
)
#: the columns of ``step_runs`` ``step_record`` reads
STEP_COLUMNS = (
    "job_id, step_id, step_type, status, attempts, created_at, started_at, ended_at, error, outputs_json, promoted_json"
)
INTERRUPTED_BY_CRASH = "Interrupted: previous attempt ended without recording a result"


def job_record(r: Sequence[Any]) -> JobRecord:
    """A ``JobRecord`` from a row of ``JOB_COLUMNS``."""
    return JobRecord(
        job_id=r[0],
        status=r[1],
        created_at=r[2],
        started_at=r[3],
        ended_at=r[4],
        skip_reason=r[5],
        skip_trigger=r[6],
        reason=r[7],
        error=r[8],
        outputs=json.loads(r[9]) if r[9] else {},
        workspace_path=r[10],
    )


def step_record(r: Sequence[Any]) -> StepRecord:
    """A ``StepRecord`` from a row of ``STEP_COLUMNS``."""
    return StepRecord(
        job_id=r[0],
        step_id=r[1],
        step_type=r[2],
        status=r[3],
        attempts=r[4],
        created_at=r[5],
        started_at=r[6],
        ended_at=r[7],
        error=r[8],
        outputs=json.loads(r[9]) if r[9] is not None else None,
        promoted=json.loads(r[10]) if r[10] is not None else None,
    )


class StateStore(Protocol):
    """The state of runs, jobs and steps keyed by (flow_id, run_id); each write is one transaction."""

    #: where the store lives (the SQLite file, or the PostgreSQL URL): the lock store opens the same place
    location: Path | str

    def describe(self) -> str:
        """The location as messages show it (never a password)."""

    def get_run(self, flow_id: str, run_id: str) -> RunRecord | None:
        """The run record, or None."""

    def runs_with_id(self, run_id: str) -> list[RunRecord]:
        """Every run with this id, whatever its flow."""

    def list_runs(self, flow_id: str | None = None, status: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Runs newest first by ``started_at``."""

    def start_run(
        self,
        flow_id: str,
        run_id: str,
        *,
        flow_file: str | None = None,
        flow_sha256: str | None = None,
        flow_job: str | None = None,
        job_name: str | None = None,
        job_uid: str | None = None,
        pod_name: str | None = None,
        namespace: str | None = None,
        bundle_fingerprint: str | None = None,
        scheduled_at: str | None = None,
    ) -> tuple[RunRecord, RunRecord | None]:
        """Create the run (attempt 1) or resume it (attempt + 1, RUNNING rows of the dead attempt INTERRUPTED).

        ``scheduled_at`` (RFC 3339 UTC, the schedule slot when known) is stored at the first attempt, the start time
        when None; a resume never changes it (a run recorded before the column existed gets it then).
        """

    def finish_run(self, flow_id: str, run_id: str, status: str, exit_code: int, error: str | None) -> None:
        """Record the run's final status of this attempt."""

    def load_jobs(self, flow_id: str, run_id: str) -> dict[str, JobRecord]:
        """Every job record of the run, ordered by creation."""

    def set_job(
        self,
        flow_id: str,
        run_id: str,
        job_id: str,
        status: str,
        *,
        started: bool = False,
        ended: bool = True,
        skip_reason: str | None = None,
        skip_trigger: str | None = None,
        reason: str | None = None,
        error: str | None = None,
        outputs_json: str = "{}",
        workspace_path: str | None = None,
    ) -> None:
        """Write a job transition (insert or update); a ``workspace_path`` is kept until another one is written."""

    def reset_jobs(
        self, flow_id: str, run_id: str, job_ids: Sequence[str], *, rerun_request: str | None = None
    ) -> None:
        """In one transaction: the jobs have no job or step record again (their attempt rows stay, so attempt
        numbers continue), and with ``rerun_request`` the run records the request that reset them."""

    def load_steps(self, flow_id: str, run_id: str) -> dict[tuple[str, str], StepRecord]:
        """Every step record of the run keyed by (job_id, step_id), ordered by creation."""

    def load_attempts(self, flow_id: str, run_id: str) -> list[tuple[Any, ...]]:
        """Every attempt row of the run's steps: (job_id, step_id, attempt, status, started_at, ended_at, error)."""

    def step_running(
        self, flow_id: str, run_id: str, job_id: str, step_id: str, step_type: str, attempt: int, run_attempt: int
    ) -> None:
        """The step starts attempt ``attempt``: its row RUNNING and a new attempt row."""

    def step_attempt_failed(
        self, flow_id: str, run_id: str, job_id: str, step_id: str, attempt: int, error: str
    ) -> None:
        """An attempt failed and another follows."""

    def step_end(
        self,
        flow_id: str,
        run_id: str,
        job_id: str,
        step_id: str,
        step_type: str,
        status: str,
        *,
        attempts: int,
        error: str | None = None,
        outputs_json: str | None = None,
        promoted_json: str | None = None,
        attempt_row: bool = True,
    ) -> None:
        """A step's final status of this attempt."""

    def set_promoted(self, flow_id: str, run_id: str, job_id: str, step_id: str, promoted_json: str) -> None:
        """Store the rendered ``outputs`` of a finished step."""

    def prune(self, older_than_days: float, *, flow_id: str | None = None, dry_run: bool = False) -> Pruned:
        """Delete finished runs older than the cutoff with their rows, and locks expired for as long; the counts and
        the workspaces the deleted jobs recorded (read in the same transaction)."""

    def close(self) -> None:
        """Close the connection."""
