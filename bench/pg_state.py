"""Runner overhead per step with the state in PostgreSQL, against one commit on one connection to the same server.

    python bench/pg_state.py [--steps 100] [--repeat 3] [--resume-steps 1000]

Starts a throwaway local PostgreSQL (Debian's postgresql package, as the tests do; fsync off, so the figures are the
store's round trips and statements, not a disk). Per-step cost = (run_summary.duration_ms of 1 job x N steps - that
of 1 job x 1 step) / (N - 1), from real `aetherflow run --state postgresql://…` processes. The floor is one
transaction (BEGIN, INSERT, COMMIT) on an open psycopg connection: a step writes two transitions (RUNNING, then its
end), so about 2x the floor is the least a step can cost.
No-op resume: the wall time of `aetherflow run` resuming a finished 1 x ``--resume-steps`` run on PostgreSQL against
the same on SQLite, interleaved (target <= 1.5x).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from _timing import bench_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def flow_text(steps: int) -> str:
    lines = ["version: 1", "flow: {id: bench}", "jobs:", "  - id: j", "    steps:"]
    lines += [f"      - {{id: s{s}, type: check_items, inputs: {{items: 'a,b'}}}}" for s in range(steps)]
    return "\n".join(lines) + "\n"


def run_process(workdir: Path, state: str, steps: int, run_id: str) -> tuple[float, str]:
    """(wall seconds, stderr) of one `aetherflow run` of 1 job x ``steps`` steps with the state at ``state``."""
    flow = workdir / f"flow_{steps}.yaml"
    if not flow.exists():
        flow.write_text(flow_text(steps))
    env = bench_env({k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_")})
    env["AETHERFLOW_LOG_FORMAT"] = "json"
    cmd = [sys.executable, "-m", "aetherflow", "run", "--flow-yaml", str(flow), "--work-root", str(workdir / "w"),
           "--run-id", run_id, "--state", state]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stderr


def runner_seconds(workdir: Path, url: str, steps: int) -> float:
    """run_summary.duration_ms of one fresh `aetherflow run` of 1 job x ``steps`` steps, in seconds."""
    stderr = run_process(workdir, url, steps, f"r{time.monotonic_ns()}")[1]
    for line in stderr.splitlines():
        if '"run_summary"' in line:
            return float(json.loads(line)["duration_ms"]) / 1000
    raise SystemExit("no run_summary in the run's log")


def commit_floor(server: object, count: int = 1000) -> float:
    """Seconds of one BEGIN/INSERT/COMMIT on an open connection."""
    with server.connect() as conn:  # type: ignore[attr-defined]
        conn.execute("CREATE TEMP TABLE floor (k int PRIMARY KEY, v text)")
        start = time.perf_counter()
        for i in range(count):
            with conn.transaction():
                conn.execute("INSERT INTO floor VALUES (%s, %s)", (i, "x"))
        return (time.perf_counter() - start) / count


def main() -> None:
    from tests.servers.postgres import running_postgres

    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--resume-steps", type=int, default=1000, help="steps of the no-op resume (0: skip it)")
    args = parser.parse_args()
    with running_postgres() as server, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        options = quote("-csearch_path=bench", safe="")
        url = (f"postgresql://{server.user}:{quote(server.password, safe='')}@{server.host}:{server.port}/"
               f"{server.dbname}?options={options}")  # fmt: skip
        runner_seconds(workdir, url, 1)  # creates the schema outside the measurement
        floor = statistics.median(commit_floor(server) for _ in range(3))
        one = statistics.median(runner_seconds(workdir, url, 1) for _ in range(args.repeat))
        many = statistics.median(runner_seconds(workdir, url, args.steps) for _ in range(args.repeat))
        per_step = (many - one) / (args.steps - 1)
        print(f"commit floor (one transaction, open connection): {floor * 1000:.3f} ms")
        print(f"per step on PostgreSQL (N={args.steps}): {per_step * 1000:.3f} ms ({per_step / floor:.1f}x floor)")
        if args.resume_steps:
            no_op_resume(workdir, url, args.resume_steps, args.repeat)


def no_op_resume(workdir: Path, url: str, steps: int, repeat: int) -> None:
    """Wall time of resuming a finished run that has nothing left to do, PostgreSQL against SQLite, interleaved."""
    sqlite = str(workdir / "resume.db")
    for state in (url, sqlite):
        run_process(workdir, state, steps, "resume")  # the finished run (and a warm-up)
    pg: list[float] = []
    lite: list[float] = []
    for _ in range(repeat):
        lite.append(run_process(workdir, sqlite, steps, "resume")[0])
        pg.append(run_process(workdir, url, steps, "resume")[0])
    ratio = statistics.median(pg) / statistics.median(lite)
    print(f"no-op resume of a finished {steps}-step run: PostgreSQL {statistics.median(pg) * 1000:.0f} ms, SQLite "
          f"{statistics.median(lite) * 1000:.0f} ms = {ratio:.2f}x (target <= 1.5x)")  # fmt: skip


if __name__ == "__main__":
    main()
