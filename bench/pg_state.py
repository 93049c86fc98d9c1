"""Runner overhead per step with the state in PostgreSQL, against one commit on one connection to the same server.

    python bench/pg_state.py [--steps 100] [--repeat 3]

Starts a throwaway local PostgreSQL (Debian's postgresql package, as the tests do; fsync off, so the figures are the
store's round trips and statements, not a disk). Per-step cost = (run_summary.duration_ms of 1 job x N steps - that
of 1 job x 1 step) / (N - 1), from real `aetherflow run --state postgresql://…` processes. The floor is one
transaction (BEGIN, INSERT, COMMIT) on an open psycopg connection: a step writes two transitions (RUNNING, then its
end), so about 2x the floor is the least a step can cost.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def flow_text(steps: int) -> str:
    lines = ["version: 1", "flow: {id: bench}", "jobs:", "  - id: j", "    steps:"]
    lines += [f"      - {{id: s{s}, type: check_items, inputs: {{items: 'a,b'}}}}" for s in range(steps)]
    return "\n".join(lines) + "\n"


def runner_seconds(workdir: Path, url: str, steps: int) -> float:
    """run_summary.duration_ms of one fresh `aetherflow run` of 1 job x ``steps`` steps, in seconds."""
    flow = workdir / f"flow_{steps}.yaml"
    flow.write_text(flow_text(steps))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_")}
    env.update(AETHERFLOW_LOG_FORMAT="json", AETHERFLOW_STATE_URL=url)
    cmd = [sys.executable, "-m", "aetherflow", "run", "--flow-yaml", str(flow), "--work-root", str(workdir / "w"),
           "--run-id", f"r{time.monotonic_ns()}"]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stderr[-2000:]}")
    for line in done.stderr.splitlines():
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


if __name__ == "__main__":
    main()
