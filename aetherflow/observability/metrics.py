"""``RunMetrics``: an observer of run events that fills a private Prometheus registry (docs/reference/observability.md).

It does no network I/O: ``aetherflow.edge.pushgateway`` asks it for the registry of each push (start, end, overlap)
and sends it. prometheus_client is imported at the top on purpose: the edge imports this module only when
``AETHERFLOW_PUSHGATEWAY_URL`` is set, so runs without a gateway never pay for it.

Every family is a gauge; label values are lowercase except ids; status families are one-hot with every series present
(a job that has no record in this run is ``pending``), so a dashboard never has to deal with a missing series.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aetherflow import __version__
from aetherflow.events import Event, JobEnd, RunOverlap, RunStart, RunSummary, StepEnd

RUN_STATUSES = ("running", "success", "failed", "interrupted")
JOB_STATUSES = ("success", "failed", "skipped", "blocked", "interrupted", "pending")
RUN_INFO_LABELS = ("run_id", "flow_id", "job_name", "pod", "namespace", "version")

START_TS = "aetherflow_run_start_timestamp_seconds"
END_TS = "aetherflow_run_end_timestamp_seconds"
DURATION = "aetherflow_run_duration_seconds"
RUN_STATUS = "aetherflow_run_status"
LAST_SUCCESS = "aetherflow_run_last_success_timestamp_seconds"
ATTEMPT = "aetherflow_run_attempt"
JOB_STATUS = "aetherflow_job_status"
JOB_DURATION = "aetherflow_job_duration_seconds"
STEP_DURATION = "aetherflow_step_duration_seconds"
OVERLAP_TS = "aetherflow_run_overlap_timestamp_seconds"
RUN_INFO = "aetherflow_run_info"
SCHEDULED_TS = "aetherflow_run_scheduled_timestamp_seconds"
LATENESS = "aetherflow_run_start_lateness_seconds"

#: families of each push; ``run_info`` is added to start and end pushes when enabled, the slot families when a slot
#: is known
START_FAMILIES = (START_TS, RUN_STATUS, ATTEMPT)
END_FAMILIES = (START_TS, END_TS, DURATION, RUN_STATUS, LAST_SUCCESS, ATTEMPT, JOB_STATUS, JOB_DURATION, STEP_DURATION)
OVERLAP_FAMILIES = (OVERLAP_TS,)
SLOT_FAMILIES = (SCHEDULED_TS, LATENESS)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Labels of ``aetherflow_run_info`` that do not come from events (unknown values are empty strings)."""

    job_name: str = ""
    pod: str = ""
    namespace: str = ""
    version: str = __version__


class RunMetrics:
    """Collects one run attempt's metrics from run events.

    ``declared_jobs`` maps every job of the flow (execution order) to its step ids, so jobs and steps that do not run
    in this attempt still get their ``pending``/0 series. ``run_info`` enables ``aetherflow_run_info``.
    """

    def __init__(
        self,
        flow_id: str,
        declared_jobs: Mapping[str, Sequence[str]],
        *,
        run_id: str | None = None,
        run_info: RunInfo | None = None,
        scheduled_at: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.flow_id = flow_id
        self.scheduled_at = scheduled_at
        self.run_started_at: float | None = None
        self.run_id = run_id
        self._run_info = run_info
        self._clock = clock
        self._jobs: dict[str, list[str]] = {job: list(steps) for job, steps in declared_jobs.items()}
        self.attempt = 0
        self.status = "running"
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.overlap_at: float | None = None
        self._job_status: dict[str, str] = {}
        self._job_duration: dict[str, float] = {}
        self._step_duration: dict[tuple[str, str], float] = {}

    # -- observer ------------------------------------------------------------------------------------------------
    def on_event(self, event: Event, fields: Mapping[str, Any]) -> None:
        """Record what a run event says about the run, a job or a step; other events are ignored."""
        if isinstance(event, RunStart):
            self._run_start(fields)
        elif isinstance(event, JobEnd):
            self._job_end(fields)
        elif isinstance(event, StepEnd):
            self._step_end(fields)
        elif isinstance(event, RunSummary):
            self._run_summary(fields)
        elif isinstance(event, RunOverlap):
            self.overlap_at = self._clock()

    def _run_start(self, fields: Mapping[str, Any]) -> None:
        self.started_at = self._clock()
        self.status = "running"
        self.attempt = _int(fields.get("attempt"), 1)
        # The run's first start (stored with the run), so lateness is the same number on every attempt.
        self.run_started_at = _unix(fields.get("run_started_at"), self.started_at)
        if fields.get("run_id"):
            self.run_id = str(fields["run_id"])

    def _job_end(self, fields: Mapping[str, Any]) -> None:
        job_id = str(fields.get("job_id", ""))
        if not job_id:
            return
        self._jobs.setdefault(job_id, [])
        self._job_status[job_id] = _job_status(fields.get("status"))
        self._job_duration[job_id] = _seconds(fields.get("duration_ms"))

    def _step_end(self, fields: Mapping[str, Any]) -> None:
        job_id, step_id = str(fields.get("job_id", "")), str(fields.get("step_id", ""))
        if not job_id or not step_id:
            return
        steps = self._jobs.setdefault(job_id, [])
        if step_id not in steps:
            steps.append(step_id)
        self._step_duration[(job_id, step_id)] = _seconds(fields.get("duration_ms"))

    def _run_summary(self, fields: Mapping[str, Any]) -> None:
        self.ended_at = self._clock()
        status = str(fields.get("status", "")).lower()
        self.status = status if status in RUN_STATUSES else "failed"
        if "attempt" in fields:
            self.attempt = _int(fields.get("attempt"), self.attempt or 1)
        if self.started_at is None:
            # No run_start seen (should not happen): derive the start from the summary's duration.
            self.started_at = self.ended_at - _seconds(fields.get("duration_ms"))
        # The summary is authoritative: it also lists jobs whose job_end this observer may have missed.
        for job in fields.get("jobs") or ():
            if isinstance(job, Mapping):
                self._job_end(job)
                for step in job.get("steps") or ():
                    if isinstance(step, Mapping):
                        self._step_end({**step, "job_id": job.get("job_id")})

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        """True once the run summary was seen."""
        return self.ended_at is not None

    @property
    def succeeded(self) -> bool:
        """True when the run ended SUCCESS: the end push replaces the whole group (PUT)."""
        return self.ended and self.status == "success"

    # -- registries ----------------------------------------------------------------------------------------------
    def start_registry(self) -> CollectorRegistry:
        """Families of the start push (POST): start time, status running, attempt (+ run_info)."""
        return self._registry(START_FAMILIES)

    def end_registry(self) -> CollectorRegistry:
        """Families of the end push: all of them; ``last_success`` only when the run succeeded (then PUT, else POST)."""
        names = END_FAMILIES if self.succeeded else tuple(n for n in END_FAMILIES if n != LAST_SUCCESS)
        return self._registry(names)

    def overlap_registry(self) -> CollectorRegistry:
        """The overlap gauge alone (POST), leaving the live run's series untouched."""
        if self.overlap_at is None:
            self.overlap_at = self._clock()
        return self._registry(OVERLAP_FAMILIES, run_info=False)

    def _registry(self, names: Sequence[str], *, run_info: bool = True) -> CollectorRegistry:
        registry = CollectorRegistry(auto_describe=False)
        wanted = list(names)
        if run_info and self._run_info is not None:
            wanted.append(RUN_INFO)
        if run_info and self.scheduled_at is not None:
            wanted.extend(SLOT_FAMILIES)
        registry.register(_Families(self, tuple(wanted)))
        return registry

    def families(self, names: Sequence[str]) -> Iterator[Metric]:
        """The metric families called ``names``, each with its complete label set."""
        builders: dict[str, Callable[[], Metric]] = {
            START_TS: lambda: _gauge(START_TS, "Start of this run attempt (Unix seconds).", self.started_at or 0.0),
            END_TS: lambda: _gauge(END_TS, "End of this run attempt (Unix seconds).", self._end()),
            DURATION: lambda: _gauge(DURATION, "Duration of this run attempt.", self._duration()),
            RUN_STATUS: self._run_status,
            LAST_SUCCESS: lambda: _gauge(LAST_SUCCESS, "End of the last successful run (Unix seconds).", self._end()),
            ATTEMPT: lambda: _gauge(ATTEMPT, "Attempt number of this run.", float(self.attempt or 1)),
            JOB_STATUS: self._job_status_family,
            JOB_DURATION: self._job_duration_family,
            STEP_DURATION: self._step_duration_family,
            OVERLAP_TS: lambda: _gauge(OVERLAP_TS, "Time a run start was refused by the flow lock.", self._overlap()),
            RUN_INFO: self._run_info_family,
            SCHEDULED_TS: lambda: _gauge(SCHEDULED_TS, "Schedule slot of this run (Unix seconds).", self._slot()),
            LATENESS: lambda: _gauge(LATENESS, "First start of this run minus its schedule slot.", self._lateness()),
        }
        for name in names:
            yield builders[name]()

    def _end(self) -> float:
        return self.ended_at if self.ended_at is not None else self._clock()

    def _duration(self) -> float:
        return max(0.0, self._end() - self.started_at) if self.started_at is not None else 0.0

    def _slot(self) -> float:
        return self.scheduled_at if self.scheduled_at is not None else 0.0

    def _lateness(self) -> float:
        first = self.run_started_at if self.run_started_at is not None else self.started_at
        return first - self._slot() if first is not None else 0.0

    def _overlap(self) -> float:
        return self.overlap_at if self.overlap_at is not None else self._clock()

    def _run_status(self) -> Metric:
        family = GaugeMetricFamily(RUN_STATUS, "Status of the run, one-hot.", labels=["status"])
        for status in RUN_STATUSES:
            family.add_metric([status], 1.0 if status == self.status else 0.0)
        return family

    def _job_status_family(self) -> Metric:
        family = GaugeMetricFamily(JOB_STATUS, "Status of each job of the flow, one-hot.", labels=["job_id", "status"])
        for job_id in self._jobs:
            current = self._job_status.get(job_id, "pending")
            for status in JOB_STATUSES:
                family.add_metric([job_id, status], 1.0 if status == current else 0.0)
        return family

    def _job_duration_family(self) -> Metric:
        family = GaugeMetricFamily(
            JOB_DURATION, "Duration of each job in this attempt (0 if not run).", labels=["job_id"]
        )
        for job_id in self._jobs:
            family.add_metric([job_id], self._job_duration.get(job_id, 0.0))
        return family

    def _step_duration_family(self) -> Metric:
        family = GaugeMetricFamily(
            STEP_DURATION, "Duration of each step's last attempt (0 if not run).", labels=["job_id", "step_id"]
        )
        for job_id, steps in self._jobs.items():
            for step_id in steps:
                family.add_metric([job_id, step_id], self._step_duration.get((job_id, step_id), 0.0))
        return family

    def _run_info_family(self) -> Metric:
        info = self._run_info or RunInfo()
        family = GaugeMetricFamily(RUN_INFO, "Identity of the run that pushed these metrics.", labels=RUN_INFO_LABELS)
        family.add_metric([self.run_id or "", self.flow_id, info.job_name, info.pod, info.namespace, info.version], 1.0)
        return family


class _Families(Collector):
    """Collector exposing a fixed set of RunMetrics families (built at collection time)."""

    def __init__(self, metrics: RunMetrics, names: tuple[str, ...]) -> None:
        self._metrics = metrics
        self._names = names

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families(self._names)


def _gauge(name: str, documentation: str, value: float) -> Metric:
    return GaugeMetricFamily(name, documentation, value=value)


def _job_status(value: object) -> str:
    status = str(value or "").lower()
    return status if status in JOB_STATUSES else "pending"


def _seconds(duration_ms: object) -> float:
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int | float):
        return 0.0
    return max(0.0, float(duration_ms) / 1000.0)


def _unix(value: object, default: float) -> float:
    """Unix seconds of an ISO 8601 time with an offset (as the state store writes it), else ``default``."""
    if not isinstance(value, str) or not value:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return default
    return parsed.timestamp() if parsed.tzinfo is not None else default


def _int(value: object, default: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value
