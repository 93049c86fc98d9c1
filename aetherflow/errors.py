"""Error types of AetherFlow, each carrying the exit code the CLI maps it to.

The tree::

    AetherFlowError                 exit 1 unless a subclass says otherwise
    ├── SpecErrors                  exit 2: validation found errors (a list of Issue records)
    ├── InputError                  exit 2: settings, env files, flow file, run id ... (one Issue)
    ├── TemplateError (ValueError)  a template could not be parsed or rendered
    │   ├── TemplateSyntaxError
    │   └── TemplateMissingKey
    ├── StepFailed                  a step failed permanently (not retried without retry_on)
    │   ├── StepRetryable           a step failed transiently (retried by the runner's policy)
    │   ├── ConnectorError          a connector failed; ``transient`` decides the retry
    │   └── OutputError             outputs that cannot be stored (permanent)
    │       └── OutputTooLarge      over AETHERFLOW_STATE_MAX_OUTPUT_BYTES
    ├── LockBusy (RuntimeError)     another live invocation holds the lock (a job fails; at run start: overlap)
    ├── LockLost (RuntimeError)     a held lock was taken over or force-released
    ├── StateError                  the state database is missing, newer or unusable
    └── Interrupted                 a stop was requested (SIGTERM/SIGINT)

    Permanent (mixin)               retrying cannot help: never retried; exit 3 when every failure is one
    ├── InvalidValue (ValueError)   a bad input, path or value (recorded as ``ValueError``)
    └── InvalidResult (RuntimeError)  a result a second attempt would find just as wrong

The numbers come from the CLI contract; ``ExitCode`` is their single source (the Helm chart's
podFailurePolicy is checked against it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar


class ExitCode(enum.IntEnum):
    """Process exit codes of every aetherflow command (docs/reference/exit-codes.md)."""

    OK = 0
    FAILED = 1
    INVALID = 2
    PERMANENT = 3  # failed, and every failure is one that retrying cannot fix
    OVERLAP = 75
    SIGINT = 130
    SIGTERM = 143


#: Exit codes after which retrying the pod cannot help (Kubernetes podFailurePolicy FailJob). The overlap code joins
#: them only when it is configured as 75: its default in the chart is 0, which completes the Job.
FAIL_JOB_EXIT_CODES: tuple[int, ...] = (ExitCode.INVALID, ExitCode.PERMANENT)


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation problem: the spec's code, a YAML path, a one-line message, and where it is."""

    code: str
    loc: str
    msg: str
    line: int | None = None
    file: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record in the spec's key order (code, loc, msg, line, file), optional keys only when known."""
        out: dict[str, Any] = {"code": self.code, "loc": self.loc, "msg": self.msg}
        if self.line is not None:
            out["line"] = self.line
        if self.file is not None:
            out["file"] = self.file
        return out

    def __str__(self) -> str:
        if self.file is not None:
            where = f" [{self.file}:{self.line}]" if self.line is not None else f" [{self.file}]"
        else:
            where = f" [line {self.line}]" if self.line is not None else ""
        return f"{self.loc}: {self.code} - {self.msg}{where}"


class AetherFlowError(Exception):
    """Base of every error AetherFlow raises on purpose."""

    exit_code: ClassVar[int] = ExitCode.FAILED


class SpecErrors(AetherFlowError):
    """Validation found errors; nothing was executed."""

    exit_code = ExitCode.INVALID

    def __init__(self, errors: list[Issue], warnings: list[Issue] | None = None, *, path: str | None = None) -> None:
        super().__init__(str(errors[0]) if errors else "invalid input")
        self.errors = errors
        self.warnings = warnings or []
        self.path = path


class InputError(AetherFlowError):
    """Invalid input outside the flow document (settings, env files, run id, missing file); nothing executed."""

    exit_code = ExitCode.INVALID

    def __init__(self, message: str, *, code: str = "settings:invalid", loc: str = "<root>") -> None:
        super().__init__(message)
        self.issue = Issue(code=code, loc=loc, msg=message)


class TemplateError(AetherFlowError, ValueError):
    """A template could not be parsed or rendered."""


class TemplateSyntaxError(TemplateError):
    """Forbidden or malformed template syntax, or a root not allowed in the phase."""

    SENTENCE: ClassVar[str] = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"

    def __init__(self, detail: str | None = None, *, root: str | None = None) -> None:
        super().__init__(f"{self.SENTENCE} ({detail})" if detail else self.SENTENCE)
        self.detail = detail
        self.root = root  # set when the only problem is a root not allowed in the phase


class TemplateMissingKey(TemplateError):
    """A template path is absent (or empty) and has no default."""

    def __init__(self, path: str) -> None:
        super().__init__(f"Missing template key: {path}")
        self.path = path


class StepFailed(AetherFlowError):
    """A step failed. Permanent unless ``transient`` (then the runner's retry policy may try again)."""

    transient: bool = False

    def __init__(self, message: str = "", *, transient: bool | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient
        self.child_exit_code = exit_code
        #: for transient failures: the message once the runner's attempts are used up (``{attempts}`` filled in)
        self.after_retries: str | None = None


class StepRetryable(StepFailed):
    """A step failed for a reason that may pass (retried by the runner's policy)."""

    transient = True


class ConnectorError(StepFailed):
    """A connector failed; ``transient=True`` for refused/reset connections, timeouts, 5xx/429, SMTP 4xx."""


class OutputError(StepFailed):
    """A step's or job's outputs cannot be stored (they contain themselves, or nest too deeply); permanent."""


class OutputTooLarge(OutputError):
    """An output document is larger than ``AETHERFLOW_STATE_MAX_OUTPUT_BYTES``; permanent."""


class LockBusy(AetherFlowError, RuntimeError):
    """A lock is held by another live invocation. Inside a run it fails the job (exit 1, a later retry may succeed);
    only the refusal at run start, which changes no record, exits with the configured overlap code."""

    def __init__(self, key: str, owner: str, expires_at: float | None = None) -> None:
        super().__init__(f"Lock not acquired: {key} (held by {owner})")
        self.key, self.owner, self.expires_at = key, owner, expires_at


class LockLost(AetherFlowError, RuntimeError):
    """A lock this run held was force-released or taken over."""

    def __init__(self, key: str) -> None:
        super().__init__(f"Lock lost: {key}")
        self.key = key


class StateError(AetherFlowError):
    """The state database is missing, of a newer schema, or otherwise unusable."""


class StateInputError(StateError):
    """A state problem the user must fix before anything runs (exit 2)."""

    exit_code = ExitCode.INVALID


def retryable_for(exit_code: int | None) -> bool | None:
    """Whether retrying the invocation could help, as the termination message and ``runs show`` say it: true for a
    failure (1), false for a permanent failure (3), null for everything else."""
    if exit_code == ExitCode.FAILED:
        return True
    if exit_code == ExitCode.PERMANENT:
        return False
    return None


class Permanent:
    """Mixin of the errors that retrying cannot fix: the runner never retries them, and a run whose every failed job
    failed with one exits 3 (see ``is_permanent``)."""


class InvalidValue(Permanent, ValueError):
    """A bad input, path or value (a sandbox refusal, a missing input file); recorded as ``ValueError``."""

    recorded_name: ClassVar[str] = "ValueError"


class InvalidResult(Permanent, RuntimeError):
    """A step's result that a second attempt would find just as wrong; recorded as ``RuntimeError``."""

    recorded_name: ClassVar[str] = "RuntimeError"


def is_permanent(error: BaseException) -> bool:
    """The one retry classification: True when retrying cannot help.

    Permanent: the ``Permanent`` types, template errors (rendering at step time, ``outputs:``), and a ``StepFailed``
    (connector errors included) that is not transient. Everything else (a process's non-zero exit, timeouts,
    transient connector errors, unknown exceptions) is retryable.
    """
    if isinstance(error, Permanent | TemplateError):
        return True
    if isinstance(error, StepFailed):
        return not error.transient
    return False


class Interrupted(AetherFlowError):
    """A stop was requested by SIGTERM/SIGINT; the exit code is 128 + the signal number."""

    def __init__(self, message: str = "", *, signum: int = 15) -> None:
        super().__init__(message)
        self.signum = signum

    @property
    def code(self) -> int:
        """The exit code for this interruption (143 for SIGTERM, 130 for SIGINT)."""
        return 128 + self.signum


def error_text(error: BaseException) -> str:
    """``<ErrorClass>: <message>`` as the spec writes errors (KeyError without its quotes)."""
    # A type may keep the name the contract records for it (a refusal that is a ValueError by contract).
    name = getattr(type(error), "recorded_name", None) or type(error).__name__
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return f"{name}: {message}" if message else name
