"""The run journal: the one place where a run's transitions are saved, each then announced as a typed event.

A ``RunJournal`` is bound to one run (flow id, run id) and to this invocation's attempt (set by ``run_started``).
Each method is named after a transition; it writes the transition through the ``StateStore`` (one short
transaction) and only then publishes the event of the same transition, so an observer never sees a transition the
store does not have. Transitions without a state write (a restored step, a cancel request) only publish; the few
state writes without an event (promoted outputs, skipped steps of a short-circuited job, the best-effort marks
after an internal error) still pass through here, so nothing else in the runner writes run state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aetherflow.api import Status
from aetherflow.events import (
    FlowChanged,
    JobEnd,
    JobRestored,
    JobsReset,
    JobStart,
    RerunAlreadyReset,
    RunAlreadyComplete,
    RunCancelRequested,
    RunOverlap,
    RunStart,
    RunSummary,
    ScheduledAtKept,
    StepEnd,
    StepRestored,
    StepRetry,
    StepStart,
    WorkspaceGone,
)

if TYPE_CHECKING:
    from aetherflow.errors import LockBusy
    from aetherflow.events import EventBus
    from aetherflow.state.store import RunRecord, StateStore

#: the step in flight: job id, step id, step type, attempt
Running = tuple[str, str, str, int]


class RunJournal:
    """Saves then announces the transitions of one run's invocation."""

    def __init__(self, store: StateStore, events: EventBus, flow_id: str, run_id: str) -> None:
        self.store = store
        self.events = events
        self.flow_id = flow_id
        self.run_id = run_id
        #: the run's attempt number of this invocation (0 until ``run_started``)
        self.attempt = 0

    # -- the run -------------------------------------------------------------------------------------------------
    def run_overlap(self, busy: LockBusy) -> None:
        """Another invocation holds the run's lock: nothing is written."""
        self.events.publish(RunOverlap(key=busy.key, owner=busy.owner, expires_at=busy.expires_at))

    def run_already_complete(self) -> None:
        self.events.publish(RunAlreadyComplete())

    def run_started(
        self, *, flow_file: str | None, flow_sha256: str | None, pod_name: str | None, **labels: str | None
    ) -> tuple[RunRecord, RunRecord | None]:
        """Create or resume the run (a new attempt); ``labels`` are the run record's other columns."""
        current, previous = self.store.start_run(
            self.flow_id, self.run_id, flow_file=flow_file, flow_sha256=flow_sha256, pod_name=pod_name, **labels
        )
        self.attempt = current.attempt
        self.events.publish(
            RunStart(
                yaml=flow_file,
                attempt=current.attempt,
                run_started_at=current.started_at,
                resumed=previous is not None,
                job_name=labels.get("job_name"),
                pod=pod_name,
                bundle_fingerprint=labels.get("bundle_fingerprint"),
            )
        )
        if previous is not None and previous.flow_sha256 and previous.flow_sha256 != flow_sha256:
            self.events.publish(FlowChanged(previous_sha256=previous.flow_sha256, sha256=flow_sha256))
        return current, previous

    def scheduled_at_kept(self, stored: str, given: str) -> None:
        """The stored ``run.scheduled_at`` wins over another slot given to a resume: announced, nothing written."""
        self.events.publish(ScheduledAtKept(stored=stored, given=given))

    def cancel_requested(self, signal: str) -> None:
        self.events.publish(RunCancelRequested(signal=signal))

    def run_finished(self, status: str, exit_code: int, error: str | None) -> None:
        """The run's final status of this attempt (the summary follows with ``run_summary``)."""
        self.store.finish_run(self.flow_id, self.run_id, status, exit_code, error)

    def run_summary(self, summary: Mapping[str, Any]) -> None:
        self.events.publish(
            RunSummary(
                status=summary["status"],
                exit_code=summary["exit_code"],
                attempt=summary["attempt"],
                duration_ms=summary["duration_ms"],
                bundle_fingerprint=summary["bundle_fingerprint"],
                status_counts=summary["status_counts"],
                jobs=summary["jobs"],
            )
        )

    # -- jobs ----------------------------------------------------------------------------------------------------
    def job_restored(self, job_id: str, status: str, skip_reason: str | None) -> None:
        """A job final in an earlier attempt: announced, not written again."""
        self.events.publish(JobRestored(job_id=job_id, status=status))
        self.events.publish(JobEnd(job_id=job_id, status=status, duration_ms=0, skip_reason=skip_reason, error=None))

    def job_blocked(self, job_id: str, reason: str) -> None:
        self.store.set_job(self.flow_id, self.run_id, job_id, Status.BLOCKED, reason=reason)
        self.events.publish(JobEnd(job_id=job_id, status=Status.BLOCKED, duration_ms=0, skip_reason=None, error=reason))

    def job_started(self, job_id: str, workspace_path: str | None = None) -> None:
        """The job starts; its workspace's absolute path is recorded with it."""
        self.store.set_job(
            self.flow_id,
            self.run_id,
            job_id,
            Status.RUNNING,
            started=True,
            ended=False,
            workspace_path=workspace_path,
        )
        self.events.publish(JobStart(job_id=job_id))

    def jobs_reset(
        self, job_ids: Sequence[str], *, reason: str, requested: Sequence[str] | None = None, request: str | None = None
    ) -> None:
        """Before the attempt, in one transaction: the jobs have no record again (``request``: the re-run request
        the run stores with it)."""
        self.store.reset_jobs(self.flow_id, self.run_id, job_ids, rerun_request=request)
        self.events.publish(
            JobsReset(jobs=list(job_ids), reason=reason, requested=list(requested) if requested is not None else None)
        )

    def rerun_already_reset(self, job_ids: Sequence[str], job_uid: str | None) -> None:
        self.events.publish(RerunAlreadyReset(jobs=list(job_ids), job_uid=job_uid))

    def workspace_gone(self, job_id: str, *, needed_by: str, path: str, action: str) -> None:
        self.events.publish(WorkspaceGone(job_id=job_id, needed_by=needed_by, path=path, action=action))

    def job_finished(
        self,
        job_id: str,
        status: str,
        *,
        duration_ms: int = 0,
        skip_reason: str | None = None,
        skip_trigger: str | None = None,
        error: str | None = None,
        outputs_json: str = "{}",
        workspace_path: str | None = None,
    ) -> None:
        """A job's final status of this attempt (also a job that ends without running a step), with the path of the
        workspace it created, if it created one."""
        self.store.set_job(
            self.flow_id,
            self.run_id,
            job_id,
            status,
            skip_reason=skip_reason,
            skip_trigger=skip_trigger,
            error=error,
            outputs_json=outputs_json,
            workspace_path=workspace_path,
        )
        self.events.publish(
            JobEnd(job_id=job_id, status=status, duration_ms=duration_ms, skip_reason=skip_reason, error=error)
        )

    # -- steps ---------------------------------------------------------------------------------------------------
    def step_restored(self, job_id: str, step_id: str, step_type: str, status: str) -> None:
        self.events.publish(StepRestored(job_id=job_id, step_id=step_id, step_type=step_type, status=status))

    def step_started(self, job_id: str, step_id: str, step_type: str, attempt: int) -> None:
        self.store.step_running(self.flow_id, self.run_id, job_id, step_id, step_type, attempt, self.attempt)
        self.events.publish(StepStart(job_id=job_id, step_id=step_id, step_type=step_type, attempt=attempt))

    def step_retrying(self, running: Running, *, next_attempt: int, delay_seconds: float, error: str | None) -> None:
        """Attempt ``running[3]`` failed with ``error``; ``next_attempt`` follows after ``delay_seconds``."""
        job_id, step_id, step_type, attempt = running
        self.store.step_attempt_failed(self.flow_id, self.run_id, job_id, step_id, attempt, error or "")
        self.events.publish(
            StepRetry(
                job_id=job_id,
                step_id=step_id,
                step_type=step_type,
                attempt=next_attempt,
                delay_seconds=delay_seconds,
                error=error,
            )
        )

    def step_finished(
        self,
        job_id: str,
        step_id: str,
        step_type: str,
        status: str,
        *,
        attempts: int,
        duration_ms: int,
        error: str | None = None,
        outputs_json: str | None = None,
        attempt_row: bool = True,
    ) -> None:
        """A step's final status of this attempt; ``attempt_row=False`` when it failed before an attempt began."""
        self.store.step_end(
            self.flow_id,
            self.run_id,
            job_id,
            step_id,
            step_type,
            status,
            attempts=attempts,
            error=error,
            outputs_json=outputs_json,
            attempt_row=attempt_row,
        )
        self.events.publish(
            StepEnd(
                job_id=job_id,
                step_id=step_id,
                step_type=step_type,
                status=status,
                duration_ms=duration_ms,
                attempts=attempts,
                error=error,
            )
        )

    def step_skipped(self, job_id: str, step_id: str, step_type: str, outputs_json: str) -> None:
        """A step passed over because its job short-circuited (no attempt, no event)."""
        self.store.step_end(
            self.flow_id,
            self.run_id,
            job_id,
            step_id,
            step_type,
            Status.SKIPPED,
            attempts=0,
            outputs_json=outputs_json,
            attempt_row=False,
        )

    def outputs_promoted(self, job_id: str, step_id: str, promoted_json: str) -> None:
        self.store.set_promoted(self.flow_id, self.run_id, job_id, step_id, promoted_json)

    # -- marks after a fault ---------------------------------------------------------------------------------------
    def step_marked(self, running: Running, status: str, error: str | None) -> None:
        """The step in flight ends as ``status`` without its own result (internal error, abandoned at stop)."""
        job_id, step_id, step_type, attempt = running
        self.store.step_end(
            self.flow_id, self.run_id, job_id, step_id, step_type, status, attempts=attempt, error=error
        )

    def jobs_marked(self, job_ids: Iterable[str], status: str, error: str | None) -> None:
        """Jobs in flight end as ``status`` without their own result."""
        for job_id in job_ids:
            self.store.set_job(self.flow_id, self.run_id, job_id, status, error=error)
