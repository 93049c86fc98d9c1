"""``external.process``: run an OS process with a timeout, retries, log routing, output checks and idempotency.

Every child starts in its own session (so signals reach its grandchildren through the process group), on Linux with a
parent-death signal of SIGKILL (so it dies with the runner, even when the runner is SIGKILLed), and is registered with
the runner while it runs (so a stop request or a step timeout reaches it). The child is started from the thread that
waits for it: the kernel delivers the parent-death signal when the *thread* that forked the child ends.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import glob
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from aetherflow.api import Inputs, Interrupted, Step, StepContext, StepResult, parent_death_preexec

__all__ = [
    "ExternalProcess",
    "ExternalProcessInputs",
    "IdempotencyInputs",
    "LogInputs",
    "ProcessRetryInputs",
    "SuccessInputs",
    "build_argv",
]

LOG_MODES = ("inherit", "capture", "file", "discard")
STRATEGIES = ("none", "marker", "atomic_dir")

_POLL_SECONDS = 0.2  # how often a wait looks at the cancellation token
_READ_CHUNK = 64 * 1024
_MAX_LINE_BYTES = 64 * 1024  # a longer line without a newline is logged in pieces (bounded memory)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


# -- inputs ----------------------------------------------------------------------------------------------------------


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
    """``log``: where stdout and stderr go."""

    stdout: str = "inherit"
    stderr: str = "inherit"
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
    """Inputs of ``external.process`` (docs/reference/steps/process.md)."""

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
    """The argv of the child for each command form (docs/reference/steps/process.md); no shell unless ``shell``."""
    if isinstance(command, str):
        if not shell:
            return [command, *args]  # a single program path, never split
        return ["/bin/sh", "-c", " ".join([command, *(shlex.quote(a) for a in args)])]
    argv = [*command, *args]
    return ["/bin/sh", "-c", shlex.join(argv)] if shell else argv


# -- the step --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything resolved before the first attempt, so a sandbox error fails before any process starts."""

    argv: list[str]
    shown_argv: list[str]  # redacted element by element, for events and errors
    env: dict[str, str]
    cwd: Path | None
    stdout_mode: str
    stderr_mode: str
    log_file: Path | None
    capture_limit: int
    timeout: float | None
    grace: float
    required: list[tuple[str, Path]]
    globs: list[tuple[str, Path]]
    forbidden: list[tuple[str, Path]]
    marker: Path | None
    temp_dir: Path | None
    final_dir: Path | None


@dataclass(slots=True)
class _Outcome:
    """One finished process attempt."""

    returncode: int | None  # None: timed out
    stdout: bytes | None
    stderr: bytes | None


class ExternalProcess(Step[ExternalProcessInputs]):
    """Run an OS process (docs/reference/steps/process.md)."""

    inputs_model = ExternalProcessInputs

    def run(self, inputs: ExternalProcessInputs, ctx: StepContext) -> StepResult:
        plan = _make_plan(inputs, ctx)
        retry = inputs.retry
        for attempt in range(1, retry.max_attempts + 1):
            if attempt > 1 and ctx.cancelled.wait(retry.delay_before(attempt)):
                raise Interrupted(f"stop requested before external.process attempt {attempt}")
            if plan.marker is not None and plan.marker.exists() and _output_problem(plan) is None:
                return StepResult.skipped("marker_present", skipped=True, marker=str(plan.marker))
            if ctx.cancelled.is_set():
                raise Interrupted(f"stop requested before external.process attempt {attempt}")
            outcome = _run_attempt(plan, attempt, ctx)
            last = attempt == retry.max_attempts
            if outcome.returncode is None:
                ctx.emit("external_process_timeout", level="WARNING", attempt=attempt)
                if retry.retry_on_timeout and not last:
                    continue
                raise TimeoutError(f"external.process timed out after {plan.timeout}s")
            rc = outcome.returncode
            if rc not in inputs.success.exit_codes:
                ctx.emit("external_process_exit", level="WARNING", attempt=attempt, exit_code=rc)
                if rc in retry.retry_on_exit_codes and not last:
                    continue
                raise _exit_failure(plan, rc, outcome.stderr)
            return self._finish(plan, inputs, ctx, attempt, outcome)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    @staticmethod
    def _finish(
        plan: _Plan, inputs: ExternalProcessInputs, ctx: StepContext, attempt: int, outcome: _Outcome
    ) -> StepResult:
        if plan.temp_dir is not None and plan.final_dir is not None:
            _publish(plan.temp_dir, plan.final_dir, atomic_rename=inputs.idempotency.atomic_rename)
        problem = _output_problem(plan)
        if problem is not None:
            error = RuntimeError(f"external.process outputs invalid: {problem}")
            error.permanent = True  # type: ignore[attr-defined]  # the same outputs would be checked again
            raise error
        ctx.emit("external_process_success", attempt=attempt, exit_code=outcome.returncode)
        output: dict[str, Any] = {"exit_code": outcome.returncode, "attempts": attempt}
        if outcome.stdout is not None:
            output["stdout"] = outcome.stdout.decode("utf-8", errors="replace")
        if outcome.stderr is not None:
            output["stderr"] = outcome.stderr.decode("utf-8", errors="replace")
        if plan.log_file is not None:
            output["log_file"] = str(plan.log_file)
        output.update(inputs.outputs)
        return StepResult.success(output)


def _make_plan(inputs: ExternalProcessInputs, ctx: StepContext) -> _Plan:
    argv = build_argv(inputs.command, list(inputs.args), shell=inputs.shell)
    idem = inputs.idempotency
    temp_dir = final_dir = None
    if idem.strategy == "atomic_dir" and idem.temp_output_dir and idem.final_output_dir:
        temp_dir = ctx.resolve_path(idem.temp_output_dir)
        final_dir = ctx.resolve_path(idem.final_output_dir)
    log = inputs.log
    uses_file = "file" in (log.stdout, log.stderr)
    success = inputs.success
    required = [*success.require_files, *([success.marker_file] if success.marker_file else [])]
    marker = inputs.marker if idem.strategy == "marker" else None
    return _Plan(
        argv=argv,
        shown_argv=[ctx.redact(item) for item in argv],
        env=_child_env(inputs, ctx, temp_dir),
        cwd=ctx.resolve_path(inputs.cwd) if inputs.cwd else None,
        stdout_mode=log.stdout,
        stderr_mode=log.stderr,
        log_file=ctx.resolve_path(log.file_path) if uses_file and log.file_path else None,
        capture_limit=log.max_capture_kb * 1024,
        timeout=float(inputs.timeout_seconds) if inputs.timeout_seconds is not None else None,
        grace=float(inputs.kill_grace_seconds),
        required=[(p, ctx.resolve_path(p)) for p in required],
        globs=[(g, ctx.resolve_path(g)) for g in success.require_glob],
        forbidden=[(p, ctx.resolve_path(p)) for p in success.forbid_files],
        marker=ctx.resolve_path(marker) if marker else None,
        temp_dir=temp_dir,
        final_dir=final_dir,
    )


def _child_env(inputs: ExternalProcessInputs, ctx: StepContext, output_dir: Path | None) -> dict[str, str]:
    env = dict(ctx.env) if inputs.inherit_env else {}
    env.update(
        AETHERFLOW_FLOW_ID=ctx.flow_id,
        AETHERFLOW_RUN_ID=ctx.run_id,
        AETHERFLOW_JOB_ID=ctx.job_id,
        AETHERFLOW_STEP_ID=ctx.step_id,
        AETHERFLOW_ARTIFACTS_DIR=str(ctx.artifacts_dir),
    )
    if output_dir is not None:
        env["AETHERFLOW_OUTPUT_DIR"] = str(output_dir)
    env.update({str(name): "" if value is None else str(value) for name, value in inputs.env.items()})
    return env


def _exit_failure(plan: _Plan, rc: int, stderr: bytes | None) -> RuntimeError:
    message = f"external.process failed with exit code {rc}\n{plan.shown_argv}"
    if stderr is not None:
        message += "\n" + stderr.decode("utf-8", errors="replace")
    # The spec records this as a plain RuntimeError; the runner's retry_on.exit_codes reads the child's code.
    error = RuntimeError(message)
    error.exit_code = rc  # type: ignore[attr-defined]
    error.child_exit_code = rc  # type: ignore[attr-defined]
    return error


def _output_problem(plan: _Plan) -> str | None:
    """The first failed success check as the spec's reason, or None when every check passes."""
    for raw, path in plan.required:
        if not path.exists():
            return f"missing_required_file:{raw}"
    for raw, pattern in plan.globs:
        if not glob.glob(str(pattern), recursive=True):
            return f"missing_required_glob:{raw}"
    for raw, path in plan.forbidden:
        if path.exists() or path.is_symlink():
            return f"forbidden_file_present:{raw}"
    return None


# -- one process attempt ---------------------------------------------------------------------------------------------


def _run_attempt(plan: _Plan, attempt: int, ctx: StepContext) -> _Outcome:
    if plan.temp_dir is not None:
        shutil.rmtree(plan.temp_dir, ignore_errors=True)
        plan.temp_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        log_file: IO[bytes] | None = None
        if plan.log_file is not None:
            plan.log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file = stack.enter_context(open(plan.log_file, "ab"))
        ctx.emit("external_process_start", attempt=attempt, command=plan.shown_argv)
        proc = subprocess.Popen(
            plan.argv,
            cwd=plan.cwd,
            env=plan.env,
            stdin=subprocess.DEVNULL,
            stdout=_target(plan.stdout_mode, log_file),
            stderr=_target(plan.stderr_mode, log_file),
            start_new_session=True,
            preexec_fn=parent_death_preexec(),  # noqa: PLW1509 (PR_SET_PDEATHSIG; prctl is looked up before fork)
        )
        stop = threading.Event()
        readers: dict[str, _LineReader] = {}
        # Unwound in reverse: kill a child still running (unexpected error), end the readers, then close the pipes.
        stack.callback(_close_pipes, proc)
        stack.callback(_end_readers, readers, stop)
        stack.callback(_kill_if_running, proc)
        _start_readers(proc, plan, ctx, stop, readers)
        with ctx.track_process(proc, kill_grace_seconds=plan.grace):
            state = _wait(proc, plan.timeout, ctx)
            if state != "exited":
                _stop_group(proc, plan.grace)
            _join(readers, ctx, stop)
        if state == "cancelled":
            raise Interrupted(f"stop requested while external.process attempt {attempt} was running")
        outcome = _Outcome(
            returncode=proc.returncode if state == "exited" else None,
            stdout=readers["stdout"].capture.value() if "stdout" in readers else None,
            stderr=readers["stderr"].capture.value() if "stderr" in readers else None,
        )
    return outcome


def _target(mode: str, log_file: IO[bytes] | None) -> int | IO[bytes] | None:
    if mode == "capture":
        return subprocess.PIPE
    if mode == "discard":
        return subprocess.DEVNULL
    if mode == "file":
        return log_file
    return None  # inherit: the runner's own stdout/stderr


def _wait(proc: subprocess.Popen[bytes], timeout: float | None, ctx: StepContext) -> str:
    """``exited``, ``timeout`` or ``cancelled``: wait in short slices so a stop request is seen promptly."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if ctx.cancelled.is_set():
            return "cancelled"
        slice_seconds = _POLL_SECONDS
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout"
            slice_seconds = min(slice_seconds, remaining)
        try:
            proc.wait(timeout=slice_seconds)
            return "exited"
        except subprocess.TimeoutExpired:
            continue


def _stop_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the process group, give it ``grace`` seconds to leave, then SIGKILL whatever is left."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Grandchildren may outlive the leader: they get the rest of the grace too. Members that already exited but
    # were not reaped yet (no reaping init) still count, so this may wait the full grace; SIGKILL is harmless then.
    while time.monotonic() < deadline and _group_alive(proc.pid):
        time.sleep(0.05)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _kill_if_running(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


# -- capture ---------------------------------------------------------------------------------------------------------


class _Capture:
    """The first ``limit`` bytes of a stream; when the stream was longer, cut before any partial secret at the end."""

    def __init__(self, limit: int, cut: Callable[[str, int], str]) -> None:
        self._limit = limit
        self._cut = cut
        self._data = bytearray()
        self._truncated = False

    def keep(self, chunk: bytes) -> None:
        room = self._limit - len(self._data)
        if room > 0:
            self._data += chunk[:room]
        self._truncated = self._truncated or len(chunk) > room

    def value(self) -> bytes:
        if not self._truncated:
            return bytes(self._data)
        return _safe_head(bytes(self._data), len(self._data), self._cut)


def _safe_head(data: bytes, limit: int, cut: Callable[[str, int], str]) -> bytes:
    """The first ``limit`` bytes of ``data``, shortened so that they never end with the beginning of a secret."""
    text = data[:limit].decode("utf-8", errors="surrogateescape")  # round-trips any bytes
    return cut(text, len(text)).encode("utf-8", errors="surrogateescape")


class _LineReader(threading.Thread):
    """Drains one pipe: keeps the first bytes in a capture buffer and logs every line as an event."""

    def __init__(
        self,
        pipe: IO[bytes],
        capture: _Capture,
        on_line: Callable[[str], None],
        stop: threading.Event,
        cut: Callable[[str, int], str],
    ) -> None:
        super().__init__(name="external-process-reader", daemon=True)
        self._pipe = pipe
        self.capture = capture
        self._cut = cut
        self._on_line = on_line
        self._stop_reading = stop

    def run(self) -> None:
        fd = self._pipe.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLPRI)
        pending = bytearray()
        # Poll instead of blocking reads: a grandchild that escaped the process group may hold the pipe open,
        # and a stop request must still end this thread.
        while not self._stop_reading.is_set():
            if not poller.poll(int(_POLL_SECONDS * 1000)):
                continue
            chunk = os.read(fd, _READ_CHUNK)
            if not chunk:
                break
            self.capture.keep(chunk)
            pending += chunk
            self._emit_lines(pending)
        if pending:
            self._emit(bytes(pending))

    def _emit_lines(self, pending: bytearray) -> None:
        start = 0
        while (end := pending.find(b"\n", start)) >= 0:
            self._emit(bytes(pending[start:end]))
            start = end + 1
        del pending[:start]
        while len(pending) > _MAX_LINE_BYTES:
            # A piece never ends inside a secret: the secret's start stays pending and is logged whole, masked.
            piece = _safe_head(bytes(pending), _MAX_LINE_BYTES, self._cut) or bytes(pending)
            self._emit(piece)
            del pending[: len(piece)]

    def _emit(self, raw: bytes) -> None:
        try:
            self._on_line(raw.decode("utf-8", errors="replace").removesuffix("\r"))
        except Exception:  # noqa: BLE001 (a logging failure must not stop draining, or the child blocks on a full pipe)
            return


def _start_readers(
    proc: subprocess.Popen[bytes], plan: _Plan, ctx: StepContext, stop: threading.Event, readers: dict[str, _LineReader]
) -> None:
    """Start one reader per captured stream, registering each in ``readers`` before it starts (for cleanup)."""
    streams = (("stdout", proc.stdout, "INFO"), ("stderr", proc.stderr, "WARNING"))
    for name, pipe, level in streams:
        if pipe is None:
            continue
        event = f"external_process_{name}"

        def on_line(line: str, event: str = event, level: str = level) -> None:
            ctx.emit(event, level=level, message=line)

        reader = _LineReader(pipe, _Capture(plan.capture_limit, ctx.truncate), on_line, stop, ctx.truncate)
        readers[name] = reader
        reader.start()


def _end_readers(readers: Mapping[str, _LineReader], stop: threading.Event) -> None:
    stop.set()
    for reader in readers.values():
        if reader.is_alive():
            reader.join()


def _join(readers: Mapping[str, _LineReader], ctx: StepContext, stop: threading.Event) -> None:
    """Wait until the readers reached the end of their pipes (the capture is then complete); a stop ends them.

    A background process that left the process group and keeps the pipe open keeps this waiting, as it would
    ``subprocess.run(capture_output=True)``, until a stop request or the runner's step timeout.
    """
    for reader in readers.values():
        while reader.is_alive():
            if ctx.cancelled.is_set():
                stop.set()
            reader.join(_POLL_SECONDS)


# -- atomic_dir publication ------------------------------------------------------------------------------------------


def _publish(temp: Path, final: Path, *, atomic_rename: bool) -> None:
    """Move the attempt's output from ``temp`` to ``final`` (replace it, or merge entries into it)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if not atomic_rename:
        _merge_into(temp, final)
        return
    try:
        if not final.exists() and not final.is_symlink():
            os.rename(temp, final)
        elif _exchange(temp, final):
            _remove(temp)  # now holds the previous final
        else:
            _replace_by_two_renames(temp, final)
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            raise OSError(
                exc.errno,
                f"atomic_dir: {temp} and {final} are on different filesystems; put temp_output_dir and "
                "final_output_dir on one filesystem or set idempotency.atomic_rename: false",
            ) from exc
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``); False when unsupported here."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # filesystem or kernel without the flag
        return False
    raise OSError(code, f"renameat2({a}, {b}, RENAME_EXCHANGE) failed: {os.strerror(code)}")


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    typed: Callable[..., int] = fn
    return typed


def _replace_by_two_renames(temp: Path, final: Path) -> None:
    backup = final.with_name(f".{final.name}.replaced-{os.getpid()}")
    _remove(backup)
    os.rename(final, backup)
    try:
        os.rename(temp, final)
    except OSError:
        os.rename(backup, final)
        raise
    _remove(backup)


def _merge_into(temp: Path, final: Path) -> None:
    final.mkdir(parents=True, exist_ok=True)
    for entry in sorted(temp.iterdir()):
        target = final / entry.name
        _remove(target)
        shutil.move(entry, target)
    _remove(temp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
