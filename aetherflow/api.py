"""The plugin contract: what a step or connector author implements, and the narrow context a step sees.

Built-in steps (``aetherflow.steps``) and connectors (``aetherflow.connectors``) use only this module, exactly
like third-party plugins. Nothing here imports a heavy library.
"""

from __future__ import annotations

import abc
import enum
import functools
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar

from aetherflow.booleans import bool_word
from aetherflow.deadline import Deadline, attach_socket
from aetherflow.errors import (
    AetherFlowError,
    ConnectorError,
    Interrupted,
    InvalidResult,
    InvalidValue,
    LockBusy,
    Permanent,
    StepFailed,
    StepRetryable,
)
from aetherflow.extraction import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_RATIO,
    DEFAULT_MAX_TOTAL_MB,
    ArchiveLimits,
    ArchiveMember,
    ArchiveRefused,
    WriteBudget,
    check_members,
    safe_join,
    tar_member,
    zip_member,
)
from aetherflow.progress import ProgressMeter, Unit

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_TOTAL_MB",
    "AetherFlowError",
    "ArchiveLimits",
    "ArchiveMember",
    "ArchiveRefused",
    "CancelToken",
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "ConnectorInit",
    "Deadline",
    "Inputs",
    "Interrupted",
    "InvalidResult",
    "InvalidValue",
    "LockBusy",
    "Permanent",
    "ProgressMeter",
    "Registration",
    "RemoteFileMeta",
    "RetryPolicy",
    "Status",
    "Step",
    "StepContext",
    "StepFailed",
    "StepResult",
    "StepRetryable",
    "WriteBudget",
    "attach_socket",
    "check_cancelled",
    "check_members",
    "parent_death_preexec",
    "process_group_alive",
    "register_connector",
    "register_step",
    "safe_join",
    "signal_process_group",
    "tar_member",
    "zip_member",
]


class Status(enum.StrEnum):
    """Statuses of runs, jobs and steps as the state store records them."""

    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    BLOCKED = "BLOCKED"
    INTERRUPTED = "INTERRUPTED"


if TYPE_CHECKING:
    from pydantic import BaseModel

    class Inputs(BaseModel):
        """Base of every step's input model: immutable, unknown keys rejected, numbers/booleans as text accepted."""

else:

    def __getattr__(name: str) -> Any:
        # pydantic is imported when the first step model is defined, not by whoever imports the API: the core
        # (validation, the state commands) needs Status, RetryPolicy and StepResult, and a CronJob pod pays for
        # every import at start-up.
        if name == "Inputs":
            from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

            class Inputs(BaseModel):
                """Base of every step's input model: immutable, unknown keys rejected, numbers/booleans as text
                accepted."""

                model_config = ConfigDict(
                    frozen=True, extra="forbid", populate_by_name=True, arbitrary_types_allowed=True
                )

                @field_validator("*", mode="before")
                @classmethod
                def _lax_booleans(cls, value: Any, info: ValidationInfo) -> Any:
                    # the words pydantic takes, padded or not: a boolean input reads like a setting or an option
                    if isinstance(value, str) and info.field_name in _bool_fields(cls):
                        found = bool_word(value)
                        return value if found is None else found
                    return value

            globals()["Inputs"] = Inputs
            return Inputs
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _bool_fields(model: Any) -> frozenset[str]:
    """Names of a step input model's fields typed ``bool`` or ``bool | None``."""
    return frozenset(name for name, info in model.model_fields.items() if info.annotation in (bool, bool | None))


InputsT = TypeVar("InputsT", bound="Inputs")


@dataclass(frozen=True, slots=True)
class StepResult:
    """What a step returns: SUCCESS or SKIPPED, an output mapping, and an optional reason."""

    status: Status
    output: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None

    @classmethod
    def success(cls, output: Mapping[str, Any] | None = None, /, **fields: Any) -> StepResult:
        """A SUCCESS result with ``output`` and/or keyword fields as its output mapping."""
        return cls(Status.SUCCESS, {**(output or {}), **fields})

    @classmethod
    def skipped(cls, reason: str, output: Mapping[str, Any] | None = None, /, **fields: Any) -> StepResult:
        """A SKIPPED result; ``reason`` is also put in the output unless the output has one."""
        out = {**(output or {}), **fields}
        out.setdefault("reason", reason)
        return cls(Status.SKIPPED, out, reason)


class CancelToken(Protocol):
    """Set when the step must stop: a stop request (SIGTERM/SIGINT) or the step's timeout."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def check_cancelled(cancelled: CancelToken | None, what: str, reason: str = "the step was cancelled") -> None:
    """Raise ``Interrupted("<what> stopped: <reason>")`` when ``cancelled`` is set (the one check every transfer,
    archive and share loop calls between chunks)."""
    if cancelled is not None and cancelled.is_set():
        raise Interrupted(f"{what} stopped: {reason}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A step retry policy (flow ``retry:`` block, or a connector's default for steps without one)."""

    max_attempts: int = 1
    backoff_seconds: float = 0.0
    factor: float = 1.0
    max_delay_seconds: float | None = None
    retry_on_exceptions: tuple[str, ...] | None = None
    retry_on_exit_codes: tuple[int, ...] | None = None
    transient_only: bool = False  # connector defaults retry only transient failures

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (2, 3, ...)."""
        delay = self.backoff_seconds * self.factor ** max(attempt - 2, 0)
        return min(delay, self.max_delay_seconds) if self.max_delay_seconds else delay


class StepContext(Protocol):
    """The narrow view of the run a step gets; built by the runner for each step."""

    flow_id: str
    run_id: str
    job_id: str
    step_id: str
    step_type: str
    env: Mapping[str, str]  # the immutable env snapshot
    work_root: Path

    @property
    def artifacts_dir(self) -> Path:
        """The job's artifacts directory (created on first use); relative step paths resolve here."""
        ...

    @property
    def scratch_dir(self) -> Path:
        """The job's scratch directory (created on first use)."""
        ...

    @property
    def manifests_dir(self) -> Path:
        """The job's manifests directory (created on first use)."""
        ...

    enterprise: bool

    @property
    def cancelled(self) -> CancelToken:
        """Set when the step must stop (stop request or timeout); check it in loops and while waiting."""
        ...

    def resolve_path(self, path: str | os.PathLike[str]) -> Path:
        """A step path resolved in the sandbox: relative to artifacts, absolute only under allowed roots."""
        ...

    def connector(self, resource: str, kind: str | None = None) -> Any:
        """The connector of a flow resource, created on first use and closed at the end of the run."""
        ...

    def resource_kinds(self) -> Mapping[str, tuple[str, str]]:
        """Declared resources: name -> (kind, driver)."""
        ...

    def builtin_connector(self, kind: str, driver: str) -> Any:
        """A new connector of the registered ``kind:driver`` with empty config and options: a step's fallback when no
        resource is declared. The registry resolves it, so steps never name a connector module."""
        ...

    def track_process(
        self, proc: subprocess.Popen[Any], *, kill_grace_seconds: float = 15.0
    ) -> AbstractContextManager[None]:
        """Register a child (started in its own session) so stops and timeouts reach its process group."""
        ...

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        """Log a structured event with this step's flow/run/job/step ids (redacted)."""
        ...

    def progress(self, unit: Unit, *, total: int | None = None) -> ProgressMeter:
        """A meter of this step's rows or bytes: ``step_progress`` at most every ``AETHERFLOW_PROGRESS_SECONDS``."""
        ...

    def redact(self, text: str) -> str:
        """``text`` with every known secret masked."""
        ...

    def truncate(self, text: str, limit: int) -> str:
        """The first ``limit`` characters of ``text`` at most, cut before any beginning of a secret (not masked)."""
        ...

    def hold_lock(self, key: str, *, ttl_seconds: int, wait_seconds: float = 0.0) -> AbstractContextManager[None]:
        """Hold a state-store lock owned by this run (heartbeat while held); raises LockBusy."""
        ...

    def run_step(self, step_type: str, step_id: str, inputs: Mapping[str, Any]) -> StepResult:
        """Validate ``inputs`` against another step type's model and run it in this context (no state record)."""
        ...


class Step(abc.ABC, Generic[InputsT]):
    """A registered step type: a typed ``Inputs`` model and ``run``."""

    inputs_model: ClassVar[type[Inputs]]
    #: the ``kind`` its ``inputs.resource`` must have, when the step uses a resource
    resource_kind: ClassVar[str | None] = None
    #: every key its output mapping can have (conditional ones included), so validation can check ``steps.S.K`` and
    #: ``result.K``; None: the keys are not known before it runs (never checked)
    result_keys: ClassVar[frozenset[str] | None] = None

    @abc.abstractmethod
    def run(self, inputs: InputsT, ctx: StepContext) -> StepResult:
        """Do the work; return SUCCESS or SKIPPED, raise on failure."""


class ConnectorContext(Protocol):
    """What a connector may use from the run: env snapshot, logging and redaction."""

    env: Mapping[str, str]

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None: ...

    def redact(self, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class ConnectorInit:
    """Everything a connector is built from: the resource's rendered, decoded config and options."""

    name: str
    kind: str
    driver: str
    config: Mapping[str, Any]
    options: Mapping[str, Any]
    ctx: ConnectorContext


@dataclass(frozen=True)
class RemoteFileMeta:
    """A remote file or directory as upstream's connector contract lists it (``list(dir)``): sha256 when known,
    else size and mtime."""

    rel_path: str | None = None
    path: str | None = None
    name: str | None = None
    is_dir: bool | None = False
    size: int | None = None
    mtime: float | None = None
    sha256: str | None = None


class Connector:
    """Base of connectors. Heavy libraries are imported inside methods, never at module top."""

    #: declared ``config``/``options`` keys (unknown keys are validation errors); None: not checked
    config_keys: ClassVar[frozenset[str] | None] = None
    options_keys: ClassVar[frozenset[str] | None] = None

    def __init__(self, init: ConnectorInit) -> None:
        self.init = init
        self.name = init.name
        self.config = init.config
        self.options = init.options

    def default_retry(self) -> RetryPolicy | None:
        """The retry policy of steps using this resource that have no ``retry:`` of their own."""
        return None

    def close(self) -> None:
        """Release connections; called once at the end of the run (errors are logged, never fatal)."""
        return None


# -- child processes -------------------------------------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl``, looked up in the parent: the child must not load libraries between fork and exec."""
    import ctypes  # only runs that start child processes need it

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    fn: Callable[..., int] = prctl
    return fn


def parent_death_preexec() -> Callable[[], None] | None:
    """The ``preexec_fn`` giving a child SIGKILL when this process dies (Linux ``PR_SET_PDEATHSIG``), else None.

    Call it in the thread that starts (and waits for) the child, right before ``subprocess.Popen``/``run``: the
    kernel ties the signal to that thread. A child whose parent died before the signal was armed kills itself.
    Plugin steps that start processes pass it too, with ``start_new_session=True``
    (docs/reference/plugins-and-bundles.md).
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = _prctl()
    if prctl is None:
        return None
    import ctypes

    get_errno = ctypes.get_errno
    parent_pid = os.getpid()
    sigkill = int(signal.SIGKILL)

    def setup() -> None:
        if prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0) != 0:
            raise OSError(get_errno(), "prctl(PR_SET_PDEATHSIG, SIGKILL) failed")
        if os.getppid() != parent_pid:  # the parent died before the signal was armed
            os.kill(os.getpid(), sigkill)

    return setup


def signal_process_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to process group ``pgid``; False when no process of the group is left (or may be signalled).

    Signal the group even after its leader exited: background processes the leader started stay members, and while
    any of them lives the kernel does not hand the group's id to another process.
    """
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def process_group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a member (an exited member nobody reaped yet counts)."""
    return signal_process_group(pgid, 0)


# -- registration ------------------------------------------------------------------------------------------------------
# Decorators only record the class: the plugin loader (aetherflow.plugins) moves the records into the process's
# Registry after each entry point or plugin file, so nothing is registered globally and tests keep their own registry.

_TypeT = TypeVar("_TypeT", bound=type)


@dataclass(frozen=True, slots=True)
class Registration:
    """One ``register_step``/``register_connector`` call, waiting for the plugin loader."""

    what: str  # "step" or "connector"
    name: str  # the step type, or "kind:driver"
    target: type[Any]


_pending: list[Registration] = []


def register_step(name: str) -> Callable[[_TypeT], _TypeT]:
    """Class decorator: register a ``Step`` subclass as step type ``name`` (duplicates fail at plugin load)."""
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"register_step needs a non-empty step type name, got {name!r}")

    def decorate(cls: _TypeT) -> _TypeT:
        _pending.append(Registration("step", name, cls))
        return cls

    return decorate


def register_connector(kind: str, driver: str) -> Callable[[_TypeT], _TypeT]:
    """Class decorator: register a ``Connector`` subclass under ``kind:driver`` (duplicates fail at plugin load)."""
    for label, value in (("kind", kind), ("driver", driver)):
        if not isinstance(value, str) or not value.strip() or ":" in value:
            raise TypeError(f"register_connector needs a non-empty {label} without ':', got {value!r}")

    def decorate(cls: _TypeT) -> _TypeT:
        _pending.append(Registration("connector", f"{kind}:{driver}", cls))
        return cls

    return decorate


def take_registrations() -> list[Registration]:
    """The registrations recorded since the last call, oldest first (used by the plugin loader)."""
    taken = list(_pending)
    del _pending[: len(taken)]
    return taken
