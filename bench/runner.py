"""Runner overhead: per step, per job, no-op resume and peak RSS, against floors measured in the same run.

    python bench/runner.py [--sizes 10,100,1000] [--repeat 3]

Each figure comes from real `aetherflow run` processes (INFO logs in JSON to a file, as in a pod). Per-step cost =
(run_summary.duration_ms of 1 job x N steps - that of 1 job x 1 step) / (N - 1): the runner's own clock, from its
start to the summary (every state write, event and render), so process start-up noise and the one-time import of the
step's module cancel out; per-job likewise with N jobs x 1 step. The floor is one durable SQLite commit
(BEGIN IMMEDIATE, INSERT, COMMIT) in WAL mode with synchronous=FULL.
Targets (issue "Core 2/3"): <= 0.3 ms/step (about 3x the commit floor), <= 0.6 ms/job, no-op resume of a finished
1000-step run <= 1.1x a one-step cold run, peak RSS of a 1000-step run <= 42 MiB.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import bench_env


def flow_text(jobs: int, steps: int) -> str:
    lines = ["version: 1", "flow: {id: bench}", "jobs:"]
    for j in range(jobs):
        lines.append(f"  - id: j{j}")
        lines.append("    steps:")
        lines += [f"      - {{id: s{s}, type: check_items, inputs: {{items: 'a,b'}}}}" for s in range(steps)]
    return "\n".join(lines) + "\n"


def run_once(workdir: Path, jobs: int, steps: int, run_id: str, *, reuse: bool = False) -> tuple[float, int, float]:
    """(wall seconds, peak RSS MiB, runner seconds from run_summary) of one `aetherflow run` process."""
    flow = workdir / f"flow_{jobs}_{steps}.yaml"
    if not flow.exists():
        flow.write_text(flow_text(jobs, steps))
    state = workdir / f"state_{jobs}_{steps}_{run_id if reuse else time.monotonic_ns()}.db"
    env = bench_env({k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_")})
    env["AETHERFLOW_LOG_FORMAT"] = "json"
    log = workdir / "log.jsonl"
    cmd = [sys.executable, "-m", "aetherflow", "run", "--flow-yaml", str(flow), "--state", str(state),
           "--work-root", str(workdir / "work"), "--run-id", run_id]
    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=sink)
        _, status, rusage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"run failed with exit code {proc.returncode}: {' '.join(cmd)}")
    runner = 0.0
    for line in log.read_text().splitlines():
        if '"run_summary"' in line:
            runner = json.loads(line)["duration_ms"] / 1000
    return elapsed, rusage.ru_maxrss // 1024, runner


def commit_floor(workdir: Path, count: int = 2000) -> float:
    path = workdir / "floor.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    start = time.perf_counter()
    for i in range(count):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t (v) VALUES (?)", (str(i),))
        conn.execute("COMMIT")
    elapsed = (time.perf_counter() - start) / count
    conn.close()
    return elapsed


def median_run(workdir: Path, jobs: int, steps: int, repeat: int) -> tuple[float, int]:
    """(median runner seconds, peak RSS MiB) over ``repeat`` runs."""
    results = [run_once(workdir, jobs, steps, "r1") for _ in range(repeat)]
    return statistics.median(r[2] for r in results), max(r[1] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        floor = statistics.median(commit_floor(workdir) for _ in range(3))
        print(f"commit floor (WAL, synchronous=FULL): {floor * 1000:.3f} ms")
        one, _ = median_run(workdir, 1, 1, max(args.repeat, 5))
        for n in sizes:
            t_steps, rss = median_run(workdir, 1, n, args.repeat)
            per_step = (t_steps - one) / (n - 1)
            t_jobs, _ = median_run(workdir, n, 1, args.repeat)
            per_job = (t_jobs - one) / (n - 1)
            print(f"N={n:5d}  per step {per_step * 1000:.3f} ms ({per_step / floor:.1f}x floor)  "
                  f"per job {per_job * 1000:.3f} ms ({per_job / floor:.1f}x floor)  peak RSS (1xN) {rss} MiB")
        n = max(sizes)
        run_once(workdir, 1, n, "resume", reuse=True)
        resumes = [run_once(workdir, 1, n, "resume", reuse=True)[0] for _ in range(args.repeat)]
        colds = [run_once(workdir, 1, 1, "r1")[0] for _ in range(args.repeat)]
        ratio = statistics.median(resumes) / statistics.median(colds)
        print(f"no-op resume of a finished {n}-step run: {statistics.median(resumes) * 1000:.0f} ms = {ratio:.2f}x "
              "a one-step cold run")


if __name__ == "__main__":
    main()
