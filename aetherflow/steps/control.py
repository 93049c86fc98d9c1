"""Control steps: ``check_items`` (a data gate) and ``with_lock`` (run another step under a state-store lock)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from aetherflow.api import Inputs, InvalidValue, Step, StepContext, StepResult

__all__ = ["CheckItems", "CheckItemsInputs", "InnerStep", "WithLock", "WithLockInputs"]

_ITEMS_TYPE_MESSAGE = "check_items expects 'items' to be a list or a comma-separated string"


class CheckItemsInputs(Inputs):
    """Inputs of ``check_items``; the type of ``items`` is checked in ``run`` for the spec's own message."""

    items: Any
    min_count: int = 1


class CheckItems(Step[CheckItemsInputs]):
    """SUCCESS with ``{has_data: true, count}`` when there are at least ``min_count`` items, else SKIPPED."""

    inputs_model = CheckItemsInputs
    result_keys = frozenset({"has_data", "count", "reason"})

    def run(self, inputs: CheckItemsInputs, ctx: StepContext) -> StepResult:
        count = len(_items(inputs.items))
        if count < inputs.min_count:
            return StepResult.skipped(f"count({count}) < min_count({inputs.min_count})", has_data=False, count=count)
        return StepResult.success(has_data=True, count=count)


def _items(value: object) -> list[Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    # A bad input cannot get better on a second attempt: the runner must not retry it.
    raise InvalidValue(_ITEMS_TYPE_MESSAGE)


class InnerStep(Inputs):
    """The step ``with_lock`` runs: its type, id (default ``<outer id>_inner``) and already-rendered inputs."""

    type: str = Field(min_length=1)
    id: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("inputs", mode="before")
    @classmethod
    def _null_inputs(cls, value: object) -> object:
        return {} if value is None else value


class WithLockInputs(Inputs):
    """Inputs of ``with_lock``."""

    lock_key: str = Field(min_length=1)
    step: InnerStep
    ttl_seconds: int = Field(600, gt=0)
    wait_seconds: float = Field(0.0, ge=0)


class WithLock(Step[WithLockInputs]):
    """Hold ``lock_key`` (owned by this invocation of the run, nesting within it) while the inner step runs; its
    result is this step's. Busy past ``wait_seconds`` raises LockBusy, which fails the job (exit 1)."""

    inputs_model = WithLockInputs

    def run(self, inputs: WithLockInputs, ctx: StepContext) -> StepResult:
        inner = inputs.step
        inner_id = inner.id or f"{ctx.step_id}_inner"
        with ctx.hold_lock(inputs.lock_key, ttl_seconds=inputs.ttl_seconds, wait_seconds=inputs.wait_seconds):
            return ctx.run_step(inner.type, inner_id, inner.inputs)
