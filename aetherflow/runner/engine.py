"""Execute a validated Plan: resume, gating, locks, retries and state transitions.

Called by aetherflow.edge.entrypoint. Knows nothing of YAML, env vars, signals or Kubernetes: it receives a Plan,
an open store, a lock manager, resolved resources and a stop token, and returns a RunOutcome.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aetherflow.api import Status
from aetherflow.errors import AetherFlowError, ExitCode, LockBusy, StateError, error_text
from aetherflow.redaction import Redactor
from aetherflow.registry import Registry
from aetherflow.runner.admission import admit_run
from aetherflow.runner.attempts import AttemptRunner
from aetherflow.runner.context import ConnectorPool, ProcessTracker, StepRunContext
from aetherflow.runner.exit_status import final_status, interrupt_code, interrupt_text
from aetherflow.runner.grace import on_stop
from aetherflow.runner.job_runner import JobRunner
from aetherflow.runner.job_views import JobResults
from aetherflow.runner.journal import RunJournal
from aetherflow.runner.lock_guard import LockGuard
from aetherflow.runner.outcomes import JobOutcome, RunOptions, RunOutcome, StepOutcome
from aetherflow.runner.outputs import OutputDocuments
from aetherflow.runner.rerun import attempt_floor, reset_before_attempt
from aetherflow.runner.run_root import differing_slot, run_view, scheduled_at_text
from aetherflow.runner.stop import StopToken
from aetherflow.runner.summary import run_summary
from aetherflow.runner.workspaces import RunWorkspaces
from aetherflow.state.store import FINAL, JobRecord, RunRecord, StepRecord

if TYPE_CHECKING:
    from aetherflow.events import EventBus
    from aetherflow.plan import JobSpec, Plan
    from aetherflow.spec.resources import ResolvedResource
    from aetherflow.state.locks import LockManager
    from aetherflow.state.store import StateStore

__all__ = ["JobOutcome", "RunOptions", "RunOutcome", "Runner", "StepOutcome"]

log = logging.getLogger("aetherflow")

_MAX_ERROR_BYTES = 8192


class Runner:
    """Runs one attempt of a run of a Plan."""

    def __init__(
        self,
        plan: Plan,
        *,
        store: StateStore,
        locks: LockManager | None,
        registry: Registry,
        resources: Mapping[str, ResolvedResource],
        env: Mapping[str, str],
        redactor: Redactor,
        events: EventBus,
        options: RunOptions,
        stop: StopToken | None = None,
        tracker: ProcessTracker | None = None,
    ) -> None:
        self.plan = plan
        self.flow_id = plan.meta.flow_id
        self.store = store
        self.locks = locks
        self.registry = registry
        self.env = env
        self.redactor = redactor
        self.events = events
        self.opt = options
        self.stop = stop or StopToken()
        self.tracker = tracker or ProcessTracker()
        self.connectors = ConnectorPool(
            registry,
            resources,
            env=env,
            emit=events.emit,
            redactor=redactor,
            cache_default=options.connector_cache_default,
            cache_disabled=options.connector_cache_disabled,
        )
        self.attempts = AttemptRunner(self.stop, self.tracker, events.emit, options.grace_seconds)
        self.docs = OutputDocuments(redactor, options.max_output_bytes)
        self.run_id = options.run_id
        self.journal = RunJournal(store, events, self.flow_id, self.run_id)
        self.workspaces = RunWorkspaces(plan, options.work_root, options.run_id)
        #: attempts a step made before its record was reset: numbering continues after them
        self.attempt_floor: dict[tuple[str, str], int] = {}
        self.results = JobResults()
        #: the ``run`` root of templates and ``when`` (set when the attempt starts)
        self.run_values: dict[str, Any] = {}
        self.guard = LockGuard(locks, options.locks_ttl_seconds, self.stop.event)
        self.stored_jobs: dict[str, JobRecord] = {}
        self.stored_steps: dict[tuple[str, str], StepRecord] = {}
        self._started = time.monotonic()
        self.active_ctx: StepRunContext | None = None
        self.running: tuple[str, str, str, int] | None = None  # job id, step id, step type, attempt
        self.finished = threading.Event()
        #: called by the grace watchdog before the process leaves when a step ignores the stop request
        self.on_abandon: Callable[[RunOutcome], None] | None = None
        self.jobs = JobRunner(self)
        self.stop.on_request(lambda: on_stop(self))

    # -- entry ---------------------------------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Run (or resume) the run; never raises for a step or job failure."""
        self.events.bind(flow_id=self.flow_id, run_id=self.run_id)
        opt = self.opt
        held: list[str] = []
        if self.locks is not None:
            try:
                held = admit_run(
                    self.locks,
                    flow_id=self.flow_id,
                    run_id=self.run_id,
                    scope=self.opt.locks_scope,
                    ttl_seconds=self.opt.locks_ttl_seconds,
                    takeover_seconds=self.opt.run_takeover_seconds,
                    stop=self.stop.event,
                )
            except LockBusy as busy:
                if self.stop.is_set():
                    return self._interrupted_waiting(busy)
                self.journal.run_overlap(busy)
                return RunOutcome(self.flow_id, self.run_id, "OVERLAP", self.opt.overlap_exit_code, overlap=busy)
        try:
            # with the run lock held: a re-run (or a gone dependency's workspace) resets jobs in one transaction
            reset = reset_before_attempt(
                self.journal, self.workspaces, rerun=opt.rerun, job_uid=opt.job_uid, flow_job=opt.flow_job
            )
            done = None if reset.rerun else self._already_complete()  # a re-run always resumes
            if done is not None:
                return done
            return self._run_attempt()
        finally:
            self.finished.set()
            for key in reversed(held):
                self.guard.let_go(key)

    def _interrupted_waiting(self, busy: LockBusy) -> RunOutcome:
        """A stop request ended the wait for another invocation of this run id: nothing was written."""
        code = interrupt_code(self.stop.signum)
        signal = "SIGINT" if code == ExitCode.SIGINT else "SIGTERM"
        text = f"Interrupted while waiting for run {self.run_id} (held by {busy.owner}): received {signal}"
        log.warning("run %s interrupted while waiting: %s", self.run_id, text)
        return RunOutcome(self.flow_id, self.run_id, Status.INTERRUPTED, code, interrupted_waiting=text)

    def _already_complete(self) -> RunOutcome | None:
        previous = self.store.get_run(self.flow_id, self.run_id)
        if previous is None:
            return None
        jobs = self.store.load_jobs(self.flow_id, self.run_id)
        target = self.opt.flow_job
        if target is not None:
            complete = jobs.get(target) is not None and jobs[target].status in FINAL
        else:
            complete = previous.status == Status.SUCCESS and self._complete(jobs)
        if not complete:
            return None
        self.journal.run_already_complete()
        summary = self._stored_summary(previous.attempt, jobs)
        return RunOutcome(
            self.flow_id, self.run_id, "SUCCESS", ExitCode.OK, previous.attempt, summary, already_complete=True
        )

    def _complete(self, jobs: Mapping[str, JobRecord]) -> bool:
        """Every job of the flow has a final record: SUCCESS, SKIPPED, or BLOCKED only behind skipped work."""
        benign: dict[str, bool] = {}

        def ok(job: JobSpec) -> bool:
            if job.id in benign:
                return benign[job.id]
            rec = jobs.get(job.id)
            result = False
            if rec is not None and rec.status in FINAL:
                result = True
            elif rec is not None and rec.status == Status.BLOCKED:
                by_id = {j.id: j for j in self.plan.jobs}
                result = all(
                    (jobs[d].status == Status.SKIPPED) or (jobs[d].status == Status.BLOCKED and ok(by_id[d]))
                    for d in job.depends_on
                    if d in jobs and jobs[d].status != Status.SUCCESS
                ) and all(d in jobs for d in job.depends_on)
            benign[job.id] = result
            return result

        return all(ok(job) for job in self.plan.jobs)

    # -- one attempt ---------------------------------------------------------------------------------------------
    def _run_attempt(self) -> RunOutcome:
        opt = self.opt
        current, previous = self.journal.run_started(
            flow_file=self.plan.flow_path,
            flow_sha256=self.plan.flow_sha256,
            pod_name=opt.pod_name,
            flow_job=opt.flow_job,
            job_name=opt.job_name,
            job_uid=opt.job_uid,
            namespace=opt.namespace,
            bundle_fingerprint=opt.bundle_fingerprint,
            scheduled_at=scheduled_at_text(opt.scheduled_at) if opt.scheduled_at is not None else None,
        )
        self._set_run_values(current.attempt, current.scheduled_at or current.started_at, previous)
        if previous is not None:
            self.stored_jobs = self.store.load_jobs(self.flow_id, self.run_id)
            self.stored_steps = self.store.load_steps(self.flow_id, self.run_id)
            self.attempt_floor = attempt_floor(self.store.load_attempts(self.flow_id, self.run_id))
        internal: BaseException | None = None
        try:
            self.jobs.run_jobs()
        except Exception as exc:  # noqa: BLE001 (an internal error must still end with a FAILED record)
            internal = exc
            self._fail_running(error_text(exc))
            log.error("internal error: %s", self.redact_error(error_text(exc)))
            # a known fault (a full state volume) is told by its line; a bug of the runner needs its traceback
            trace_level = logging.DEBUG if isinstance(exc, AetherFlowError) else logging.ERROR
            log.log(trace_level, "internal error\n%s", self.redactor.mask("".join(traceback.format_exception(exc))))
        finally:
            self.connectors.close_all()
        status, code, error = final_status(
            (o for o in self.results.values() if opt.flow_job is None or o.job_id == opt.flow_job),
            stop_signum=self.stop.signum,
            stopped=self.stop.is_set(),
            internal=internal,
            lock_lost=self.guard.lost,
            redact=self.redact_error,
        )
        try:
            self.journal.run_finished(status, code, error)
        except StateError as exc:  # a full or failing volume: the summary and the exit code still tell
            status, code, error = Status.FAILED, ExitCode.FAILED, self.redact_error(error_text(exc))
            log.error("run result not recorded: %s", error)
        else:  # `always` after a permanent failure: nothing will resume, every directory of the run goes
            if self.workspaces.policy == "always" and code == ExitCode.PERMANENT:
                self.workspaces.at_end(self.store.load_jobs(self.flow_id, self.run_id), status, code)
        summary = self.summary(status, code, current.attempt)
        self.journal.run_summary(summary)
        return RunOutcome(self.flow_id, self.run_id, status, code, current.attempt, summary)

    def _set_run_values(self, attempt: int, scheduled_at: str, previous: RunRecord | None) -> None:
        # the value stored at the first attempt wins, so run.date never moves between retries
        stored = previous.scheduled_at if previous is not None else None
        given = differing_slot(stored, self.opt.scheduled_at)
        if stored is not None and given is not None:
            self.journal.scheduled_at_kept(stored, given)
        self.run_values = run_view(self.run_id, attempt, scheduled_at, self.plan.meta.timezone)

    def _fail_running(self, text: str) -> None:
        """Best effort after an internal error: the step and job in flight become FAILED."""
        error = self.redact_error(text)
        running = [outcome for outcome in self.results.values() if outcome.status == Status.RUNNING]
        for outcome in running:  # the summary tells even when the store cannot (a full volume)
            outcome.status, outcome.error = Status.FAILED, error
        with contextlib.suppress(Exception):
            if self.running is not None:
                self.journal.step_marked(self.running, Status.FAILED, error)
        with contextlib.suppress(Exception):
            self.journal.jobs_marked([outcome.job_id for outcome in running], Status.FAILED, error)

    def interrupt_text(self) -> str:
        return interrupt_text(self.stop.signum)

    def jobs_view(self) -> dict[str, Any]:
        """The ``jobs`` root of templates and ``when``."""
        return self.results.views()

    # -- results -------------------------------------------------------------------------------------------------
    def summary(self, status: str, code: int, attempt: int) -> dict[str, Any]:
        return run_summary(
            self.plan,
            self.results,
            flow_id=self.flow_id,
            run_id=self.run_id,
            status=status,
            code=code,
            attempt=attempt,
            duration_ms=round((time.monotonic() - self._started) * 1000),
            bundle_fingerprint=self.opt.bundle_fingerprint,
        )

    def _stored_summary(self, attempt: int, jobs: Mapping[str, JobRecord]) -> dict[str, Any]:
        steps = self.store.load_steps(self.flow_id, self.run_id)
        for job in self.plan.jobs:
            rec = jobs.get(job.id)
            if rec is None:
                continue
            outcome = JobOutcome(
                job.id,
                rec.status,
                dict(rec.outputs),
                0,
                rec.skip_reason,
                rec.skip_trigger,
                rec.error if rec.status != Status.BLOCKED else rec.reason,
            )
            for step in job.steps:
                srec = steps.get((job.id, step.id))
                if srec is not None:
                    outcome.steps.append(StepOutcome(step.id, step.type, srec.status, srec.attempts))
            self.results[job.id] = outcome
        return self.summary("SUCCESS", ExitCode.OK, attempt)

    # -- errors --------------------------------------------------------------------------------------------------
    def redact_error(self, text: str | None) -> str | None:
        if text is None:
            return None
        masked = self.redactor.mask(text)
        raw = masked.encode("utf-8")
        if len(raw) > _MAX_ERROR_BYTES:
            masked = raw[:_MAX_ERROR_BYTES].decode("utf-8", "ignore")
        return masked
