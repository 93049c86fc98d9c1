"""Helpers shared by the cold-start benchmarks (imported by them; running this file measures nothing).

Interleaved timing of a command against a floor command (so machine load hits both alike) and the ``-X importtime``
listing of a command. Standard library only: ``bench/container.py`` also runs inside the image.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

#: the checkout this file belongs to (in the image, where ``bench/`` is mounted at ``/bench``, the root directory)
ROOT = Path(__file__).resolve().parent.parent


def bench_env(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` made fit for timing this checkout: its own code first, bytecode written and reused.

    ``PYTHONPATH`` names this checkout so that a worktree measures its own code (the venv's console script would
    import the editable install's), and ``PYTHONDONTWRITEBYTECODE`` is dropped: the figures are of compiled bytecode,
    as in the image, never of modules compiled again by every run.
    """
    env = {k: v for k, v in base.items() if k not in {"PYTHONDONTWRITEBYTECODE", "PYTHONPATH"}}
    if (ROOT / "aetherflow").is_dir():
        env["PYTHONPATH"] = str(ROOT)
    return env


def venv_bin(name: str) -> str:
    """The console script ``name`` of this interpreter's venv, else ``name`` (found on PATH)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def time_command(
    argv: list[str], env: Mapping[str, str], *, cwd: Path | None = None, stderr_tail: int | None = None
) -> float:
    """Wall seconds of one run of ``argv``; a non-zero exit stops the benchmark with its stderr (last characters)."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        if stderr_tail is not None:
            stderr = stderr[-stderr_tail:]
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {stderr}")
    return elapsed


def interleaved(
    floor_cmd: list[str],
    cmd: list[str],
    env: Mapping[str, str],
    reps: int,
    *,
    cwd: Path | None = None,
    stderr_tail: int | None = None,
) -> tuple[list[float], list[float]]:
    """(floor seconds, command seconds) of ``reps`` alternating runs, after one warm-up run of each."""
    time_command(floor_cmd, env, cwd=cwd, stderr_tail=stderr_tail)  # warm the page cache and bytecode for both
    time_command(cmd, env, cwd=cwd, stderr_tail=stderr_tail)
    floor: list[float] = []
    runs: list[float] = []
    for _ in range(reps):
        floor.append(time_command(floor_cmd, env, cwd=cwd, stderr_tail=stderr_tail))
        runs.append(time_command(cmd, env, cwd=cwd, stderr_tail=stderr_tail))
    return floor, runs


def median_ms(samples: list[float]) -> float:
    """The median of ``samples`` (seconds) in milliseconds."""
    return statistics.median(samples) * 1000


def importtime(
    argv: list[str], env: Mapping[str, str], top: int, *, cwd: Path | None = None
) -> list[tuple[int, int, str]]:
    """The ``top`` imports of ``python -X importtime ARGV`` by cumulative time: (cumulative us, self us, module)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    rows.sort(reverse=True)
    return rows[:top]


def print_importtime(rows: list[tuple[int, int, str]]) -> None:
    """The importtime listing: a header, then one line per module."""
    print(f"{'cumulative':>11} {'self':>8}  module")
    for cumulative, self_us, name in rows:
        print(f"{cumulative:>11} {self_us:>8}  {name}")
