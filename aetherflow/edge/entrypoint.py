"""The process main of ``aetherflow run`` and ``aetherflow container``.

signals -> settings -> logging -> env snapshot -> load & plan -> resources -> store -> run id -> locks -> run ->
push -> termination message -> exit code. Each stage is its own function; input errors (exit 2) never create state.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aetherflow.edge.podinfo import RunIdMoved
from aetherflow.errors import AetherFlowError, ExitCode, InputError, Issue, SpecErrors, error_text
from aetherflow.settings import (
    CONTAINER_STATE_DIR,
    CONTAINER_WORK_ROOT,
    Settings,
    load_settings,
)

if TYPE_CHECKING:
    from aetherflow.edge.inputs import RunInputs
    from aetherflow.events import EventBus
    from aetherflow.plan import Plan
    from aetherflow.redaction import Redactor
    from aetherflow.runner.engine import RunOutcome
    from aetherflow.state.store import StateStore

log = logging.getLogger("aetherflow")
_Mask = Callable[[str], str]
_T = TypeVar("_T")


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


class _Invalid(Exception):
    """Internal: an input error already reported; carries the termination-message fields."""

    def __init__(self, first_error: str, flow_id: str | None = None) -> None:
        super().__init__(first_error)
        self.first_error = first_error
        self.flow_id = flow_id


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
    except _Invalid as bad:
        _write_termination(termination_log, _termination_invalid(bad.first_error, bad.flow_id))
        return int(ExitCode.INVALID)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _write_termination(termination_log, _termination_invalid(str(exc), None))
        return int(ExitCode.INVALID)
    except Exception as exc:  # noqa: BLE001 (before logging and redaction exist: still one line and a message)
        from aetherflow.redaction import Redactor

        return _fault(exc, Redactor(), termination_log)


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
    except (_Invalid, InputError):
        raise
    except Exception as exc:  # noqa: BLE001 (the last guard of a run: one line and a termination message)
        return _fault(exc, redactor, settings.termination_log)


def _run_flow(
    request: RunRequest, settings: Settings, environ: Mapping[str, str], stop: Any, tracker: Any, redactor: Redactor
) -> int:
    from aetherflow.booleans import bool_word
    from aetherflow.events import EventBus

    events = EventBus(mask=redactor.mask_obj)
    if settings.strict_templates is not None and bool_word(settings.strict_templates) is False:
        events.emit(
            "setting_ignored",
            level="WARNING",
            setting="AETHERFLOW_STRICT_TEMPLATES",
            reason="templates are always strict",
        )
    inputs = _inputs(request, settings, environ, events, redactor)
    settings = inputs.settings  # a bundle's mode wins over the ambient one
    for issue in inputs.warnings:
        events.emit("validation_warning", level="WARNING", code=issue.code, loc=issue.loc, msg=redactor.mask(issue.msg))
    if inputs.flow_path is None:
        _report_invalid("--flow-yaml is required (or set AETHERFLOW_FLOW_FILE)", None)
    assert inputs.flow_path is not None
    plan = _plan(inputs, container=request.container)
    for issue in plan.warnings:
        if issue.code == "profile:overridden_by_bundle":
            events.emit("profiles_overridden_by_bundle", level="WARNING", msg=redactor.mask(issue.msg))
        else:
            events.emit(
                "validation_warning", level="WARNING", code=issue.code, loc=issue.loc, msg=redactor.mask(issue.msg)
            )
    flow_id = plan.meta.flow_id
    resources = _resources(plan, inputs, flow_id)
    if settings.flow_job is not None and settings.flow_job not in plan.declared_job_ids:
        _report_invalid(f"Unknown job for --flow-job: {settings.flow_job}", flow_id)
    from aetherflow.edge.rerun import check_rerun_run, rerun_jobs

    jobs = plan.declared_job_ids
    rerun = _checked(lambda: rerun_jobs(settings.rerun, flow_job=settings.flow_job, job_ids=jobs), flow_id)
    store = _open_store(plan, settings, request, events, flow_id)
    try:
        run_id = _run_id(settings, store, flow_id, events)
        if rerun:
            _checked(lambda: check_rerun_run(store, flow_id, run_id), flow_id)
        try:
            return _execute(plan, settings, request, store, run_id, inputs, resources, events, stop, tracker)
        except RunIdMoved as moved:
            _emit_reused(events, settings, flow_id, moved.previous_uid)
            return _execute(plan, settings, request, store, moved.run_id, inputs, resources, events, stop, tracker)
    finally:
        store.close()


def _inputs(
    request: RunRequest, settings: Settings, environ: Mapping[str, str], events: EventBus, redactor: Redactor
) -> RunInputs:
    from aetherflow.edge.inputs import prepare_inputs

    try:
        return prepare_inputs(
            environ,
            settings,
            flow_yaml=request.flow_yaml,
            container=request.container,
            emit=events.emit,
            redactor=redactor,
        )
    except InputError as exc:
        issues = getattr(exc, "issues", None)  # an invalid bundle manifest: every record
        if not issues:
            _report_invalid(redactor.mask(str(exc)), None)
            raise
        _print_invalid(settings.bundle_manifest, issues, (), redactor.mask)
        raise _Invalid(redactor.mask(str(issues[0]))) from None
    except AetherFlowError as exc:
        if exc.exit_code != ExitCode.INVALID:
            raise
        _report_invalid(redactor.mask(str(exc)), None)
        raise


def _plan(inputs: RunInputs, *, container: bool) -> Plan:
    from aetherflow.plan import EnvCheck, build_plan

    flow_path = inputs.flow_path or ""
    try:
        plan = build_plan(
            flow_path,
            settings=inputs.settings,
            env=inputs.env,
            registry=inputs.registry,
            container=container,
            env_check=EnvCheck.for_run(inputs.settings.flow_job),  # before any state or lock exists
            **inputs.plan_options(),
        )
    except SpecErrors as exc:
        mask = inputs.redactor.mask
        _print_invalid(flow_path, exc.errors, exc.warnings, mask)
        first = exc.errors[0] if exc.errors else Issue("settings:invalid", "<root>", "invalid input")
        raise _Invalid(mask(f"{first.loc}: {first.code} - {first.msg}")) from None
    problems = inputs.hook_problems(plan)  # reported as ``validate`` reports it
    if problems:
        _print_invalid(flow_path, problems, plan.warnings, inputs.redactor.mask)
        first = problems[0]
        raise _Invalid(inputs.redactor.mask(f"{first.loc}: {first.code} - {first.msg}"), plan.meta.flow_id)
    return plan


def _resources(plan: Plan, inputs: RunInputs, flow_id: str) -> Any:
    from aetherflow.plan import EnvCheck
    from aetherflow.plan.resources import build_run_resources

    hook = inputs.hook
    try:
        return build_run_resources(
            plan,
            EnvCheck.for_run(inputs.settings.flow_job).jobs,
            inputs.env,
            inputs.redactor,
            decode=hook.decode if hook is not None else None,
        )
    except AetherFlowError as exc:
        _report_invalid(inputs.redactor.mask(str(exc)), flow_id)
        raise


def _checked(check: Callable[[], _T], flow_id: str | None = None) -> _T:
    """``check()``, with an input error reported as every input error of a run is (one line, exit 2)."""
    try:
        return check()
    except InputError as exc:
        _report_invalid(str(exc), flow_id)
        raise


def _print_invalid(target: object, errors: Iterable[object], warnings: Iterable[object], mask: _Mask) -> None:
    """The ``INVALID: <target>`` block on stderr: ``- <error>`` and ``! <warning>`` lines, each masked."""
    lines = [f"INVALID: {target}"]
    lines += [f"- {mask(str(issue))}" for issue in errors]
    lines += [f"! {mask(str(issue))}" for issue in warnings]
    print("\n".join(lines), file=sys.stderr)


def _report_invalid(message: str, flow_id: str | None) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise _Invalid(message, flow_id)


def _open_store(plan: Plan, settings: Settings, request: RunRequest, events: EventBus, flow_id: str) -> StateStore:
    from aetherflow.errors import StateInputError
    from aetherflow.state.backends import first_location, open_store, resolve_location

    container_dir = CONTAINER_STATE_DIR + "/" if request.container else None
    chosen = first_location(
        (request.state, "--state"),
        (settings.state_url, "AETHERFLOW_STATE_URL"),
        (settings.state_path, "AETHERFLOW_STATE_PATH"),
        (container_dir, "container default"),
        (plan.meta.state_path, "flow.state.path"),
    )
    if plan.meta.state_backend == "file":
        events.emit("state_backend_unsupported", level="WARNING", backend="file")
    try:
        text, source = chosen if chosen is not None else (plan.meta.state_path, "flow.state.path")
        store = open_store(
            resolve_location(text, source, flow_id),
            journal_mode=settings.state_journal_mode,
            strict_fs=settings.state_strict_fs,
            busy_timeout_ms=settings.state_busy_timeout_ms,
            quick_check=settings.state_quick_check,
            on_warning=lambda event, **fields: events.emit(event, level="WARNING", **fields),
        )
    except StateInputError as exc:
        _report_invalid(str(exc), flow_id)
        raise
    vol = getattr(store, "volume", None)
    if vol is None:
        events.emit("state_database", backend="postgresql", location=store.describe())
        return store
    events.emit(
        "state_volume",
        level="WARNING" if vol.network else "INFO",
        path=vol.path,
        fstype=vol.fstype,
        network=vol.network,
        journal_mode=vol.journal_mode,
    )
    return store


def _run_id(settings: Settings, store: StateStore, flow_id: str, events: EventBus) -> str:
    try:
        run_id, reused_uid = _derive_run_id(settings, store, flow_id)
    except InputError as exc:
        _report_invalid(str(exc), flow_id)
        raise
    if reused_uid is not None:
        _emit_reused(events, settings, flow_id, reused_uid)
    return run_id


def _derive_run_id(settings: Settings, store: StateStore, flow_id: str) -> tuple[str, str | None]:
    from aetherflow.edge.podinfo import derive_run_id

    def previous_uid(run_id: str) -> str | None:
        rec = store.get_run(flow_id, run_id)
        return rec.job_uid if rec is not None else None

    return derive_run_id(
        settings_run_id=settings.run_id,
        cli_run_id=None,
        job_name=settings.job_name,
        job_uid=settings.job_uid,
        lookup_previous_uid=previous_uid,
    )


def _emit_reused(events: EventBus, settings: Settings, flow_id: str, previous_uid: str) -> None:
    events.emit(
        "run_id_reused",
        level="WARNING",
        flow_id=flow_id,
        job_name=settings.job_name,
        previous_uid=previous_uid,
        job_uid=settings.job_uid,
    )


def _uid_recheck(settings: Settings, store: StateStore, flow_id: str, run_id: str) -> Callable[[], None]:
    """The Job-UID check again, once the run lock is held: another Job of the same name may have recorded the run
    between the first check and the lock (many pods share one database)."""

    def check() -> None:
        again, previous = _derive_run_id(settings, store, flow_id)
        if again != run_id and previous is not None:
            raise RunIdMoved(again, previous)

    return check


def _execute(
    plan: Plan,
    settings: Settings,
    request: RunRequest,
    store: StateStore,
    run_id: str,
    inputs: RunInputs,
    resources: Any,
    events: EventBus,
    stop: Any,
    tracker: Any,
) -> int:
    from aetherflow.edge.rerun import rerun_jobs
    from aetherflow.edge.schedule import schedule_of
    from aetherflow.errors import StateError
    from aetherflow.runner.engine import Runner, RunOptions
    from aetherflow.state.locks import LockManager

    flow_id = plan.meta.flow_id
    work_root = settings.work_root or (CONTAINER_WORK_ROOT if request.container else plan.meta.work_root)
    locks_scope = settings.locks_scope or plan.meta.locks_scope
    observers = list(events.observers)
    pusher = _metrics(settings, plan, events, run_id)
    if settings.metrics_module:
        from aetherflow.observability.hook import MetricsHook

        try:
            events.observers.append(MetricsHook.load(settings.metrics_module))
        except InputError as exc:
            _report_invalid(str(exc), flow_id)
    locks = LockManager(
        store.location,
        after_run_lock=_uid_recheck(settings, store, flow_id, run_id),
        run_id=run_id,
        flow_id=flow_id,
        pod_name=settings.pod_name,
        busy_timeout_ms=settings.state_busy_timeout_ms,
        on_event=lambda event, **fields: events.emit(
            event, level="ERROR" if event == "lock_lost" else ("WARNING" if "takeover" in event else "INFO"), **fields
        ),
    )
    options = RunOptions(
        run_id=run_id,
        work_root=Path(work_root),
        locks_scope=locks_scope,
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
        bundle_fingerprint=inputs.bundle.fingerprint if inputs.bundle is not None else None,
        overlap_exit_code=settings.overlap_exit_code,
        run_takeover_seconds=settings.run_takeover_seconds,
        rerun=rerun_jobs(settings.rerun, flow_job=settings.flow_job, job_ids=plan.declared_job_ids),
        scheduled_at=schedule_of(settings.schedule_name, settings.job_name, settings.scheduled_at).slot,
        progress_seconds=settings.progress_seconds,
    )
    runner = Runner(
        plan,
        store=store,
        locks=locks,
        registry=inputs.registry,
        resources=resources,
        env=inputs.env,
        redactor=inputs.redactor,
        events=events,
        options=options,
        stop=stop,
        tracker=tracker,
    )

    def report(outcome: RunOutcome) -> None:
        if pusher is not None:
            pusher.finish(outcome)
        termination = _termination_for(outcome, inputs.redactor)
        _write_termination(settings.termination_log, termination)
        if settings.kubernetes_events:
            from aetherflow.edge.k8s_events import post_job_event

            post_job_event(settings, termination)

    # A step that ignores a stop request past the grace period: the runner records it, then reports through here.
    runner.on_abandon = report
    try:
        outcome = runner.run()
    except RunIdMoved:
        events.observers[:] = observers  # the run starts again under its own id, observing it once
        raise
    finally:
        locks.close()
    if settings.state_retention_days is not None and outcome.overlap is None and outcome.interrupted_waiting is None:
        from aetherflow.state.retention import prune_state

        try:  # this flow's runs only: other flows sharing the store keep their own retention
            prune_state(store, settings.state_retention_days, flow_id=flow_id)
        except StateError as exc:  # the run is recorded: a failed clean-up must not change its result
            events.emit("state_prune_failed", level="WARNING", error=inputs.redactor.mask(str(exc)))
    report(outcome)
    return int(outcome.exit_code)


def _metrics(settings: Settings, plan: Plan, events: EventBus, run_id: str) -> Any:
    if not settings.pushgateway_url:
        return None
    from aetherflow.edge.pushgateway import RunPusher

    pusher = RunPusher.create(settings, plan, run_id)
    events.observers.append(pusher)
    return pusher


def _fault(exc: Exception, redactor: Redactor, termination_log: str) -> int:
    """An error no stage handled: one line on stderr, the termination message, the traceback only at DEBUG."""
    import traceback

    from aetherflow.edge.summary import termination_fault

    known = isinstance(exc, AetherFlowError)
    text = (redactor.mask(str(exc) if known else f"internal error: {error_text(exc)}").splitlines() or [""])[0]
    code = int(exc.exit_code) if isinstance(exc, AetherFlowError) else int(ExitCode.FAILED)
    print(f"error: {text}", file=sys.stderr)
    log.debug("unhandled error\n%s", redactor.mask("".join(traceback.format_exception(exc))))
    _write_termination(termination_log, termination_fault(text, code))
    return code


def _termination_for(outcome: RunOutcome, redactor: Redactor) -> dict[str, Any]:
    from aetherflow.edge.summary import termination_from_summary, termination_interrupted_waiting, termination_overlap

    if outcome.interrupted_waiting is not None:
        error = redactor.mask(outcome.interrupted_waiting)
        return termination_interrupted_waiting(outcome.run_id, outcome.flow_id, error, int(outcome.exit_code))
    if outcome.overlap is not None:
        error = redactor.mask(error_text(outcome.overlap))
        return termination_overlap(outcome.run_id, outcome.flow_id, error, int(outcome.exit_code))
    doc = dict(outcome.summary)
    doc["status"], doc["exit_code"] = outcome.status, int(outcome.exit_code)
    return termination_from_summary(redactor.mask_obj(doc))


def _termination_invalid(first_error: str, flow_id: str | None) -> dict[str, Any]:
    from aetherflow.edge.summary import termination_invalid

    return termination_invalid(first_error, flow_id)


def _write_termination(path: str, doc: dict[str, Any]) -> None:
    from aetherflow.edge.summary import write_termination_message

    write_termination_message(path, doc)
