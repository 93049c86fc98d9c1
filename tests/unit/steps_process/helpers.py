"""Helpers for ``external.process`` tests: the harness type and watching the processes a step starts."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetherflow.redaction import Redactor
from aetherflow.runner.context import StepRunContext
from tests.support.context import RecordedEvents, run_step

PY = sys.executable


@dataclass
class ProcessHarness:
    """The context, its recorded events and its redactor; ``run(**inputs)`` runs ``external.process``."""

    ctx: StepRunContext
    events: RecordedEvents
    redactor: Redactor

    @property
    def artifacts(self) -> Path:
        return self.ctx.artifacts_dir

    def run(self, **inputs: Any) -> Any:
        return run_step(self.ctx, "external.process", inputs)


def py(code: str, *argv: str) -> list[str]:
    """The argv of a Python child running ``code``."""
    return [PY, "-c", code, *argv]


def is_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    state = stat.rsplit(")", 1)[1].split()[0]
    return state in {"Z", "X"}


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """Poll until ``pid`` is gone; False if it still runs after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return is_gone(pid)


def wait_for_pid_file(path: Path, timeout: float = 10.0) -> int:
    """The pid a child wrote to ``path`` (waits until the file holds a full line)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            text = path.read_text()
            if text.endswith("\n"):
                return int(text)
        time.sleep(0.02)
    raise AssertionError(f"no pid written to {path} within {timeout}s")


def kill_quietly(pid: int) -> None:
    """Best-effort cleanup for a test that failed with a child still alive."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
