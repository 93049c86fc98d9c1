"""What an ``external.process`` step resolves before its first attempt: argv, environment, paths and modes.

Everything sandbox-resolved is resolved here, so a path error fails the step before any process starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aetherflow.api import StepContext
from aetherflow.steps.process_inputs import ExternalProcessInputs, build_argv

__all__ = ["Plan", "make_plan"]


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything resolved before the first attempt."""

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

    def mode(self, stream: str) -> str:
        """The log mode of ``stream`` (``stdout`` or ``stderr``)."""
        return self.stdout_mode if stream == "stdout" else self.stderr_mode


def make_plan(inputs: ExternalProcessInputs, ctx: StepContext) -> Plan:
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
    return Plan(
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
    """The child's environment: the snapshot (or nothing), the run's ids and dirs, then ``inputs.env``."""
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
