"""Run events: typed event classes, and one bus that logs each event and fans it out to observers.

An event is a frozen dataclass: its ``name`` (a class attribute, the stable name the logs and docs use), its fields
(declared in the order the log line shows them) and its ``level``. The run journal publishes one right after the
state write of the same transition; ``flow_id`` and ``run_id`` are added (first) to every event once known.

Adding an event takes one class here, nothing else::

    @event_class
    class StepProgress(Event):
        name: ClassVar[str] = "step_progress"
        job_id: str
        step_id: str
        done: int

(``event_class`` makes it a frozen, slotted dataclass and registers it under its name in ``EVENT_CLASSES``)
and ``bus.publish(StepProgress(job_id=..., step_id=..., done=3))`` (through the run journal when the event tells
of a transition it saves). A fixed level is a ``level`` class attribute; a level that depends on the fields is a
``level`` property (see ``JobEnd``). A field named in ``optional`` is left out of the log line when it is None.
Observers get the event object and read its attributes; ``fields()`` is the mapping the log line is made of.

Steps, connectors and the edge still announce their own, step-specific notes through ``emit(name, **fields)``
(an ``AdHoc`` event): the same log line, without a class per note.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, dataclass_transform

from aetherflow.errors import error_text

log = logging.getLogger("aetherflow")

_E = TypeVar("_E", bound="type[Event]")

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARNING": logging.WARNING, "ERROR": logging.ERROR}


@dataclass(frozen=True, slots=True)
class Event:
    """The base of every event: a stable ``name``, a ``level`` and the declared fields."""

    name: ClassVar[str] = ""
    level: ClassVar[str] = "INFO"
    #: fields left out of the log line when they are None
    optional: ClassVar[frozenset[str]] = frozenset()

    def fields(self) -> dict[str, Any]:
        """The event's data in declaration order, as the log line shows it."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if not (f.name in self.optional and getattr(self, f.name) is None)
        }


@dataclass(frozen=True, slots=True)
class AdHoc(Event):
    """A step's or the edge's own note, named at the call (``EventBus.emit``)."""

    event: str = ""
    severity: str = "INFO"
    data: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def fields(self) -> dict[str, Any]:
        return dict(self.data)


#: every event class by its name
EVENT_CLASSES: dict[str, type[Event]] = {}


@dataclass_transform(frozen_default=True)
def event_class(cls: _E) -> _E:
    """Declare an event: a frozen dataclass with slots, registered under its ``name``."""
    made: _E = dataclass(frozen=True, slots=True)(cls)  # type: ignore[assignment]
    if not made.name or made.name in EVENT_CLASSES:
        raise TypeError(f"event class {made.__qualname__} needs a name of its own")
    EVENT_CLASSES[made.name] = made
    return made


def _status_level(status: str, *, interrupted: str = "INFO") -> str:
    if status == "FAILED":
        return "ERROR"
    return interrupted if status == "INTERRUPTED" else "INFO"


# -- the run -----------------------------------------------------------------------------------------------------
@event_class
class RunOverlap(Event):
    name: ClassVar[str] = "run_overlap"
    level: ClassVar[str] = "ERROR"
    key: str
    owner: str | None
    expires_at: Any


@event_class
class RunAlreadyComplete(Event):
    name: ClassVar[str] = "run_already_complete"


@event_class
class RunStart(Event):
    name: ClassVar[str] = "run_start"
    yaml: str | None
    attempt: int
    run_started_at: str
    resumed: bool
    job_name: str | None
    pod: str | None
    bundle_fingerprint: str | None


@event_class
class FlowChanged(Event):
    name: ClassVar[str] = "flow_changed"
    level: ClassVar[str] = "WARNING"
    previous_sha256: str
    sha256: str | None


@event_class
class ScheduledAtKept(Event):
    """A resume was given a schedule slot other than the ``run.scheduled_at`` stored at the first attempt."""

    name: ClassVar[str] = "scheduled_at_kept"
    level: ClassVar[str] = "WARNING"
    stored: str
    given: str


@event_class
class RunCancelRequested(Event):
    name: ClassVar[str] = "run_cancel_requested"
    level: ClassVar[str] = "WARNING"
    signal: str


@event_class
class RunSummary(Event):
    name: ClassVar[str] = "run_summary"
    status: str
    exit_code: int
    attempt: int
    duration_ms: int
    bundle_fingerprint: str | None
    status_counts: dict[str, int]
    jobs: list[dict[str, Any]]


# -- jobs --------------------------------------------------------------------------------------------------------
@event_class
class JobRestored(Event):
    name: ClassVar[str] = "job_restored"
    job_id: str
    status: str


@event_class
class JobStart(Event):
    name: ClassVar[str] = "job_start"
    job_id: str


@event_class
class JobEnd(Event):
    name: ClassVar[str] = "job_end"
    job_id: str
    status: str
    duration_ms: int
    skip_reason: str | None
    error: str | None

    @property
    def level(self) -> str:  # type: ignore[override]
        return _status_level(self.status)


# -- steps -------------------------------------------------------------------------------------------------------
@event_class
class StepRestored(Event):
    name: ClassVar[str] = "step_restored"
    job_id: str
    step_id: str
    step_type: str
    status: str


@event_class
class StepStart(Event):
    name: ClassVar[str] = "step_start"
    job_id: str
    step_id: str
    step_type: str
    attempt: int


@event_class
class StepRetry(Event):
    name: ClassVar[str] = "step_retry"
    level: ClassVar[str] = "WARNING"
    job_id: str
    step_id: str
    step_type: str
    attempt: int
    delay_seconds: float
    error: str | None


@event_class
class StepProgress(Event):
    """A long step's rows or bytes so far, at most once per ``AETHERFLOW_PROGRESS_SECONDS`` (no state write)."""

    name: ClassVar[str] = "step_progress"
    optional: ClassVar[frozenset[str]] = frozenset({"total"})
    job_id: str
    step_id: str
    step_type: str
    unit: str
    done: int
    total: int | None
    rate: float
    elapsed_seconds: float


@event_class
class StepEnd(Event):
    name: ClassVar[str] = "step_end"
    optional: ClassVar[frozenset[str]] = frozenset({"error"})
    job_id: str
    step_id: str
    step_type: str
    status: str
    duration_ms: int
    attempts: int
    error: str | None = None

    @property
    def level(self) -> str:  # type: ignore[override]
        return _status_level(self.status, interrupted="WARNING")


class Observer(Protocol):
    """Something that watches run events (metrics, hooks). Must not raise; the bus guards it anyway.

    ``event`` is the typed event; ``fields`` its data with ``flow_id``/``run_id`` first, masked for observers.
    """

    def on_event(self, event: Event, fields: Mapping[str, Any]) -> None: ...


def event_name(event: Event) -> str:
    """The stable name of ``event`` (an ad-hoc event carries its own)."""
    return event.event if isinstance(event, AdHoc) else event.name


def event_level(event: Event) -> str:
    return event.severity if isinstance(event, AdHoc) else event.level


class EventBus:
    """Logs events through the ``aetherflow`` logger and hands them to observers."""

    def __init__(self, observers: list[Observer] | None = None, *, mask: Callable[[Any], Any] | None = None) -> None:
        self.observers: list[Observer] = list(observers or [])
        self.common: dict[str, Any] = {}
        # observers (a user's metrics hook) see masked fields: what they forward leaves the process
        self._mask = mask

    def bind(self, **fields: Any) -> None:
        """Fields added (first) to every later event, e.g. flow_id and run_id."""
        self.common.update(fields)

    def publish(self, event: Event) -> None:
        """Log ``event`` at its level and notify observers."""
        name = event_name(event)
        data = {**self.common, **event.fields()}
        levelno = _LEVELS.get(event_level(event), logging.INFO)
        if log.isEnabledFor(levelno):
            log.log(levelno, name, extra={"event": name, "fields": data})
        if self.observers and self._mask is not None:
            data = self._mask(data)
        for observer in self.observers:
            try:
                observer.on_event(event, data)
            except Exception as exc:  # noqa: BLE001 (an observer must never break the run)
                log.warning(
                    "metrics_hook_failed",
                    extra={"event": "metrics_hook_failed", "fields": {"method": name, "error": error_text(exc)}},
                )

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        """A step's or the edge's own note (no class of its own): logged and observed like any event."""
        self.publish(AdHoc(event=event, severity=level, data=fields))
