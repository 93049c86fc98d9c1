"""``external.process``: run an OS process with a timeout, retries, log routing, output checks and idempotency.

The parts live next to this module: the inputs (``process_inputs``), what is resolved before the first attempt
(``process_plan``), one attempt with its process group and timeout (``process_attempt``), the output pipes
(``process_output``) and the checks and publication afterwards (``process_publish``). This module is the step
itself, registered as ``aetherflow.steps.process:ExternalProcess``.

The child's output never bypasses the runner unless the flow asks for it: in the default ``inherit`` mode (and in
``capture``) the runner reads each line and logs it masked; only ``passthrough`` gives the child the runner's own
streams, unredacted.
"""

from __future__ import annotations

from typing import Any

from aetherflow.api import Interrupted, InvalidResult, Step, StepContext, StepResult
from aetherflow.steps.process_attempt import Outcome, run_attempt
from aetherflow.steps.process_inputs import (
    LOG_MODES,
    STRATEGIES,
    ExternalProcessInputs,
    IdempotencyInputs,
    LogInputs,
    ProcessRetryInputs,
    SuccessInputs,
    build_argv,
)
from aetherflow.steps.process_plan import Plan, make_plan
from aetherflow.steps.process_publish import output_problem, publish

__all__ = [
    "LOG_MODES",
    "STRATEGIES",
    "ExternalProcess",
    "ExternalProcessInputs",
    "IdempotencyInputs",
    "LogInputs",
    "ProcessRetryInputs",
    "SuccessInputs",
    "build_argv",
]


class ExternalProcess(Step[ExternalProcessInputs]):
    """Run an OS process: timeout, retries, log routing, output checks and idempotency."""

    inputs_model = ExternalProcessInputs
    result_keys = frozenset({"exit_code", "attempts", "stdout", "stderr", "log_file", "skipped", "marker", "reason"})

    def run(self, inputs: ExternalProcessInputs, ctx: StepContext) -> StepResult:
        plan = make_plan(inputs, ctx)
        retry = inputs.retry
        for attempt in range(1, retry.max_attempts + 1):
            if attempt > 1 and ctx.cancelled.wait(retry.delay_before(attempt)):
                raise Interrupted(f"stop requested before external.process attempt {attempt}")
            if plan.marker is not None and plan.marker.exists() and output_problem(plan) is None:
                return StepResult.skipped("marker_present", skipped=True, marker=str(plan.marker))
            if ctx.cancelled.is_set():
                raise Interrupted(f"stop requested before external.process attempt {attempt}")
            outcome = run_attempt(plan, attempt, ctx)
            last = attempt == retry.max_attempts
            if outcome.returncode is None:
                ctx.emit("external_process_timeout", level="WARNING", attempt=attempt)
                if retry.retry_on_timeout and not last:
                    continue
                raise _timeout_error(plan, outcome)
            rc = outcome.returncode
            if rc not in inputs.success.exit_codes:
                ctx.emit("external_process_exit", level="WARNING", attempt=attempt, exit_code=rc)
                if rc in retry.retry_on_exit_codes and not last:
                    continue
                raise _exit_failure(plan, rc, outcome.stderr)
            return self._finish(plan, inputs, ctx, attempt, outcome)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    @staticmethod
    def _finish(
        plan: Plan, inputs: ExternalProcessInputs, ctx: StepContext, attempt: int, outcome: Outcome
    ) -> StepResult:
        if plan.temp_dir is not None and plan.final_dir is not None:
            publish(plan.temp_dir, plan.final_dir, atomic_rename=inputs.idempotency.atomic_rename)
        problem = output_problem(plan)
        if problem is not None:
            # The same outputs would be checked again: permanent.
            raise InvalidResult(f"external.process outputs invalid: {problem}")
        ctx.emit("external_process_success", attempt=attempt, exit_code=outcome.returncode)
        output: dict[str, Any] = {"exit_code": outcome.returncode, "attempts": attempt}
        if outcome.stdout is not None:
            output["stdout"] = outcome.stdout.decode("utf-8", errors="replace")
        if outcome.stderr is not None:
            output["stderr"] = outcome.stderr.decode("utf-8", errors="replace")
        if plan.log_file is not None:
            output["log_file"] = str(plan.log_file)
        output.update(inputs.outputs)
        return StepResult.success(output)


def _timeout_error(plan: Plan, outcome: Outcome) -> TimeoutError:
    message = f"external.process timed out after {plan.timeout}s"
    if outcome.exited_with is not None:
        message += (
            f": the process exited with code {outcome.exited_with}, but a background process it started kept its "
            "output open; its process group was stopped"
        )
    return TimeoutError(message)


def _exit_failure(plan: Plan, rc: int, stderr: bytes | None) -> RuntimeError:
    message = f"external.process failed with exit code {rc}\n{plan.shown_argv}"
    if stderr is not None:
        message += "\n" + stderr.decode("utf-8", errors="replace")
    # The spec records this as a plain RuntimeError; the runner's retry_on.exit_codes reads the child's code.
    error = RuntimeError(message)
    error.exit_code = rc  # type: ignore[attr-defined]
    error.child_exit_code = rc  # type: ignore[attr-defined]
    return error
