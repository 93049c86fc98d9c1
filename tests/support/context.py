"""A real step context for step-level tests: a job workspace under tmp_path, real connectors, no runner."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aetherflow.events import Event
from aetherflow.progress import DEFAULT_PROGRESS_SECONDS
from aetherflow.redaction import Redactor
from aetherflow.registry import Registry
from aetherflow.runner.context import ConnectorPool, ProcessTracker, StepRunContext
from aetherflow.spec.resources import ResolvedResource
from aetherflow.workspace import JobWorkspace


class RecordedEvents(list[tuple[str, dict[str, Any]]]):
    """Events a step emitted, in order: (name, fields)."""

    def named(self, name: str) -> list[dict[str, Any]]:
        """The fields of every event called ``name``."""
        return [fields for event, fields in self if event == name]


def make_step_context(
    tmp_path: Path,
    *,
    step_type: str = "test_step",
    step_id: str = "s1",
    job_id: str = "j1",
    resources: Mapping[str, ResolvedResource] | None = None,
    env: Mapping[str, str] | None = None,
    enterprise: bool = False,
    strict_sandbox: bool = True,
    redactor: Redactor | None = None,
    hold_lock: Callable[..., contextlib.AbstractContextManager[None]] | None = None,
    registry: Registry | None = None,
    progress_seconds: float = DEFAULT_PROGRESS_SECONDS,
) -> tuple[StepRunContext, RecordedEvents, ConnectorPool]:
    """A context whose workspace lives in ``tmp_path/work``; close the pool with ``pool.close_all()``.

    ``redactor`` holds the secrets the context masks; ``hold_lock`` is the lock holder ``ctx.hold_lock`` delegates to
    (called as ``hold_lock(key, ttl_seconds=, wait_seconds=, stop=)``), absent by default. ``registry`` gives the
    step and connector classes (default: the built-in ones). ``progress_seconds`` is the interval of
    ``step_progress`` events (``AETHERFLOW_PROGRESS_SECONDS``).
    """
    events = RecordedEvents()

    def emit(event: str, *, level: str = "INFO", **fields: Any) -> None:
        events.append((event, {"level": level, **fields}))

    def publish(event: Event) -> None:
        events.append((event.name, {"level": event.level, **event.fields()}))

    redactor = redactor if redactor is not None else Redactor()
    registry = registry if registry is not None else Registry.builtin()
    snapshot = dict(env or {})
    pool = ConnectorPool(registry, dict(resources or {}), env=snapshot, emit=emit, redactor=redactor)
    workspace = JobWorkspace.for_job(tmp_path / "work", "flow", job_id, "run1")
    workspace.create()
    ctx = StepRunContext(
        flow_id="flow",
        run_id="run1",
        job_id=job_id,
        step_id=step_id,
        step_type=step_type,
        env=snapshot,
        workspace=workspace,
        registry=registry,
        connectors=pool,
        redactor=redactor,
        cancelled=threading.Event(),
        tracker=ProcessTracker(),
        emit=emit,
        strict_sandbox=strict_sandbox,
        enterprise=enterprise,
        hold_lock=hold_lock,
        progress_seconds=progress_seconds,
        publish=publish,
    )
    return ctx, events, pool


def run_step(ctx: StepRunContext, step_type: str, inputs: Mapping[str, Any]) -> Any:
    """Validate ``inputs`` with the step's model and run it, as the runner would (without retry/state)."""
    return ctx.run_step(step_type, ctx.step_id, inputs)
