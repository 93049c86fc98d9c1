"""One ``external.process`` attempt: start the child, bound it by the timeout, stop its process group.

Every child starts in its own session (so signals reach its grandchildren through the process group), on Linux with a
parent-death signal of SIGKILL (so it dies with the runner, even when the runner is SIGKILLed), and is registered with
the runner while it runs (so a stop request or a step timeout reaches it). The child is started from the thread that
waits for it: the kernel delivers the parent-death signal when the *thread* that forked the child ends.

The timeout is a wall-clock bound on the whole attempt: it also ends the wait for the output pipes, which a background
process of the child may hold open long after the child itself exited.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import IO, Literal

from aetherflow.api import (
    Interrupted,
    StepContext,
    parent_death_preexec,
    process_group_alive,
    signal_process_group,
)
from aetherflow.steps.process_output import POLL_SECONDS, OutputReaders
from aetherflow.steps.process_plan import Plan

__all__ = ["Outcome", "run_attempt"]

#: after the group was stopped, how long the readers may still drain what is left in the pipes
_DRAIN_SECONDS = 1.0

WaitState = Literal["exited", "timeout", "cancelled"]


@dataclass(slots=True)
class Outcome:
    """One finished process attempt."""

    returncode: int | None  # None: timed out
    stdout: bytes | None
    stderr: bytes | None
    exited_with: int | None = None  # timed out after the child exited: its code (a background process held a pipe)


def run_attempt(plan: Plan, attempt: int, ctx: StepContext) -> Outcome:
    """Run the child once; raise ``Interrupted`` on a stop request, return its outcome otherwise."""
    if plan.temp_dir is not None:
        shutil.rmtree(plan.temp_dir, ignore_errors=True)
        plan.temp_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        log_file: IO[bytes] | None = None
        if plan.log_file is not None:
            plan.log_file.parent.mkdir(parents=True, exist_ok=True)
            log_file = stack.enter_context(open(plan.log_file, "ab"))
        ctx.emit("external_process_start", attempt=attempt, command=plan.shown_argv)
        deadline = None if plan.timeout is None else time.monotonic() + plan.timeout
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
        # Registered at once, so a stop or step timeout that comes now already reaches the group.
        stack.enter_context(ctx.track_process(proc, kill_grace_seconds=plan.grace))
        readers = OutputReaders()
        # Unwound in reverse: kill a group still running (unexpected error), end the readers, then close the pipes.
        stack.callback(_close_pipes, proc)
        stack.callback(readers.finish, 0.0)
        stack.callback(_kill_if_running, proc)
        captured = {name: plan.capture_limit for name in ("stdout", "stderr") if plan.mode(name) == "capture"}
        readers.start(proc, ctx, captured)
        state, exited_with = _wait_all(proc, readers, deadline, ctx)
        if state != "exited":
            _stop_group(proc, plan.grace)
        readers.finish(_DRAIN_SECONDS)
        if state == "cancelled":
            raise Interrupted(f"stop requested while external.process attempt {attempt} was running")
        return Outcome(
            returncode=proc.returncode if state == "exited" else None,
            stdout=readers.captured("stdout"),
            stderr=readers.captured("stderr"),
            exited_with=exited_with if state == "timeout" else None,
        )


def _wait_all(
    proc: subprocess.Popen[bytes], readers: OutputReaders, deadline: float | None, ctx: StepContext
) -> tuple[WaitState, int | None]:
    """Wait for the child, then for the ends of its pipes, both within the one deadline.

    Returns the state and, when the child exited before the deadline, its exit code.
    """
    state = _wait(proc, deadline, ctx)
    if state != "exited":
        return state, None
    after = readers.wait(deadline, ctx.cancelled, lambda: process_group_alive(proc.pid))
    return ("exited" if after == "drained" else after), proc.returncode


def _target(mode: str, log_file: IO[bytes] | None) -> int | IO[bytes] | None:
    if mode in ("inherit", "capture"):
        return subprocess.PIPE  # the runner reads the lines and logs them (masked)
    if mode == "discard":
        return subprocess.DEVNULL
    if mode == "file":
        return log_file
    return None  # passthrough: the runner's own stdout/stderr, unmasked


def _wait(proc: subprocess.Popen[bytes], deadline: float | None, ctx: StepContext) -> WaitState:
    """``exited``, ``timeout`` or ``cancelled``: wait in short slices so a stop request is seen promptly."""
    while True:
        if ctx.cancelled.is_set():
            return "cancelled"
        slice_seconds = POLL_SECONDS
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
    """SIGTERM the process group, give it ``grace`` seconds to leave, then SIGKILL whatever is left.

    The group is signalled even when its leader already exited: its background processes are still members.
    """
    signal_process_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # Grandchildren may outlive the leader: they get the rest of the grace too. Members that already exited but
    # were not reaped yet (no reaping init) still count, so this may wait the full grace; SIGKILL is harmless then.
    while time.monotonic() < deadline and process_group_alive(proc.pid):
        time.sleep(0.05)
    signal_process_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _kill_if_running(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        signal_process_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
