"""The state store a run records into, and the run id it records under.

The store location is the first one given (flag, settings, the container default, the flow); the run id is
checked against the Kubernetes Job's UID so a new Job of the same name never silently resumes another's run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aetherflow.edge.podinfo import RunIdMoved
from aetherflow.edge.run_exit import report_invalid
from aetherflow.errors import InputError
from aetherflow.settings import CONTAINER_STATE_DIR

if TYPE_CHECKING:
    from aetherflow.events import EventBus
    from aetherflow.plan import Plan
    from aetherflow.settings import Settings
    from aetherflow.state.store import StateStore


def open_run_store(
    plan: Plan, settings: Settings, state_flag: str | None, events: EventBus, *, container: bool
) -> StateStore:
    """The store of this run, its volume (or database) reported; a bad location is invalid input."""
    from aetherflow.errors import StateInputError
    from aetherflow.state.backends import first_location, open_store, resolve_location

    flow_id = plan.meta.flow_id
    chosen = first_location(
        (state_flag, "--state"),
        (settings.state_url, "AETHERFLOW_STATE_URL"),
        (settings.state_path, "AETHERFLOW_STATE_PATH"),
        (CONTAINER_STATE_DIR + "/" if container else None, "container default"),
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
        report_invalid(str(exc), flow_id)
        raise
    _emit_location(store, events)
    return store


def _emit_location(store: StateStore, events: EventBus) -> None:
    vol = getattr(store, "volume", None)
    if vol is None:
        events.emit("state_database", backend="postgresql", location=store.describe())
        return
    events.emit(
        "state_volume",
        level="WARNING" if vol.network else "INFO",
        path=vol.path,
        fstype=vol.fstype,
        network=vol.network,
        journal_mode=vol.journal_mode,
    )


def run_id_of(settings: Settings, store: StateStore, flow_id: str, events: EventBus) -> str:
    """The run id (from settings or the Job), a reused Job name reported; a bad id is invalid input."""
    try:
        run_id, reused_uid = _derive_run_id(settings, store, flow_id)
    except InputError as exc:
        report_invalid(str(exc), flow_id)
        raise
    if reused_uid is not None:
        emit_reused(events, settings, flow_id, reused_uid)
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


def emit_reused(events: EventBus, settings: Settings, flow_id: str, previous_uid: str) -> None:
    """The warning that this Job's name was used by another Job before (its run id moved)."""
    events.emit(
        "run_id_reused",
        level="WARNING",
        flow_id=flow_id,
        job_name=settings.job_name,
        previous_uid=previous_uid,
        job_uid=settings.job_uid,
    )


def uid_recheck(settings: Settings, store: StateStore, flow_id: str, run_id: str) -> Callable[[], None]:
    """The Job-UID check again, once the run lock is held: another Job of the same name may have recorded the run
    between the first check and the lock (many pods share one database)."""

    def check() -> None:
        again, previous = _derive_run_id(settings, store, flow_id)
        if again != run_id and previous is not None:
            raise RunIdMoved(again, previous)

    return check
