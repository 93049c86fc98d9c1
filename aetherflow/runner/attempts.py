"""Runner-level retry and timeout of one step (docs/concepts/statuses.md), and waiting for it under a stop request.

The only place step retries happen: tenacity drives the attempts. A step without ``timeout_seconds`` runs in the
runner's own thread (a thread per step would cost more than the rest of the step's bookkeeping); a step with one runs
in a worker thread so the runner can enforce the limit while the step's code keeps running. Either way a stop request
sets the step's ``cancelled`` token (see ``runner.grace.on_stop``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from aetherflow.api import RetryPolicy, StepResult
from aetherflow.errors import ConnectorError, Interrupted, LockLost, Permanent, StepFailed
from aetherflow.runner.context import ProcessTracker, StepRunContext

#: how long the runner waits for a timed-out step to return after stopping its children
TIMEOUT_RETURN_WAIT_SECONDS = 15.0
_POLL_SECONDS = 0.1


def _timeout_error(message: str, *, abandoned: bool) -> TimeoutError:
    error = TimeoutError(message)
    error.step_timeout = True  # type: ignore[attr-defined]
    error.abandoned = abandoned  # type: ignore[attr-defined]
    return error


def is_retryable(exc: BaseException, policy: RetryPolicy) -> bool:
    """Whether a failed attempt may be retried under ``policy`` (permanence rules of docs/concepts/statuses.md)."""
    if isinstance(exc, Interrupted | LockLost | Permanent) or getattr(exc, "abandoned", False):
        return False
    if policy.retry_on_exceptions is None and policy.retry_on_exit_codes is None:
        transient = bool(getattr(exc, "transient", False))
        if policy.transient_only:
            return transient
        return not isinstance(exc, StepFailed) or transient
    if policy.retry_on_exceptions and {c.__name__ for c in type(exc).__mro__} & set(policy.retry_on_exceptions):
        return True
    code = exc.child_exit_code if isinstance(exc, StepFailed) else getattr(exc, "exit_code", None)
    return bool(policy.retry_on_exit_codes) and code in (policy.retry_on_exit_codes or ())


class AttemptRunner:
    """Runs a step's attempts with retry, timeout and stop handling."""

    def __init__(self, stop: Any, tracker: ProcessTracker, emit: Callable[..., None], grace_seconds: float) -> None:
        self.stop = stop
        self.tracker = tracker
        self.emit = emit
        self.grace_seconds = grace_seconds

    def run(
        self,
        fn: Callable[[], StepResult],
        *,
        ctx: StepRunContext,
        policy: RetryPolicy | None,
        timeout: float | None,
        on_attempt: Callable[[int], None],
        on_retry: Callable[[int, float, BaseException], None],
    ) -> StepResult:
        """Run ``fn`` until it succeeds, fails for good, or a stop interrupts it."""
        made = 0

        def counted(n: int) -> None:
            nonlocal made
            made = n
            on_attempt(n)

        try:
            return self._run(fn, ctx=ctx, policy=policy, timeout=timeout, on_attempt=counted, on_retry=on_retry)
        except StepFailed as exc:
            if exc.transient and exc.after_retries:
                raise ConnectorError(exc.after_retries.format(attempts=made), transient=True) from exc
            raise

    def _run(
        self,
        fn: Callable[[], StepResult],
        *,
        ctx: StepRunContext,
        policy: RetryPolicy | None,
        timeout: float | None,
        on_attempt: Callable[[int], None],
        on_retry: Callable[[int, float, BaseException], None],
    ) -> StepResult:
        if policy is None or policy.max_attempts <= 1:
            if self.stop.is_set():
                raise Interrupted()
            on_attempt(1)
            return self._attempt(fn, ctx, timeout)
        from tenacity import Retrying, retry_if_exception, stop_after_attempt

        def before_sleep(state: Any) -> None:
            exc = state.outcome.exception()
            on_retry(state.attempt_number + 1, state.upcoming_sleep, exc)

        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=lambda state: policy.delay_before(state.attempt_number + 1),
            retry=retry_if_exception(lambda exc: is_retryable(exc, policy)),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        result: StepResult | None = None
        for attempt in retrying:
            with attempt:
                if self.stop.is_set():
                    raise Interrupted()
                ctx.cancelled.clear()
                on_attempt(attempt.retry_state.attempt_number)
                result = self._attempt(fn, ctx, timeout)
        assert result is not None  # tenacity either returned a result or re-raised
        return result

    def _sleep(self, seconds: float) -> None:
        # A pending retry delay ends early on a stop request; the step then becomes INTERRUPTED.
        if self.stop.event.wait(seconds):
            raise Interrupted()

    def _attempt(self, fn: Callable[[], StepResult], ctx: StepRunContext, timeout: float | None) -> StepResult:
        if timeout is None:
            return _checked(fn(), ctx)
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["result"] = fn()
            except BaseException as exc:  # noqa: BLE001 (handed to the runner thread as is)
                box["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=work, name=f"step-{ctx.job_id}-{ctx.step_id}", daemon=True)
        started = time.monotonic()
        thread.start()
        timed_out_at: float | None = None
        while not done.wait(_POLL_SECONDS):
            now = time.monotonic()
            if self.stop.is_set():
                ctx.cancelled.set()
                requested = self.stop.requested_at or now
                if now - requested >= self.grace_seconds:
                    raise Interrupted("step did not return within the grace period")
            if timeout is not None and timed_out_at is None and now - started >= timeout:
                ctx.cancelled.set()
                self.tracker.terminate_all()
                # The bounded wait for the step to return starts once its children were stopped (that takes up
                # to their grace), so a step that returns right after is not taken for one that never stops.
                timed_out_at = time.monotonic()
            if timed_out_at is not None and time.monotonic() - timed_out_at >= TIMEOUT_RETURN_WAIT_SECONDS:
                raise _timeout_error(f"step timed out after {float(timeout or 0)}s and did not stop", abandoned=True)
        if timed_out_at is not None:
            raise _timeout_error(f"step timed out after {float(timeout or 0)}s", abandoned=False)
        if "error" in box:
            raise box["error"]
        return _checked(box["result"], ctx)


def _checked(result: Any, ctx: StepRunContext) -> StepResult:
    if not isinstance(result, StepResult):
        raise TypeError(f"step {ctx.step_type} returned {type(result).__name__}, not a StepResult")
    return result
