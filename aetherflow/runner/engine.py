"""Execute a validated Plan: resume, gating, locks, retries and state transitions.

Called by aetherflow.edge.entrypoint. Knows nothing of YAML, env vars, signals or Kubernetes: it receives a Plan,
an open store, a lock manager, resolved resources and a stop token, and returns a RunOutcome.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from aetherflow.api import Status, StepResult
from aetherflow.conditions import WhenEvaluationError
from aetherflow.errors import (
    AetherFlowError,
    ExitCode,
    Interrupted,
    LockBusy,
    LockLost,
    OutputError,
    StateError,
    TemplateError,
    error_text,
    is_permanent,
)
from aetherflow.redaction import Redactor
from aetherflow.registry import Registry
from aetherflow.runner.admission import admit_run
from aetherflow.runner.attempts import AttemptRunner
from aetherflow.runner.context import ConnectorPool, ProcessTracker, StepRunContext, validate_inputs
from aetherflow.runner.journal import RunJournal
from aetherflow.runner.outcomes import JobOutcome, RunOptions, RunOutcome, StepOutcome
from aetherflow.runner.outputs import OutputDocuments
from aetherflow.runner.run_root import differing_slot, run_view, scheduled_at_text
from aetherflow.runner.stop import StopToken
from aetherflow.runner.summary import run_summary
from aetherflow.runner.triggers import Dependency, gate
from aetherflow.spec.resources import register_input_secrets
from aetherflow.state.store import FINAL, JobRecord, RunRecord, StepRecord, encode_json
from aetherflow.templating import STEP_ROOTS, render
from aetherflow.workspace import JobWorkspace

if TYPE_CHECKING:
    from aetherflow.events import EventBus
    from aetherflow.plan import JobSpec, Plan, StepSpec
    from aetherflow.spec.resources import ResolvedResource
    from aetherflow.state.locks import LockManager
    from aetherflow.state.store import StateStore

__all__ = ["JobOutcome", "RunOptions", "RunOutcome", "Runner", "StepOutcome"]

log = logging.getLogger("aetherflow")

_MAX_ERROR_BYTES = 8192


class _JobFailed(Exception):
    """Internal: ends a job's step loop with the job's error already recorded."""


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
        self.results: dict[str, JobOutcome] = {}
        #: the ``run`` root of templates and ``when`` (set when the attempt starts)
        self.run_values: dict[str, Any] = {}
        self.lock_lost: str | None = None
        self._stored_jobs: dict[str, JobRecord] = {}
        self._stored_steps: dict[tuple[str, str], StepRecord] = {}
        self._started = time.monotonic()
        self._active_ctx: StepRunContext | None = None
        self._running: tuple[str, str, str, int] | None = None  # job id, step id, step type, attempt
        self._finished = threading.Event()
        #: called by the grace watchdog before the process leaves when a step ignores the stop request
        self.on_abandon: Callable[[RunOutcome], None] | None = None
        self.stop.on_request(self._on_stop)

    # -- entry ---------------------------------------------------------------------------------------------------
    def run(self) -> RunOutcome:
        """Run (or resume) the run; never raises for a step or job failure."""
        self.events.bind(flow_id=self.flow_id, run_id=self.run_id)
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
                self.journal.run_overlap(busy)
                return RunOutcome(self.flow_id, self.run_id, "OVERLAP", self.opt.overlap_exit_code, overlap=busy)
        try:
            done = self._already_complete()
            if done is not None:
                return done
            return self._run_attempt()
        finally:
            self._finished.set()
            for key in reversed(held):
                self._release(key)

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
            self._stored_jobs = self.store.load_jobs(self.flow_id, self.run_id)
            self._stored_steps = self.store.load_steps(self.flow_id, self.run_id)
        internal: BaseException | None = None
        try:
            self._run_jobs()
        except Exception as exc:  # noqa: BLE001 (an internal error must still end with a FAILED record)
            internal = exc
            self._fail_running(error_text(exc))
            log.error("internal error: %s", self._redact_error(error_text(exc)))
            # a known fault (a full state volume) is told by its line; a bug of the runner needs its traceback
            trace_level = logging.DEBUG if isinstance(exc, AetherFlowError) else logging.ERROR
            log.log(trace_level, "internal error\n%s", self.redactor.mask("".join(traceback.format_exception(exc))))
        finally:
            self.connectors.close_all()
        status, code, error = self._final_status(internal)
        try:
            self.journal.run_finished(status, code, error)
        except StateError as exc:  # a full or failing volume: the summary and the exit code still tell
            status, code, error = Status.FAILED, ExitCode.FAILED, self._redact_error(error_text(exc))
            log.error("run result not recorded: %s", error)
        summary = self._summary(status, code, current.attempt)
        self.journal.run_summary(summary)
        return RunOutcome(self.flow_id, self.run_id, status, code, current.attempt, summary)

    def _set_run_values(self, attempt: int, scheduled_at: str, previous: RunRecord | None) -> None:
        # the value stored at the first attempt wins, so run.date never moves between retries
        stored = previous.scheduled_at if previous is not None else None
        given = differing_slot(stored, self.opt.scheduled_at)
        if stored is not None and given is not None:
            self.journal.scheduled_at_kept(stored, given)
        self.run_values = run_view(self.run_id, attempt, scheduled_at, self.plan.meta.timezone)

    def _run_jobs(self) -> None:
        target = self.opt.flow_job
        for job in self.plan.jobs:
            if target is not None and job.id != target:
                continue
            if self.stop.is_set() or self._check_lock_lost():
                break
            stored = self._stored_jobs.get(job.id)
            if stored is not None and stored.status in FINAL:
                self._restore_job(job, stored)
                continue
            self._evaluate_job(job)

    def _restore_job(self, job: JobSpec, rec: JobRecord) -> None:
        outcome = JobOutcome(job.id, rec.status, dict(rec.outputs), 0, rec.skip_reason, rec.skip_trigger)
        for step in job.steps:
            srec = self._stored_steps.get((job.id, step.id))
            if srec is not None:
                outcome.steps.append(StepOutcome(step.id, step.type, srec.status, srec.attempts))
        self.results[job.id] = outcome
        self.journal.job_restored(job.id, rec.status, rec.skip_reason)

    def _dependency_status(self, dep: str) -> JobOutcome | None:
        if dep in self.results:
            return self.results[dep]
        rec = self._stored_jobs.get(dep)
        if rec is None and self.opt.flow_job is not None:
            rec = self.store.load_jobs(self.flow_id, self.run_id).get(dep)
        if rec is None:
            return None
        outcome = JobOutcome(dep, rec.status, dict(rec.outputs), 0, rec.skip_reason, rec.skip_trigger, rec.error)
        if rec.status == Status.BLOCKED:
            # Only a record is left: blocked behind skipped work alone is benign, anything else counts as a failure.
            parts = (rec.reason or "").removeprefix("blocked by: ").split(", ")
            outcome.blocked_by_failure = not all(p.endswith("(SKIPPED)") for p in parts)
        if self.opt.flow_job is not None and rec.status in FINAL:
            self.results[dep] = outcome  # restored so that `when` and templates see jobs.<dep>
        return outcome

    def _jobs_view(self) -> dict[str, Any]:
        return {job_id: outcome.view() for job_id, outcome in self.results.items() if outcome.status}

    def _dependency(self, dep: str) -> Dependency:
        outcome = self._dependency_status(dep)
        if outcome is None:
            return Dependency(dep, None)
        return Dependency(dep, str(outcome.status), outcome.blocked_by_failure)

    def _evaluate_job(self, job: JobSpec) -> None:
        decision = gate(job.trigger, [self._dependency(dep) for dep in job.depends_on])
        if decision.status == Status.BLOCKED and decision.reason is not None:
            self.journal.job_blocked(job.id, decision.reason)
            self.results[job.id] = JobOutcome(
                job.id, Status.BLOCKED, error=decision.reason, blocked_by_failure=decision.blocked_by_failure
            )
            return
        if not decision.run:  # skipped by its trigger rule: `when` is not read
            self._end_job_without_steps(
                job, Status.SKIPPED, skip_reason=decision.reason, skip_trigger=decision.skip_trigger
            )
            return
        if not job.when.always:
            try:
                run_it = job.when.evaluate(self._jobs_view(), self.run_values)
            except WhenEvaluationError as exc:
                expr = (job.when_text or "").strip()
                error = f"ValueError: Invalid job.when for job_id={job.id}: {exc.detail} (when: {expr})"
                self._end_job_without_steps(job, Status.FAILED, error=error, permanent=True)
                return
            if not run_it:
                self._end_job_without_steps(job, Status.SKIPPED, skip_reason="condition=false", skip_trigger="when")
                return
        job_lock = f"job:{self.flow_id}:{job.id}" if self.opt.locks_scope == "job" else None
        if job_lock is not None:
            try:
                self._acquire(job_lock)
            except LockBusy as busy:
                self._end_job_without_steps(job, Status.FAILED, error=error_text(busy))
                return
        try:
            self._run_job(job)
        finally:
            if job_lock is not None:
                self._release(job_lock)

    def _end_job_without_steps(
        self,
        job: JobSpec,
        status: str,
        *,
        error: str | None = None,
        skip_reason: str | None = None,
        skip_trigger: str | None = None,
        permanent: bool = False,
    ) -> None:
        error = self._redact_error(error)
        self.results[job.id] = JobOutcome(job.id, status, {}, 0, skip_reason, skip_trigger, error, permanent=permanent)
        self.journal.job_finished(job.id, status, error=error, skip_reason=skip_reason, skip_trigger=skip_trigger)

    # -- a job that runs -----------------------------------------------------------------------------------------
    def _run_job(self, job: JobSpec) -> None:
        started = time.monotonic()
        outcome = JobOutcome(job.id, Status.RUNNING)
        self.results[job.id] = outcome
        self.journal.job_started(job.id)
        layout = dict(self.plan.meta.layout)
        workspace = JobWorkspace.for_job(self.opt.work_root, self.flow_id, job.id, self.run_id, layout)
        steps_view: dict[str, Any] = {}
        final = Status.SUCCESS
        try:
            for index, step in enumerate(job.steps):
                if self.stop.is_set() or self._check_lock_lost():
                    raise _JobFailed()
                short = self._run_or_restore_step(job, step, workspace, steps_view, outcome)
                if short is not None:
                    final = Status.SKIPPED
                    outcome.skip_reason, outcome.skip_trigger = short, "step"
                    self._short_circuit(job, job.steps[index + 1 :], short, steps_view, outcome)
                    break
        except _JobFailed:
            if outcome.error is None:
                if self.stop.is_set():
                    outcome.error = self._interrupt_text()
                elif self.lock_lost is not None:
                    outcome.error = error_text(LockLost(self.lock_lost))
            final = Status.INTERRUPTED if outcome.interrupted or self.stop.is_set() else Status.FAILED
        try:
            outputs_json = self.docs.encode(outcome.outputs, f"outputs of job {job.id}")
        except OutputError as exc:
            outputs_json = "{}"  # a job that cannot keep its outputs fails: nothing is restored without them
            if final in FINAL:
                final, outcome.error = Status.FAILED, self._redact_error(error_text(exc))
                outcome.permanent = True
        outcome.status = final
        outcome.duration_ms = round((time.monotonic() - started) * 1000)
        self.journal.job_finished(
            job.id,
            final,
            duration_ms=outcome.duration_ms,
            skip_reason=outcome.skip_reason,
            skip_trigger=outcome.skip_trigger,
            error=outcome.error,
            outputs_json=outputs_json,
        )
        self._cleanup(workspace, final)

    def _cleanup(self, workspace: JobWorkspace, status: str) -> None:
        policy = self.plan.meta.cleanup_policy
        if status == Status.INTERRUPTED or policy == "never":
            return
        if status in FINAL or policy == "always":
            workspace.remove()

    def _short_circuit(
        self, job: JobSpec, rest: tuple[StepSpec, ...], reason: str, steps_view: dict[str, Any], outcome: JobOutcome
    ) -> None:
        for step in rest:
            out = {"skipped": True, "reason": reason}
            steps_view[step.id] = out
            self.journal.step_skipped(job.id, step.id, step.type, encode_json(out))
            outcome.steps.append(StepOutcome(step.id, step.type, Status.SKIPPED))

    def _step_ctx_data(self, job: JobSpec, steps_view: dict[str, Any], outcome: JobOutcome) -> dict[str, Any]:
        return {
            "env": self.env,
            "steps": steps_view,
            "job": {"id": job.id, "outputs": outcome.outputs},
            "jobs": self._jobs_view(),
            "run": self.run_values,
            "run_id": self.run_id,
            "flow_id": self.flow_id,
            "result": {},
        }

    def _run_or_restore_step(
        self, job: JobSpec, step: StepSpec, workspace: JobWorkspace, steps_view: dict[str, Any], outcome: JobOutcome
    ) -> str | None:
        """Run one step (or restore it); returns the skip reason when the job must short-circuit."""
        stored = self._stored_steps.get((job.id, step.id))
        if stored is not None and stored.status in FINAL and stored.outputs is not None:
            steps_view[step.id] = stored.outputs
            outcome.steps.append(StepOutcome(step.id, step.type, stored.status, stored.attempts))
            self.journal.step_restored(job.id, step.id, step.type, stored.status)
            self._promote(job, step, stored.outputs, steps_view, outcome, store=False)
            return self._skip_reason(step, stored.status, stored.outputs)
        prior_attempts = stored.attempts if stored is not None else 0
        ctx_data = self._step_ctx_data(job, steps_view, outcome)
        step_cls = None
        try:
            inputs = render(dict(step.inputs), ctx_data, STEP_ROOTS)
            register_input_secrets(inputs, self.redactor)
            step_cls = self.registry.step_class(step.type)
            model = validate_inputs(step_cls.inputs_model, step.id, inputs)
        except (TemplateError, ValueError, KeyError, TypeError) as exc:
            self._fail_step_without_running(job, step, prior_attempts, exc, outcome)
            raise _JobFailed() from None
        policy = step.retry
        resource = inputs.get("resource") if isinstance(inputs, dict) else None
        if policy is None and isinstance(resource, str):
            with contextlib.suppress(Exception):
                policy = self.connectors.default_retry(resource)
        ctx = self._make_ctx(job, step, workspace)
        started = time.monotonic()
        attempt_no = prior_attempts
        result: StepResult | None = None
        error: BaseException | None = None

        def on_attempt(n: int) -> None:
            nonlocal attempt_no
            attempt_no = prior_attempts + n
            self._running = (job.id, step.id, step.type, attempt_no)
            self.journal.step_started(job.id, step.id, step.type, attempt_no)

        def on_retry(n: int, delay: float, exc: BaseException) -> None:
            text = self._redact_error(error_text(exc))
            failed = (job.id, step.id, step.type, attempt_no)
            self.journal.step_retrying(failed, next_attempt=prior_attempts + n, delay_seconds=delay, error=text)

        self._active_ctx = ctx
        try:
            result = self.attempts.run(
                lambda: step_cls().run(model, ctx),
                ctx=ctx,
                policy=policy,
                timeout=step.timeout_seconds,
                on_attempt=on_attempt,
                on_retry=on_retry,
            )
        except BaseException as exc:
            if not isinstance(exc, Exception) and not isinstance(exc, Interrupted):
                raise
            error = exc
        finally:
            self._active_ctx = None  # ``_running`` stays until the step's end is recorded
        duration_ms = round((time.monotonic() - started) * 1000)
        output, stored_json = {}, None
        if result is not None:
            output = {**result.output, **({"reason": result.reason} if result.reason is not None else {})}
            try:
                stored_json = self.docs.encode(output, f"outputs of step {job.id}/{step.id}")
            except OutputError as exc:
                result, error = None, exc
        if error is not None or result is None:
            interrupted = isinstance(error, Interrupted) or (
                self.stop.is_set() and not getattr(error, "step_timeout", False)
            )
            status = Status.INTERRUPTED if interrupted else Status.FAILED
            text = self._interrupt_text() if interrupted else self._redact_error(error_text(error or RuntimeError()))
            self.journal.step_finished(
                job.id, step.id, step.type, status, attempts=attempt_no, duration_ms=duration_ms, error=text
            )
            self._running = None
            outcome.steps.append(StepOutcome(step.id, step.type, status, attempt_no, duration_ms, text))
            if status == Status.FAILED and error is not None and not isinstance(error, Interrupted | OutputError):
                # the step_end line above is the failure; its traceback is for debugging only
                log.debug(
                    "step %s/%s failed\n%s",
                    job.id,
                    step.id,
                    self.redactor.mask("".join(traceback.format_exception(error))),
                )
            outcome.error = text
            outcome.interrupted = interrupted
            outcome.permanent = not interrupted and error is not None and is_permanent(error)
            raise _JobFailed()
        status = Status.SKIPPED if result.status == Status.SKIPPED else Status.SUCCESS
        self.journal.step_finished(
            job.id, step.id, step.type, status, attempts=attempt_no, duration_ms=duration_ms, outputs_json=stored_json
        )
        self._running = None
        steps_view[step.id] = output
        outcome.steps.append(StepOutcome(step.id, step.type, status, attempt_no, duration_ms))
        self._promote(job, step, output, steps_view, outcome, store=True)
        return self._skip_reason(step, status, output)

    @staticmethod
    def _skip_reason(step: StepSpec, status: str, output: Mapping[str, Any]) -> str | None:
        if step.on_no_data == "skip_job" and status == Status.SKIPPED:
            reason = output.get("reason")
            return str(reason) if reason else "step requested skip_job"
        return None

    def _promote(
        self,
        job: JobSpec,
        step: StepSpec,
        output: Mapping[str, Any],
        steps_view: dict[str, Any],
        outcome: JobOutcome,
        *,
        store: bool,
    ) -> None:
        if not step.outputs:
            return
        data = self._step_ctx_data(job, steps_view, outcome)
        data["result"] = output
        document = f"promoted outputs of step {job.id}/{step.id}"
        try:
            promoted = self.docs.snapshot(render(dict(step.outputs), data, STEP_ROOTS), document)
            encoded = self.docs.encode(promoted, document) if store else None
        except (TemplateError, OutputError) as exc:
            outcome.error = self._redact_error(error_text(exc))
            outcome.permanent = True  # an outputs template or document is as wrong on the next attempt
            raise _JobFailed() from None
        outcome.outputs.update(promoted)
        if encoded is not None:
            self.journal.outputs_promoted(job.id, step.id, encoded)

    def _fail_step_without_running(
        self, job: JobSpec, step: StepSpec, attempts: int, exc: BaseException, outcome: JobOutcome
    ) -> None:
        text = self._redact_error(error_text(exc))
        self.journal.step_finished(
            job.id, step.id, step.type, Status.FAILED, attempts=attempts, duration_ms=0, error=text, attempt_row=False
        )
        outcome.steps.append(StepOutcome(step.id, step.type, Status.FAILED, attempts, 0, text))
        outcome.error = text
        outcome.permanent = True  # templating or input validation at step time: the same inputs fail again

    def _make_ctx(self, job: JobSpec, step: StepSpec, workspace: JobWorkspace) -> StepRunContext:
        return StepRunContext(
            flow_id=self.flow_id,
            run_id=self.run_id,
            job_id=job.id,
            step_id=step.id,
            step_type=step.type,
            env=self.env,
            workspace=workspace,
            registry=self.registry,
            connectors=self.connectors,
            redactor=self.redactor,
            cancelled=threading.Event(),
            tracker=self.tracker,
            emit=self.events.emit,
            publish=self.events.publish,
            strict_sandbox=self.opt.strict_sandbox,
            enterprise=self.opt.enterprise,
            hold_lock=self._hold_lock,
            progress_seconds=self.opt.progress_seconds,
        )

    def _fail_running(self, text: str) -> None:
        """Best effort after an internal error: the step and job in flight become FAILED."""
        error = self._redact_error(text)
        running = [outcome for outcome in self.results.values() if outcome.status == Status.RUNNING]
        for outcome in running:  # the summary tells even when the store cannot (a full volume)
            outcome.status, outcome.error = Status.FAILED, error
        with contextlib.suppress(Exception):
            if self._running is not None:
                self.journal.step_marked(self._running, Status.FAILED, error)
        with contextlib.suppress(Exception):
            self.journal.jobs_marked([outcome.job_id for outcome in running], Status.FAILED, error)

    # -- locks ---------------------------------------------------------------------------------------------------
    def _acquire(self, key: str, wait_seconds: float = 0.0) -> None:
        if self.locks is None:
            return
        self.locks.acquire(key, self.opt.locks_ttl_seconds, wait_seconds=wait_seconds, stop=self.stop.event)

    def _release(self, key: str) -> None:
        if self.locks is None:
            return
        try:
            self.locks.release(key)
        except Exception as exc:  # noqa: BLE001 (a failed release must not hide the run's result)
            log.warning("lock release failed for %s: %s", key, error_text(exc))

    @contextlib.contextmanager
    def _hold_lock(
        self, key: str, *, ttl_seconds: int, wait_seconds: float = 0.0, stop: threading.Event | None = None
    ) -> Iterator[None]:
        if self.locks is None:
            raise RuntimeError("locks need a state store")
        self.locks.acquire(key, ttl_seconds, wait_seconds=wait_seconds, stop=stop or self.stop.event)
        try:
            yield
        finally:
            self._release(key)

    def _check_lock_lost(self) -> bool:
        if self.locks is None or self.lock_lost is not None:
            return self.lock_lost is not None
        lost = self.locks.lost
        if lost:
            self.lock_lost = sorted(lost)[0]
            return True
        return False

    # -- stop ----------------------------------------------------------------------------------------------------
    def _on_stop(self) -> None:
        # Called from the signal handler: log, then stop the running step's children without blocking here.
        name = "SIGINT" if self.stop.signum == 2 else "SIGTERM"
        self.journal.cancel_requested(name)
        ctx = self._active_ctx
        if ctx is not None:
            ctx.cancelled.set()
        threading.Thread(
            target=self.tracker.terminate_all, args=(self.opt.grace_seconds,), name="stop-children", daemon=True
        ).start()
        threading.Thread(target=self._grace_watchdog, name="grace-watchdog", daemon=True).start()

    def _grace_watchdog(self) -> None:
        """If a step ignores the stop request past the grace period, record the interruption and leave."""
        # A little beyond the grace: a step in a worker thread is abandoned by its own loop at the grace itself.
        if self._finished.wait(self.opt.grace_seconds + 3.0):
            return
        running = self._running
        text = self._interrupt_text()
        code = ExitCode.SIGINT if self.stop.signum == 2 else ExitCode.SIGTERM
        try:
            if running is not None:
                self.journal.step_marked(running, Status.INTERRUPTED, text)
                self.journal.jobs_marked([running[0]], Status.INTERRUPTED, text)
                outcome = self.results.get(running[0])
                if outcome is not None:
                    outcome.status, outcome.error = Status.INTERRUPTED, text
            self.journal.run_finished(Status.INTERRUPTED, code, text)
            attempt = self.journal.attempt
            summary = self._summary(Status.INTERRUPTED, code, attempt)
            self.journal.run_summary(summary)
            if self.on_abandon is not None:
                self.on_abandon(RunOutcome(self.flow_id, self.run_id, Status.INTERRUPTED, code, attempt, summary))
        finally:
            self.tracker.kill_all()
            logging.shutdown()
            os._exit(int(code))

    def _interrupt_text(self) -> str:
        return f"Interrupted: received {'SIGINT' if self.stop.signum == 2 else 'SIGTERM'}"

    # -- results -------------------------------------------------------------------------------------------------
    def _final_status(self, internal: BaseException | None) -> tuple[str, int, str | None]:
        if self.stop.is_set():
            code = ExitCode.SIGINT if self.stop.signum == 2 else ExitCode.SIGTERM
            return Status.INTERRUPTED, code, self._interrupt_text()
        if internal is not None:
            return Status.FAILED, ExitCode.FAILED, self._redact_error(error_text(internal))
        if self.lock_lost is not None:
            return Status.FAILED, ExitCode.FAILED, f"Lock lost: {self.lock_lost}"
        outcomes = [o for o in self.results.values() if self.opt.flow_job is None or o.job_id == self.opt.flow_job]
        failed = [o for o in outcomes if o.status in (Status.FAILED, Status.INTERRUPTED)]
        if failed:
            permanent = all(o.status == Status.FAILED and o.permanent for o in failed)
            return Status.FAILED, ExitCode.PERMANENT if permanent else ExitCode.FAILED, failed[0].error
        blocked = [o for o in outcomes if o.status == Status.BLOCKED and o.blocked_by_failure]
        if blocked:
            return Status.FAILED, ExitCode.FAILED, blocked[0].error
        return Status.SUCCESS, ExitCode.OK, None

    def _summary(self, status: str, code: int, attempt: int) -> dict[str, Any]:
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
        return self._summary("SUCCESS", ExitCode.OK, attempt)

    # -- errors --------------------------------------------------------------------------------------------------
    def _redact_error(self, text: str | None) -> str | None:
        if text is None:
            return None
        masked = self.redactor.mask(text)
        raw = masked.encode("utf-8")
        if len(raw) > _MAX_ERROR_BYTES:
            masked = raw[:_MAX_ERROR_BYTES].decode("utf-8", "ignore")
        return masked
