"""Crash safety: SIGKILL the runner at random points, rerun with the same run id until the run is done."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import clean_env, cli_argv, run_args, write_flow

STEPS = 30


def _flow(tmp_path: Path, counter: Path) -> Path:
    steps = "\n".join(
        f'      - {{id: s{i:02d}, type: external.process, inputs: {{command: ["/bin/sh", "-c", '
        f'"echo s{i:02d} >> {counter}"]}}}}'
        for i in range(STEPS)
    )
    return write_flow(tmp_path, f"version: 1\nflow: {{id: crash}}\njobs:\n  - id: a\n    steps:\n{steps}\n")


def _succeeded(state: Path) -> set[str]:
    if not state.exists():
        return set()
    with sqlite3.connect(state) as conn:
        try:
            return {r[0] for r in conn.execute("SELECT step_id FROM step_runs WHERE status = 'SUCCESS'")}
        except sqlite3.OperationalError:
            return set()


def _trial(tmp_path: Path, rng: random.Random) -> None:
    counter = tmp_path / "counter.txt"
    counter.touch()
    flow, state, work = _flow(tmp_path, counter), tmp_path / "state.db", tmp_path / "work"
    env = clean_env(AETHERFLOW_LOG_LEVEL="ERROR")
    argv = cli_argv(*run_args(flow, state, work, "crash-run"))
    seen, kills, recorded = 0, 0, set[str]()
    for attempt in range(10):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # Up to three kills at random points, then let the run finish.
            _, err = proc.communicate(timeout=rng.uniform(0.05, 0.9) if attempt < 3 else 120)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate()
            code, kills = None, kills + 1
        lines = counter.read_text().split()
        repeated = set(lines[seen:]) & recorded
        assert not repeated, f"steps recorded SUCCESS before attempt {attempt + 1} ran again: {sorted(repeated)}"
        seen, recorded = len(lines), _succeeded(state)
        if code == 0:
            break
        assert code is None, err.decode()
    counts = {f"s{i:02d}": lines.count(f"s{i:02d}") for i in range(STEPS)}
    assert all(c >= 1 for c in counts.values()), counts
    assert sum(c - 1 for c in counts.values()) <= kills, counts  # only a step in flight at a kill may repeat
    with sqlite3.connect(state) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT status FROM runs").fetchall() == [("SUCCESS",)]
        assert conn.execute("SELECT COUNT(*) FROM step_runs WHERE status = 'SUCCESS'").fetchone()[0] == STEPS


def _trials(tmp_path: Path, count: int) -> None:
    rng = random.Random(int(os.environ.get("AETHERFLOW_CRASH_SEED", time.time())))
    for n in range(count):
        trial_dir = tmp_path / f"t{n}"
        trial_dir.mkdir()
        _trial(trial_dir, rng)


def test_sigkill_at_random_points_never_repeats_a_recorded_success(tmp_path: Path) -> None:
    _trials(tmp_path, 50)


@pytest.mark.slow
def test_sigkill_at_random_points_never_repeats_a_recorded_success_many_trials(tmp_path: Path) -> None:
    _trials(tmp_path, 300)
