"""What a running step sees: the ``StepContext`` implementation, connector pool and child-process tracking.

Built by the runner for every step; tests build one directly (``tests/support/context.py``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetherflow.api import Connector, ConnectorInit, StepResult, process_group_alive, signal_process_group
from aetherflow.errors import InvalidValue, error_text
from aetherflow.events import Event, StepProgress
from aetherflow.progress import DEFAULT_PROGRESS_SECONDS, ProgressMeter, ProgressReport, Unit
from aetherflow.redaction import Redactor
from aetherflow.registry import Registry, RunConnectorContext
from aetherflow.spec.resources import ResolvedResource
from aetherflow.workspace import JobWorkspace, resolve_in_sandbox

if TYPE_CHECKING:
    from aetherflow.api import Inputs

log = logging.getLogger("aetherflow")

EmitFn = Callable[..., None]

_GROUP_POLL_SECONDS = 0.05  # how often a termination looks whether a stopped group is empty


class ProcessTracker:
    """Process groups of the children the running step started, so stops and timeouts can reach them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[int, tuple[subprocess.Popen[Any], float]] = {}

    @contextlib.contextmanager
    def track(self, proc: subprocess.Popen[Any], kill_grace_seconds: float = 15.0) -> Iterator[None]:
        """Register ``proc`` (started with ``start_new_session=True``) while the block runs."""
        with self._lock:
            self._procs[proc.pid] = (proc, kill_grace_seconds)
        try:
            yield
        finally:
            with self._lock:
                self._procs.pop(proc.pid, None)

    def terminate_all(self, budget_seconds: float | None = None) -> None:
        """SIGTERM every tracked group, then SIGKILL those still alive after their grace (capped by the budget).

        A group whose leader already exited is stopped too: its background members may still run.
        """
        with self._lock:
            procs = list(self._procs.values())
        if not procs:
            return
        start = time.monotonic()
        for proc, _ in procs:
            _signal_group(proc, signal.SIGTERM)
        for proc, grace in procs:
            limit = grace if budget_seconds is None else min(grace, budget_seconds)
            deadline = start + limit
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            while time.monotonic() < deadline and process_group_alive(proc.pid):
                time.sleep(_GROUP_POLL_SECONDS)
            _signal_group(proc, signal.SIGKILL)

    def kill_all(self) -> None:
        """SIGKILL every tracked group at once (second signal)."""
        with self._lock:
            procs = list(self._procs.values())
        for proc, _ in procs:
            _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    if not signal_process_group(proc.pid, sig) and proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)  # not a group leader after all (started without a new session)


class ConnectorPool:
    """Creates connectors on first use (per ``options.cache``) and closes the cached ones at the end of the run."""

    def __init__(
        self,
        registry: Registry,
        resources: Mapping[str, ResolvedResource],
        *,
        env: Mapping[str, str],
        emit: EmitFn,
        redactor: Redactor,
        cache_default: str = "run",
        cache_disabled: bool = False,
    ) -> None:
        self._registry = registry
        self.resources = resources
        self._ctx = RunConnectorContext(env, emit, redactor)
        self._cache_default = cache_default
        self._cache_disabled = cache_disabled
        self._cached: dict[str, Connector] = {}
        self._uncached: list[Connector] = []
        self._lock = threading.Lock()

    def get(self, name: str, kind: str | None = None) -> Any:
        """The connector for resource ``name``; KeyError texts are the spec's."""
        res = self.resources.get(name)
        if res is None:
            raise KeyError(f"Unknown resource: {name}. Known: {sorted(self.resources)}")
        if kind is not None and res.kind != kind:
            raise KeyError(f"Resource {name} is kind={res.kind}, requested kind={kind}")
        with self._lock:
            cached = self._cached.get(name)
            if cached is not None:
                return cached
            conn = self._registry.build_connector(res, self._ctx)
            mode = "none" if self._cache_disabled else str(res.options.get("cache", self._cache_default))
            if mode == "none":
                self._uncached.append(conn)
            else:
                self._cached[name] = conn
            return conn

    def default_retry(self, name: str) -> Any:
        """The retry policy the resource's connector proposes for steps without ``retry:`` (None if none)."""
        if name not in self.resources:
            return None
        return self.get(name).default_retry()

    def close_all(self) -> None:
        """Close every connector created in this run; errors are logged, never raised."""
        with self._lock:
            conns = list(self._cached.values()) + self._uncached
            self._cached.clear()
            self._uncached.clear()
        for conn in conns:
            try:
                conn.close()
            except Exception as exc:  # noqa: BLE001 (closing must never fail the run)
                log.warning("connector close failed for %s: %s", conn.name, error_text(exc))


class StepRunContext:
    """The ``aetherflow.api.StepContext`` of one step (or of a ``with_lock`` inner step)."""

    def __init__(
        self,
        *,
        flow_id: str,
        run_id: str,
        job_id: str,
        step_id: str,
        step_type: str,
        env: Mapping[str, str],
        workspace: JobWorkspace,
        registry: Registry,
        connectors: ConnectorPool,
        redactor: Redactor,
        cancelled: threading.Event,
        tracker: ProcessTracker,
        emit: EmitFn,
        strict_sandbox: bool = True,
        enterprise: bool = False,
        hold_lock: Callable[..., contextlib.AbstractContextManager[None]] | None = None,
        progress_seconds: float = DEFAULT_PROGRESS_SECONDS,
        publish: Callable[[Event], None] | None = None,
    ) -> None:
        self.flow_id, self.run_id, self.job_id = flow_id, run_id, job_id
        self.step_id, self.step_type = step_id, step_type
        self.env = env
        self.workspace = workspace
        self.work_root = workspace.work_root
        self.enterprise = enterprise
        self.cancelled = cancelled
        self._strict_sandbox = strict_sandbox
        self._registry = registry
        self._connectors = connectors
        self._redactor = redactor
        self._tracker = tracker
        self._emit = emit
        self._hold_lock = hold_lock
        self.progress_seconds = progress_seconds
        self._publish = publish  # typed events of the run's bus (``step_progress``)

    # The job directories are created on first use: most control steps never touch them, and creating and
    # removing four directories per job would cost more than the rest of the job's bookkeeping.
    @property
    def artifacts_dir(self) -> Path:
        """The job's artifacts directory (relative step paths resolve here)."""
        return self.workspace.ensure().artifacts

    @property
    def scratch_dir(self) -> Path:
        """The job's scratch directory."""
        return self.workspace.ensure().scratch

    @property
    def manifests_dir(self) -> Path:
        """The job's manifests directory."""
        return self.workspace.ensure().manifests

    def resolve_path(self, path: str | os.PathLike[str]) -> Path:
        """A step path resolved in the sandbox (docs/reference/steps/README.md)."""
        return resolve_in_sandbox(
            path,
            artifacts=self.artifacts_dir,
            work_root=self.work_root,
            strict=self._strict_sandbox,
            enterprise=self.enterprise,
        )

    def connector(self, resource: str, kind: str | None = None) -> Any:
        """The connector of ``resource``, created on first use."""
        return self._connectors.get(resource, kind)

    def resource_kinds(self) -> Mapping[str, tuple[str, str]]:
        """Declared resources: name -> (kind, driver)."""
        return {name: (r.kind, r.driver) for name, r in self._connectors.resources.items()}

    def builtin_connector(self, kind: str, driver: str) -> Any:
        """A new connector of ``kind:driver`` named ``builtin:<driver>``, seeing the run through this step."""
        cls = self._registry.connector_class(f"{kind}:{driver}")
        return cls(ConnectorInit(f"builtin:{driver}", kind, driver, {}, {}, self))

    def track_process(
        self, proc: subprocess.Popen[Any], *, kill_grace_seconds: float = 15.0
    ) -> contextlib.AbstractContextManager[None]:
        """Register a child process group with the runner while it runs."""
        return self._tracker.track(proc, kill_grace_seconds)

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        """Log a structured event with this step's ids."""
        self._emit(event, level=level, job_id=self.job_id, step_id=self.step_id, step_type=self.step_type, **fields)

    def progress(self, unit: Unit, *, total: int | None = None) -> ProgressMeter:
        """A meter whose reports are this step's ``step_progress`` events."""
        return ProgressMeter(self._report_progress, unit, interval=self.progress_seconds, total=total)

    def _report_progress(self, report: ProgressReport) -> None:
        event = StepProgress(
            job_id=self.job_id,
            step_id=self.step_id,
            step_type=self.step_type,
            unit=report.unit,
            done=report.done,
            total=report.total,
            rate=report.rate,
            elapsed_seconds=report.elapsed_seconds,
        )
        if self._publish is not None:
            self._publish(event)
        else:  # a context without a run's event bus (a step run on its own): the same line through ``emit``
            self._emit(event.name, level=event.level, **event.fields())

    def redact(self, text: str) -> str:
        """``text`` with every known secret masked."""
        return self._redactor.mask(text)

    def truncate(self, text: str, limit: int) -> str:
        """At most ``limit`` characters of ``text``, never ending with the beginning of a secret."""
        return self._redactor.truncate(text, limit)

    def hold_lock(
        self, key: str, *, ttl_seconds: int, wait_seconds: float = 0.0
    ) -> contextlib.AbstractContextManager[None]:
        """Hold a state-store lock owned by this run for the duration of the block."""
        if self._hold_lock is None:
            raise RuntimeError("locks are not available in this context (no state store)")
        return self._hold_lock(key, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds, stop=self.cancelled)

    def run_step(self, step_type: str, step_id: str, inputs: Mapping[str, Any]) -> StepResult:
        """Validate ``inputs`` with ``step_type``'s model and run it here (used by ``with_lock``)."""
        cls = self._registry.step_class(step_type)
        model = validate_inputs(cls.inputs_model, step_id, inputs)
        inner = self.derive(step_id=step_id, step_type=step_type)
        return cls().run(model, inner)

    def derive(self, *, step_id: str, step_type: str) -> StepRunContext:
        """The same context for another step id/type (same job, locks, cancellation)."""
        return StepRunContext(
            flow_id=self.flow_id,
            run_id=self.run_id,
            job_id=self.job_id,
            step_id=step_id,
            step_type=step_type,
            env=self.env,
            workspace=self.workspace,
            registry=self._registry,
            connectors=self._connectors,
            redactor=self._redactor,
            cancelled=self.cancelled,
            tracker=self._tracker,
            emit=self._emit,
            strict_sandbox=self._strict_sandbox,
            enterprise=self.enterprise,
            hold_lock=self._hold_lock,
            progress_seconds=self.progress_seconds,
            publish=self._publish,
        )


def validate_inputs(model: type[Inputs], step_id: str, inputs: Mapping[str, Any]) -> Inputs:
    """Required keys first (spec's ``missing inputs`` message, declaration order), then the model's checks."""
    from pydantic import ValidationError

    missing = [
        name
        for name, info in model.model_fields.items()
        if info.is_required() and name not in inputs and (info.alias is None or info.alias not in inputs)
    ]
    if missing:
        raise InvalidValue(f"Step {step_id} missing inputs: {missing}")
    try:
        return model.model_validate(dict(inputs))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<inputs>'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidValue(f"Step {step_id} invalid inputs: {problems}") from None
