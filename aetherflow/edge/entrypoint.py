"""The process main of ``aetherflow run`` and ``aetherflow container``.

signals -> settings -> logging -> env snapshot -> load & plan -> resources -> store -> run id -> locks -> run ->
push -> termination message -> exit code. Each stage is its own function (the input phase in ``run_prepare``, the
store and run id in ``run_store``, the run in ``run_execute``, every exit in ``run_exit``); input errors (exit 2)
never create state.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aetherflow.edge.podinfo import RunIdMoved
from aetherflow.edge.run_exit import Invalid, checked, fault, report_invalid, termination_invalid, write_termination
from aetherflow.errors import ExitCode, InputError
from aetherflow.settings import Settings, load_settings

if TYPE_CHECKING:
    from aetherflow.events import EventBus
    from aetherflow.redaction import Redactor


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the command line asked for (``None``: fall back to settings, then the flow YAML)."""

    flow_yaml: str | None = None
    run_id: str | None = None
    flow_job: str | None = None
    rerun: str | None = None
    state: str | None = None
    work_root: str | None = None
    locks_scope: str | None = None
    bundle_manifest: str | None = None
    allow_stale_bundle: bool | None = None
    container: bool = False


def main(request: RunRequest, environ: Mapping[str, str] | None = None) -> int:
    """Run one flow once and return the exit code (never raises for expected failures)."""
    from aetherflow.edge import signals
    from aetherflow.runner.context import ProcessTracker
    from aetherflow.runner.stop import StopToken

    environ = os.environ if environ is None else environ
    stop = StopToken()
    tracker = ProcessTracker()
    signals.install(stop, tracker.kill_all)
    termination_log = environ.get("AETHERFLOW_TERMINATION_LOG", "/dev/termination-log")
    try:
        settings = _settings(request, environ)
        termination_log = settings.termination_log
        return _run(request, settings, environ, stop, tracker)
    except Invalid as bad:
        write_termination(termination_log, termination_invalid(bad.first_error, bad.flow_id))
        return int(ExitCode.INVALID)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        write_termination(termination_log, termination_invalid(str(exc), None))
        return int(ExitCode.INVALID)
    except Exception as exc:  # noqa: BLE001 (before logging and redaction exist: still one line and a message)
        from aetherflow.redaction import Redactor

        return fault(exc, Redactor(), termination_log)


def _settings(request: RunRequest, environ: Mapping[str, str]) -> Settings:
    from aetherflow.edge.podinfo import check_run_id
    from aetherflow.edge.schedule import schedule_of

    settings = load_settings(environ)
    # checked here, before anything is created, and named after where it came from (an empty flag is no default)
    if request.run_id is not None:
        check_run_id(request.run_id, "--run-id")
    elif settings.run_id is not None:
        check_run_id(settings.run_id, "AETHERFLOW_RUN_ID")
    schedule_of(settings.schedule_name, settings.job_name, settings.scheduled_at)  # a bad slot is invalid input
    return settings.with_overrides(
        run_id=request.run_id,
        flow_job=request.flow_job,
        rerun=request.rerun,
        state_path=request.state,
        work_root=request.work_root,
        locks_scope=request.locks_scope,
        bundle_manifest=request.bundle_manifest,
        allow_stale_bundle=request.allow_stale_bundle,
    )


def _run(request: RunRequest, settings: Settings, environ: Mapping[str, str], stop: Any, tracker: Any) -> int:
    from aetherflow.observability.logs import configure
    from aetherflow.redaction import Redactor

    redactor = Redactor.for_settings(settings)
    configure(
        fmt=settings.log_format or ("json" if request.container else "text"),
        level=settings.log_level,
        redactor=redactor,
    )
    try:
        return _run_flow(request, settings, environ, stop, tracker, redactor)
    except (Invalid, InputError):
        raise
    except Exception as exc:  # noqa: BLE001 (the last guard of a run: one line and a termination message)
        return fault(exc, redactor, settings.termination_log)


def _run_flow(
    request: RunRequest, settings: Settings, environ: Mapping[str, str], stop: Any, tracker: Any, redactor: Redactor
) -> int:
    from aetherflow.edge.rerun import check_rerun_run, rerun_jobs
    from aetherflow.edge.run_execute import Prepared, execute
    from aetherflow.edge.run_prepare import emit_plan_warnings, plan_run, prepare, resources
    from aetherflow.edge.run_store import emit_reused, open_run_store, run_id_of
    from aetherflow.events import EventBus

    events = EventBus(mask=redactor.mask_obj)
    _warn_strict_templates(settings, events)
    inputs = prepare(request.flow_yaml, settings, environ, events, redactor, container=request.container)
    settings = inputs.settings  # a bundle's mode wins over the ambient one
    for issue in inputs.warnings:
        events.emit("validation_warning", level="WARNING", code=issue.code, loc=issue.loc, msg=redactor.mask(issue.msg))
    if inputs.flow_path is None:
        report_invalid("--flow-yaml is required (or set AETHERFLOW_FLOW_FILE)", None)
    plan = plan_run(inputs, container=request.container)
    emit_plan_warnings(plan, events, redactor)
    flow_id, jobs = plan.meta.flow_id, plan.declared_job_ids
    run_resources = resources(plan, inputs, flow_id)
    if settings.flow_job is not None and settings.flow_job not in jobs:
        report_invalid(f"Unknown job for --flow-job: {settings.flow_job}", flow_id)
    rerun = checked(lambda: rerun_jobs(settings.rerun, flow_job=settings.flow_job, job_ids=jobs), flow_id)
    store = open_run_store(plan, settings, request.state, events, container=request.container)
    try:
        run_id = run_id_of(settings, store, flow_id, events)
        if rerun:
            checked(lambda: check_rerun_run(store, flow_id, run_id), flow_id)
        prepared = Prepared(plan, settings, inputs, run_resources, events, store, request.container)
        try:
            return execute(prepared, run_id, stop, tracker)
        except RunIdMoved as moved:
            emit_reused(events, settings, flow_id, moved.previous_uid)
            return execute(prepared, moved.run_id, stop, tracker)
    finally:
        store.close()


def _warn_strict_templates(settings: Settings, events: EventBus) -> None:
    from aetherflow.booleans import bool_word

    if settings.strict_templates is not None and bool_word(settings.strict_templates) is False:
        events.emit(
            "setting_ignored",
            level="WARNING",
            setting="AETHERFLOW_STRICT_TEMPLATES",
            reason="templates are always strict",
        )
