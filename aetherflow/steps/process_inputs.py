"""Inputs of ``external.process`` and the argv each command form gives."""

from __future__ import annotations

import shlex
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from aetherflow.api import Inputs

__all__ = [
    "LOG_MODES",
    "STRATEGIES",
    "ExternalProcessInputs",
    "IdempotencyInputs",
    "LogInputs",
    "ProcessRetryInputs",
    "SuccessInputs",
    "build_argv",
]

#: ``inherit`` and ``capture`` read the child's lines and log them (masked); ``passthrough`` hands the child the
#: runner's own streams, so its output reaches the pod log unmasked.
LOG_MODES = ("inherit", "capture", "file", "discard", "passthrough")
STRATEGIES = ("none", "marker", "atomic_dir")

_LOG_MODE_HELP = (
    "inherit (default): the runner reads each line and logs it as external_process_stdout/stderr, secrets masked, "
    "not kept in the outputs; capture: the same, and the first max_capture_kb are kept in the outputs; "
    "file: appended to log.file_path; discard: dropped; passthrough: the child writes to the runner's own "
    "stdout/stderr unredacted: secrets it prints reach the pod log as they are"
)


def _as_list(value: object) -> object:
    """``null`` -> ``[]``; a single scalar -> a one-item list (upstream accepted both); lists unchanged."""
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [value]
    return value


def _as_dict(value: object) -> object:
    return {} if value is None else value


def _argv_item(value: object) -> str:
    if isinstance(value, str | int | float):  # bool is an int: str(True) == "True", as upstream
        return str(value)
    raise ValueError(f"argv items must be strings or numbers, not {type(value).__name__}")


def _sub_model(value: object) -> object:
    return {} if value is None else value


ArgvItem = Annotated[str, BeforeValidator(_argv_item)]
PathList = Annotated[list[str], BeforeValidator(_as_list)]
CodeList = Annotated[list[int], BeforeValidator(_as_list)]


class LogInputs(Inputs):
    """``log``: where stdout and stderr go.

    Every mode but ``passthrough`` keeps the child's output away from the runner's own streams, so nothing it prints
    reaches the log without masking. ``passthrough`` is the raw, unredacted escape hatch.
    """

    stdout: str = Field("inherit", description=_LOG_MODE_HELP)
    stderr: str = Field("inherit", description=_LOG_MODE_HELP)
    file_path: str | None = None
    max_capture_kb: int = Field(1024, ge=0)

    @field_validator("stdout", "stderr", mode="before")
    @classmethod
    def _known_mode(cls, value: object) -> object:
        if value is None:
            return "inherit"
        mode = str(value).strip().lower()
        if mode not in LOG_MODES:
            raise ValueError(f"Unknown log mode: {value}")
        return mode

    @model_validator(mode="after")
    def _file_needs_path(self) -> LogInputs:
        if "file" in (self.stdout, self.stderr) and not self.file_path:
            raise ValueError("log.file_path is required when stdout/stderr mode is 'file'")
        return self


class SuccessInputs(Inputs):
    """``success``: accepted exit codes and the files that must (not) exist afterwards."""

    exit_codes: CodeList = Field(default_factory=lambda: [0])
    require_files: PathList = Field(default_factory=list)
    require_glob: PathList = Field(default_factory=list)
    forbid_files: PathList = Field(default_factory=list)
    marker_file: str | None = None


class IdempotencyInputs(Inputs):
    """``idempotency``: skip on a marker, or build the output in a temp dir and publish it on success."""

    strategy: Literal["none", "marker", "atomic_dir"] = "none"
    marker_path: str | None = None
    temp_output_dir: str | None = None
    final_output_dir: str | None = None
    atomic_rename: bool = True

    @field_validator("strategy", mode="before")
    @classmethod
    def _known_strategy(cls, value: object) -> object:
        if value is None:
            return "none"
        strategy = str(value).strip().lower()
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown idempotency strategy: {value}. Known: {list(STRATEGIES)}")
        return strategy

    @model_validator(mode="after")
    def _atomic_dir_needs_dirs(self) -> IdempotencyInputs:
        if self.strategy == "atomic_dir" and not (self.temp_output_dir and self.final_output_dir):
            raise ValueError("atomic_dir requires temp_output_dir and final_output_dir")
        return self


class ProcessRetryInputs(Inputs):
    """``retry``: process attempts inside one step attempt."""

    max_attempts: int = Field(1, ge=1)
    backoff_seconds: float = Field(0.0, ge=0)
    backoff_multiplier: float = Field(1.0, ge=0)
    max_backoff_seconds: float = Field(0.0, ge=0)
    retry_on_exit_codes: CodeList = Field(default_factory=list)
    retry_on_timeout: bool = False

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before process attempt ``attempt`` (2, 3, ...)."""
        delay = self.backoff_seconds * self.backoff_multiplier ** (attempt - 2)
        return min(delay, self.max_backoff_seconds) if self.max_backoff_seconds > 0 else delay


class ExternalProcessInputs(Inputs):
    """Inputs of ``external.process``."""

    command: str | list[str]
    args: Annotated[list[ArgvItem], BeforeValidator(_as_list)] = Field(default_factory=list)
    shell: bool = False
    cwd: str | None = None
    inherit_env: bool = True
    env: Annotated[dict[str, Any], BeforeValidator(_as_dict)] = Field(default_factory=dict)
    timeout_seconds: float | None = Field(None, gt=0)
    kill_grace_seconds: float = Field(15.0, ge=0)
    log: Annotated[LogInputs, BeforeValidator(_sub_model)] = Field(default_factory=LogInputs)
    success: Annotated[SuccessInputs, BeforeValidator(_sub_model)] = Field(default_factory=SuccessInputs)
    idempotency: Annotated[IdempotencyInputs, BeforeValidator(_sub_model)] = Field(default_factory=IdempotencyInputs)
    retry: Annotated[ProcessRetryInputs, BeforeValidator(_sub_model)] = Field(default_factory=ProcessRetryInputs)
    outputs: Annotated[dict[str, Any], BeforeValidator(_as_dict)] = Field(default_factory=dict)

    @field_validator("command", mode="before")
    @classmethod
    def _command_shape(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("external.process inputs.command must not be empty")
            return value
        if isinstance(value, list):
            if not value:
                raise ValueError("external.process inputs.command must not be empty")
            return [_argv_item(item) for item in value]
        raise ValueError("external.process inputs.command must be a string or list")

    @model_validator(mode="after")
    def _marker_needs_path(self) -> ExternalProcessInputs:
        if self.idempotency.strategy == "marker" and not self.marker:
            raise ValueError("idempotency strategy 'marker' requires idempotency.marker_path or success.marker_file")
        return self

    @property
    def marker(self) -> str | None:
        """The marker path of the ``marker`` strategy (``idempotency.marker_path``, else ``success.marker_file``)."""
        return self.idempotency.marker_path or self.success.marker_file


def build_argv(command: str | list[str], args: list[str], *, shell: bool) -> list[str]:
    """The argv of the child for each command form (no shell unless ``shell`` is true)."""
    if isinstance(command, str):
        if not shell:
            return [command, *args]  # a single program path, never split
        return ["/bin/sh", "-c", " ".join([command, *(shlex.quote(a) for a in args)])]
    argv = [*command, *args]
    return ["/bin/sh", "-c", shlex.join(argv)] if shell else argv
