"""One step of a job: restore it from its record, or render its inputs, run its attempts (with retries) and record
the result; then promote its outputs to the job and tell whether the job short-circuits."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aetherflow.api import Status, StepResult
from aetherflow.errors import Interrupted, OutputError, TemplateError, error_text, is_permanent
from aetherflow.runner.context import StepRunContext, validate_inputs
from aetherflow.runner.outcomes import JobOutcome, StepOutcome
from aetherflow.spec.resources import register_input_secrets
from aetherflow.state.store import FINAL, StepRecord, encode_json
from aetherflow.templating import STEP_ROOTS, render

if TYPE_CHECKING:
    from aetherflow.plan import JobSpec, StepSpec
    from aetherflow.runner.engine import Runner
    from aetherflow.workspace import JobWorkspace

log = logging.getLogger("aetherflow")


class JobFailed(Exception):
    """Ends a job's step loop with the job's error already recorded."""


@dataclass(slots=True)
class JobInFlight:
    """The job whose steps are running: its workspace, the ``steps`` root so far and its outcome."""

    job: JobSpec
    workspace: JobWorkspace
    outcome: JobOutcome
    steps_view: dict[str, Any]


@dataclass(slots=True)
class _Prepared:
    """A step ready to run: its class, validated inputs model, retry policy and attempts already made."""

    step_cls: Any
    model: Any
    policy: Any
    prior_attempts: int


class StepRunner:
    """Runs or restores the steps of a run's jobs (``runner`` holds the run's shared parts)."""

    def __init__(self, runner: Runner) -> None:
        self.r = runner

    def run_or_restore(self, fl: JobInFlight, step: StepSpec) -> str | None:
        """Run one step (or restore it); returns the skip reason when the job must short-circuit."""
        stored = self.r.stored_steps.get((fl.job.id, step.id))
        if stored is not None and stored.status in FINAL and stored.outputs is not None:
            return self._restore(fl, step, stored)
        prepared = self._prepare(fl, step, stored)
        ctx = self.make_ctx(fl.job, step, fl.workspace)
        started = time.monotonic()
        result, error, attempt_no = self._attempts(fl.job, step, ctx, prepared)
        duration_ms = round((time.monotonic() - started) * 1000)
        output: dict[str, Any] = {}
        stored_json = None
        if result is not None:
            output = {**result.output, **({"reason": result.reason} if result.reason is not None else {})}
            try:
                stored_json = self.r.docs.encode(output, f"outputs of step {fl.job.id}/{step.id}")
            except OutputError as exc:
                result, error = None, exc
        if error is not None or result is None:
            self._record_failure(fl, step, error, attempt_no, duration_ms)
            raise JobFailed()
        status = Status.SKIPPED if result.status == Status.SKIPPED else Status.SUCCESS
        self.r.journal.step_finished(
            fl.job.id,
            step.id,
            step.type,
            status,
            attempts=attempt_no,
            duration_ms=duration_ms,
            outputs_json=stored_json,
        )
        self.r.running = None
        fl.steps_view[step.id] = output
        fl.outcome.steps.append(StepOutcome(step.id, step.type, status, attempt_no, duration_ms))
        self.promote(fl, step, output, store=True)
        return skip_reason(step, status, output)

    def _restore(self, fl: JobInFlight, step: StepSpec, stored: StepRecord) -> str | None:
        outputs = stored.outputs or {}
        fl.steps_view[step.id] = outputs
        fl.outcome.steps.append(StepOutcome(step.id, step.type, stored.status, stored.attempts))
        self.r.journal.step_restored(fl.job.id, step.id, step.type, stored.status)
        self.promote(fl, step, outputs, store=False)
        return skip_reason(step, stored.status, outputs)

    def _prepare(self, fl: JobInFlight, step: StepSpec, stored: StepRecord | None) -> _Prepared:
        job = fl.job
        prior_attempts = stored.attempts if stored is not None else self.r.attempt_floor.get((job.id, step.id), 0)
        try:
            inputs = render(dict(step.inputs), self.ctx_data(fl), STEP_ROOTS)
            register_input_secrets(inputs, self.r.redactor)
            step_cls = self.r.registry.step_class(step.type)
            model = validate_inputs(step_cls.inputs_model, step.id, inputs)
        except (TemplateError, ValueError, KeyError, TypeError) as exc:
            self._fail_without_running(fl, step, prior_attempts, exc)
            raise JobFailed() from None
        policy = step.retry
        resource = inputs.get("resource") if isinstance(inputs, dict) else None
        if policy is None and isinstance(resource, str):
            with contextlib.suppress(Exception):
                policy = self.r.connectors.default_retry(resource)
        return _Prepared(step_cls, model, policy, prior_attempts)

    def _attempts(
        self, job: JobSpec, step: StepSpec, ctx: StepRunContext, p: _Prepared
    ) -> tuple[StepResult | None, BaseException | None, int]:
        """(result, error, last attempt number) of the step's attempts."""
        attempt_no = p.prior_attempts

        def on_attempt(n: int) -> None:
            nonlocal attempt_no
            attempt_no = p.prior_attempts + n
            self.r.running = (job.id, step.id, step.type, attempt_no)
            self.r.journal.step_started(job.id, step.id, step.type, attempt_no)

        def on_retry(n: int, delay: float, exc: BaseException) -> None:
            text = self.r.redact_error(error_text(exc))
            failed = (job.id, step.id, step.type, attempt_no)
            self.r.journal.step_retrying(failed, next_attempt=p.prior_attempts + n, delay_seconds=delay, error=text)

        self.r.active_ctx = ctx
        try:
            result = self.r.attempts.run(
                lambda: p.step_cls().run(p.model, ctx),
                ctx=ctx,
                policy=p.policy,
                timeout=step.timeout_seconds,
                on_attempt=on_attempt,
                on_retry=on_retry,
            )
        except BaseException as exc:
            if not isinstance(exc, Exception) and not isinstance(exc, Interrupted):
                raise
            return None, exc, attempt_no
        finally:
            self.r.active_ctx = None  # ``running`` stays until the step's end is recorded
        return result, None, attempt_no

    def _record_failure(
        self, fl: JobInFlight, step: StepSpec, error: BaseException | None, attempt_no: int, duration_ms: int
    ) -> None:
        job, outcome = fl.job, fl.outcome
        interrupted = isinstance(error, Interrupted) or (
            self.r.stop.is_set() and not getattr(error, "step_timeout", False)
        )
        status = Status.INTERRUPTED if interrupted else Status.FAILED
        text = self.r.interrupt_text() if interrupted else self.r.redact_error(error_text(error or RuntimeError()))
        self.r.journal.step_finished(
            job.id, step.id, step.type, status, attempts=attempt_no, duration_ms=duration_ms, error=text
        )
        self.r.running = None
        outcome.steps.append(StepOutcome(step.id, step.type, status, attempt_no, duration_ms, text))
        if status == Status.FAILED and error is not None and not isinstance(error, Interrupted | OutputError):
            # the step_end line above is the failure; its traceback is for debugging only
            log.debug(
                "step %s/%s failed\n%s",
                job.id,
                step.id,
                self.r.redactor.mask("".join(traceback.format_exception(error))),
            )
        outcome.error = text
        outcome.interrupted = interrupted
        outcome.permanent = not interrupted and error is not None and is_permanent(error)

    def promote(self, fl: JobInFlight, step: StepSpec, output: Mapping[str, Any], *, store: bool) -> None:
        """The step's ``outputs:`` rendered onto the job's outputs (recorded when the step ran in this attempt)."""
        if not step.outputs:
            return
        data = self.ctx_data(fl)
        data["result"] = output
        document = f"promoted outputs of step {fl.job.id}/{step.id}"
        try:
            promoted = self.r.docs.snapshot(render(dict(step.outputs), data, STEP_ROOTS), document)
            encoded = self.r.docs.encode(promoted, document) if store else None
        except (TemplateError, OutputError) as exc:
            fl.outcome.error = self.r.redact_error(error_text(exc))
            fl.outcome.permanent = True  # an outputs template or document is as wrong on the next attempt
            raise JobFailed() from None
        fl.outcome.outputs.update(promoted)
        if encoded is not None:
            self.r.journal.outputs_promoted(fl.job.id, step.id, encoded)

    def short_circuit(self, fl: JobInFlight, rest: tuple[StepSpec, ...], reason: str) -> None:
        """The steps after one that requested ``skip_job`` are recorded SKIPPED without running."""
        for step in rest:
            out = {"skipped": True, "reason": reason}
            fl.steps_view[step.id] = out
            self.r.journal.step_skipped(fl.job.id, step.id, step.type, encode_json(out))
            fl.outcome.steps.append(StepOutcome(step.id, step.type, Status.SKIPPED))

    def _fail_without_running(self, fl: JobInFlight, step: StepSpec, attempts: int, exc: BaseException) -> None:
        text = self.r.redact_error(error_text(exc))
        self.r.journal.step_finished(
            fl.job.id,
            step.id,
            step.type,
            Status.FAILED,
            attempts=attempts,
            duration_ms=0,
            error=text,
            attempt_row=False,
        )
        fl.outcome.steps.append(StepOutcome(step.id, step.type, Status.FAILED, attempts, 0, text))
        fl.outcome.error = text
        fl.outcome.permanent = True  # templating or input validation at step time: the same inputs fail again

    def ctx_data(self, fl: JobInFlight) -> dict[str, Any]:
        """The roots a step's templates see."""
        r = self.r
        return {
            "env": r.env,
            "steps": fl.steps_view,
            "job": {"id": fl.job.id, "outputs": fl.outcome.outputs},
            "jobs": r.jobs_view(),
            "run": r.run_values,
            "run_id": r.run_id,
            "flow_id": r.flow_id,
            "result": {},
        }

    def make_ctx(self, job: JobSpec, step: StepSpec, workspace: JobWorkspace) -> StepRunContext:
        r = self.r
        return StepRunContext(
            flow_id=r.flow_id,
            run_id=r.run_id,
            job_id=job.id,
            step_id=step.id,
            step_type=step.type,
            env=r.env,
            workspace=workspace,
            registry=r.registry,
            connectors=r.connectors,
            redactor=r.redactor,
            cancelled=threading.Event(),
            tracker=r.tracker,
            emit=r.events.emit,
            publish=r.events.publish,
            strict_sandbox=r.opt.strict_sandbox,
            enterprise=r.opt.enterprise,
            hold_lock=r.guard.hold,
            progress_seconds=r.opt.progress_seconds,
        )


def skip_reason(step: StepSpec, status: str, output: Mapping[str, Any]) -> str | None:
    """The job's skip reason when this step asks to skip the rest of its job."""
    if step.on_no_data == "skip_job" and status == Status.SKIPPED:
        reason = output.get("reason")
        return str(reason) if reason else "step requested skip_job"
    return None
