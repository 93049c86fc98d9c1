"""One job of a run: restore it, or gate it on its dependencies and ``when``, take its lock, run its steps and
record how it ended (then sweep the workspaces no job needs any more)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aetherflow.api import Status
from aetherflow.conditions import WhenEvaluationError
from aetherflow.errors import LockBusy, LockLost, OutputError, error_text
from aetherflow.runner.outcomes import JobOutcome, StepOutcome
from aetherflow.runner.rerun import DependencyWorkspaceGone, check_dependencies
from aetherflow.runner.step_runner import JobFailed, JobInFlight, StepRunner
from aetherflow.runner.triggers import Dependency, gate
from aetherflow.runner.workspaces import recorded_path
from aetherflow.state.store import FINAL, JobRecord

if TYPE_CHECKING:
    from aetherflow.plan import JobSpec
    from aetherflow.runner.engine import Runner


class JobRunner:
    """Runs, gates or restores the jobs of a run (``runner`` holds the run's shared parts)."""

    def __init__(self, runner: Runner) -> None:
        self.r = runner
        self.steps = StepRunner(runner)

    def run_jobs(self) -> None:
        """Every job of the plan in order (only ``--flow-job`` when given), until a stop or a lost lock."""
        r = self.r
        target = r.opt.flow_job
        for job in r.plan.jobs:
            if target is not None and job.id != target:
                continue
            if r.stop.is_set() or r.guard.check_lost():
                break
            stored = r.stored_jobs.get(job.id)
            if stored is not None and stored.status in FINAL:
                self._restore_job(job, stored)
                continue
            self._evaluate_job(job)
        if r.workspaces.policy != "never":  # whatever no job can need any more, by the run's records
            r.workspaces.sweep(r.store.load_jobs(r.flow_id, r.run_id))

    def _restore_job(self, job: JobSpec, rec: JobRecord) -> None:
        outcome = JobOutcome(job.id, rec.status, dict(rec.outputs), 0, rec.skip_reason, rec.skip_trigger)
        for step in job.steps:
            srec = self.r.stored_steps.get((job.id, step.id))
            if srec is not None:
                outcome.steps.append(StepOutcome(step.id, step.type, srec.status, srec.attempts))
        self.r.results[job.id] = outcome
        self.r.journal.job_restored(job.id, rec.status, rec.skip_reason)

    def _dependency_status(self, dep: str) -> JobOutcome | None:
        r = self.r
        if dep in r.results:
            return r.results[dep]
        rec = r.stored_jobs.get(dep)
        if rec is None and r.opt.flow_job is not None:
            rec = r.store.load_jobs(r.flow_id, r.run_id).get(dep)
        if rec is None:
            return None
        outcome = JobOutcome(dep, rec.status, dict(rec.outputs), 0, rec.skip_reason, rec.skip_trigger, rec.error)
        if rec.status == Status.BLOCKED:
            # Only a record is left: blocked behind skipped work alone is benign, anything else counts as a failure.
            parts = (rec.reason or "").removeprefix("blocked by: ").split(", ")
            outcome.blocked_by_failure = not all(p.endswith("(SKIPPED)") for p in parts)
        if r.opt.flow_job is not None and rec.status in FINAL:
            r.results[dep] = outcome  # restored so that `when` and templates see jobs.<dep>
        return outcome

    def _dependency(self, dep: str) -> Dependency:
        outcome = self._dependency_status(dep)
        if outcome is None:
            return Dependency(dep, None)
        return Dependency(dep, str(outcome.status), outcome.blocked_by_failure)

    def _evaluate_job(self, job: JobSpec) -> None:
        r = self.r
        decision = gate(job.trigger, [self._dependency(dep) for dep in job.depends_on])
        if decision.status == Status.BLOCKED and decision.reason is not None:
            r.journal.job_blocked(job.id, decision.reason)
            r.results[job.id] = JobOutcome(
                job.id, Status.BLOCKED, error=decision.reason, blocked_by_failure=decision.blocked_by_failure
            )
            return
        if not decision.run:  # skipped by its trigger rule: `when` is not read
            self._end_without_steps(
                job, Status.SKIPPED, skip_reason=decision.reason, skip_trigger=decision.skip_trigger
            )
            return
        if r.opt.flow_job is not None:
            for needed in r.workspaces.needs.get(job.id, ()):
                self._dependency_status(needed)  # a finished job its `when` or templates read joins the view
        if not self._when_allows(job) or not self._dependencies_kept(job):
            return
        self._run_locked(job)

    def _when_allows(self, job: JobSpec) -> bool:
        """False when the job's ``when`` ended it (SKIPPED, or FAILED when it cannot be evaluated)."""
        if job.when.always:
            return True
        try:
            run_it = job.when.evaluate(self.r.jobs_view(), self.r.run_values)
        except WhenEvaluationError as exc:
            expr = (job.when_text or "").strip()
            error = f"ValueError: Invalid job.when for job_id={job.id}: {exc.detail} (when: {expr})"
            self._end_without_steps(job, Status.FAILED, error=error, permanent=True)
            return False
        if not run_it:
            self._end_without_steps(job, Status.SKIPPED, skip_reason="condition=false", skip_trigger="when")
        return bool(run_it)

    def _dependencies_kept(self, job: JobSpec) -> bool:
        """One job of the run never runs another: a dependency whose files are gone fails it."""
        r = self.r
        if r.opt.flow_job is None:
            return True
        try:
            check_dependencies(r.workspaces, r.store.load_jobs(r.flow_id, r.run_id), job.id)
        except DependencyWorkspaceGone as gone:
            self._end_without_steps(job, Status.FAILED, error=error_text(gone), permanent=True)
            return False
        return True

    def _run_locked(self, job: JobSpec) -> None:
        r = self.r
        job_lock = f"job:{r.flow_id}:{job.id}" if r.opt.locks_scope == "job" else None
        if job_lock is not None:
            try:
                r.guard.take(job_lock)
            except LockBusy as busy:
                self._end_without_steps(job, Status.FAILED, error=error_text(busy))
                return
        try:
            self._run_job(job)
        finally:
            if job_lock is not None:
                r.guard.let_go(job_lock)

    def _end_without_steps(
        self,
        job: JobSpec,
        status: str,
        *,
        error: str | None = None,
        skip_reason: str | None = None,
        skip_trigger: str | None = None,
        permanent: bool = False,
    ) -> None:
        error = self.r.redact_error(error)
        self.r.results[job.id] = JobOutcome(
            job.id, status, {}, 0, skip_reason, skip_trigger, error, permanent=permanent
        )
        self.r.journal.job_finished(job.id, status, error=error, skip_reason=skip_reason, skip_trigger=skip_trigger)

    def _run_job(self, job: JobSpec) -> None:
        r = self.r
        started = time.monotonic()
        outcome = JobOutcome(job.id, Status.RUNNING)
        r.results[job.id] = outcome
        workspace = r.workspaces.start(job.id)
        r.journal.job_started(job.id, recorded_path(workspace))
        final = self._run_steps(JobInFlight(job, workspace, outcome, {}))
        try:
            outputs_json = r.docs.encode(outcome.outputs, f"outputs of job {job.id}")
        except OutputError as exc:
            outputs_json = "{}"  # a job that cannot keep its outputs fails: nothing is restored without them
            if final in FINAL:
                final, outcome.error = Status.FAILED, r.redact_error(error_text(exc))
                outcome.permanent = True
        outcome.status = final
        outcome.duration_ms = round((time.monotonic() - started) * 1000)
        r.journal.job_finished(
            job.id,
            final,
            duration_ms=outcome.duration_ms,
            skip_reason=outcome.skip_reason,
            skip_trigger=outcome.skip_trigger,
            error=outcome.error,
            outputs_json=outputs_json,
            workspace_path=recorded_path(workspace),
        )
        r.workspaces.sweep_after(job.id, final, lambda: r.store.load_jobs(r.flow_id, r.run_id))

    def _run_steps(self, fl: JobInFlight) -> str:
        """The job's status once its steps ran: SUCCESS, SKIPPED (short-circuit), FAILED or INTERRUPTED."""
        r, job, outcome = self.r, fl.job, fl.outcome
        try:
            for index, step in enumerate(job.steps):
                if r.stop.is_set() or r.guard.check_lost():
                    raise JobFailed()
                short = self.steps.run_or_restore(fl, step)
                if short is not None:
                    outcome.skip_reason, outcome.skip_trigger = short, "step"
                    self.steps.short_circuit(fl, job.steps[index + 1 :], short)
                    return Status.SKIPPED
        except JobFailed:
            if outcome.error is None:
                if r.stop.is_set():
                    outcome.error = r.interrupt_text()
                elif r.guard.lost is not None:
                    outcome.error = error_text(LockLost(r.guard.lost))
            return Status.INTERRUPTED if outcome.interrupted or r.stop.is_set() else Status.FAILED
        return Status.SUCCESS
