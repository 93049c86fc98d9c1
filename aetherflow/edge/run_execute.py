"""The run itself once its inputs are valid and its store is open: locks, options, the runner, metrics, retention.

The result is reported once (Pushgateway, termination message, Kubernetes event), also when a step that ignores a
stop request is abandoned past the grace period.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetherflow.edge.podinfo import RunIdMoved
from aetherflow.edge.run_exit import report_invalid, termination_for, write_termination
from aetherflow.edge.run_store import uid_recheck
from aetherflow.errors import InputError
from aetherflow.settings import CONTAINER_WORK_ROOT

if TYPE_CHECKING:
    from aetherflow.edge.inputs import RunInputs
    from aetherflow.events import EventBus
    from aetherflow.plan import Plan
    from aetherflow.runner.engine import RunOptions, RunOutcome
    from aetherflow.settings import Settings
    from aetherflow.state.locks import LockManager
    from aetherflow.state.store import StateStore


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything a run needs once its inputs are valid and its store is open."""

    plan: Plan
    settings: Settings
    inputs: RunInputs
    resources: Any
    events: EventBus
    store: StateStore
    container: bool


def execute(prepared: Prepared, run_id: str, stop: Any, tracker: Any) -> int:
    """Run the flow under ``run_id`` and return its exit code (``RunIdMoved``: start again under the new id)."""
    from aetherflow.runner.engine import Runner

    plan, settings, inputs, events = prepared.plan, prepared.settings, prepared.inputs, prepared.events
    observers = list(events.observers)
    pusher = _metrics(settings, plan, events, run_id)
    _metrics_hook(settings, events, plan.meta.flow_id)
    locks = _lock_manager(prepared, run_id)
    options = _run_options(prepared, run_id)
    runner = Runner(
        plan,
        store=prepared.store,
        locks=locks,
        registry=inputs.registry,
        resources=prepared.resources,
        env=inputs.env,
        redactor=inputs.redactor,
        events=events,
        options=options,
        stop=stop,
        tracker=tracker,
    )
    report = _reporter(settings, inputs, pusher)
    # A step that ignores a stop request past the grace period: the runner records it, then reports through here.
    runner.on_abandon = report
    try:
        outcome = runner.run()
    except RunIdMoved:
        events.observers[:] = observers  # the run starts again under its own id, observing it once
        raise
    finally:
        locks.close()
    _prune(prepared, outcome)
    report(outcome)
    return int(outcome.exit_code)


def _metrics(settings: Settings, plan: Plan, events: EventBus, run_id: str) -> Any:
    if not settings.pushgateway_url:
        return None
    from aetherflow.edge.pushgateway import RunPusher

    pusher = RunPusher.create(settings, plan, run_id)
    events.observers.append(pusher)
    return pusher


def _metrics_hook(settings: Settings, events: EventBus, flow_id: str) -> None:
    if not settings.metrics_module:
        return
    from aetherflow.observability.hook import MetricsHook

    try:
        events.observers.append(MetricsHook.load(settings.metrics_module))
    except InputError as exc:
        report_invalid(str(exc), flow_id)


def _lock_manager(prepared: Prepared, run_id: str) -> LockManager:
    from aetherflow.state.locks import LockManager

    settings, store, events, flow_id = prepared.settings, prepared.store, prepared.events, prepared.plan.meta.flow_id
    return LockManager(
        store.location,
        after_run_lock=uid_recheck(settings, store, flow_id, run_id),
        run_id=run_id,
        flow_id=flow_id,
        pod_name=settings.pod_name,
        busy_timeout_ms=settings.state_busy_timeout_ms,
        on_event=lambda event, **fields: events.emit(
            event, level="ERROR" if event == "lock_lost" else ("WARNING" if "takeover" in event else "INFO"), **fields
        ),
    )


def _run_options(prepared: Prepared, run_id: str) -> RunOptions:
    from aetherflow.edge.rerun import rerun_jobs
    from aetherflow.edge.schedule import schedule_of
    from aetherflow.runner.engine import RunOptions

    plan, settings, bundle = prepared.plan, prepared.settings, prepared.inputs.bundle
    work_root = settings.work_root or (CONTAINER_WORK_ROOT if prepared.container else plan.meta.work_root)
    return RunOptions(
        run_id=run_id,
        work_root=Path(work_root),
        locks_scope=settings.locks_scope or plan.meta.locks_scope,
        locks_ttl_seconds=plan.meta.locks_ttl_seconds,
        flow_job=settings.flow_job,
        grace_seconds=settings.grace_seconds,
        strict_sandbox=settings.strict_sandbox,
        enterprise=settings.enterprise,
        max_output_bytes=settings.state_max_output_bytes,
        connector_cache_default=settings.connector_cache_default,
        connector_cache_disabled=settings.connector_cache_disabled,
        job_name=settings.job_name,
        job_uid=settings.job_uid,
        pod_name=settings.pod_name,
        namespace=settings.namespace,
        bundle_fingerprint=bundle.fingerprint if bundle is not None else None,
        overlap_exit_code=settings.overlap_exit_code,
        run_takeover_seconds=settings.run_takeover_seconds,
        rerun=rerun_jobs(settings.rerun, flow_job=settings.flow_job, job_ids=plan.declared_job_ids),
        scheduled_at=schedule_of(settings.schedule_name, settings.job_name, settings.scheduled_at).slot,
        progress_seconds=settings.progress_seconds,
    )


def _reporter(settings: Settings, inputs: RunInputs, pusher: Any) -> Callable[[RunOutcome], None]:
    def report(outcome: RunOutcome) -> None:
        if pusher is not None:
            pusher.finish(outcome)
        termination = termination_for(outcome, inputs.redactor)
        write_termination(settings.termination_log, termination)
        if settings.kubernetes_events:
            from aetherflow.edge.k8s_events import post_job_event

            post_job_event(settings, termination)

    return report


def _prune(prepared: Prepared, outcome: RunOutcome) -> None:
    """Automatic retention of this flow's runs, after a run that was neither refused as an overlap nor stopped while
    waiting for another invocation of its run id."""
    settings = prepared.settings
    if settings.state_retention_days is None or outcome.overlap is not None or outcome.interrupted_waiting is not None:
        return
    from aetherflow.errors import StateError
    from aetherflow.state.retention import prune_state

    try:  # this flow's runs only: other flows sharing the store keep their own retention
        prune_state(prepared.store, settings.state_retention_days, flow_id=prepared.plan.meta.flow_id)
    except StateError as exc:  # the run is recorded: a failed clean-up must not change its result
        prepared.events.emit("state_prune_failed", level="WARNING", error=prepared.inputs.redactor.mask(str(exc)))
