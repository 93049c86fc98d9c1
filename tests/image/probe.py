"""Host-side probes for scripts/image_test.sh: read what a container left on its volumes, and time commands.

Standard library only, so it runs with any Python 3.11+ on the host::

    python3 tests/image/probe.py run DB FLOW_ID RUN_ID            -> "<status> <attempt> <exit_code> <job_uid>"
    python3 tests/image/probe.py step DB FLOW_ID RUN_ID JOB STEP  -> "<status> <attempts>"
    python3 tests/image/probe.py json FILE KEY                    -> value of KEY in a one-line JSON document
    python3 tests/image/probe.py metric URL FAMILY LABEL=VALUE... -> value of the one matching sample on /metrics
    python3 tests/image/probe.py wait-url URL SECONDS             -> HTTP status once URL answers
    python3 tests/image/probe.py free-port
    python3 tests/image/probe.py coldstart N -- CMD_A... -- CMD_B...  -> medians of interleaved runs and the ratio

Exit status 1 with a message on stderr when the thing asked for does not exist.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence


def _query(db: str, sql: str, *args: str) -> tuple[object, ...] | None:
    # Read-only, but SQLite may still create the -shm file of a WAL database: scripts/image_test.sh runs these
    # probes as the container's uid so such files never lock the container's user out of its own database.
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row: tuple[object, ...] | None = conn.execute(sql, args).fetchone()
        return row
    finally:
        conn.close()


def run(db: str, flow_id: str, run_id: str) -> str:
    row = _query(
        db, "SELECT status, attempt, exit_code, job_uid FROM runs WHERE flow_id = ? AND run_id = ?", flow_id, run_id
    )
    if row is None:
        raise LookupError(f"no run {flow_id}/{run_id} in {db}")
    return " ".join(str(v) for v in row)


def step(db: str, flow_id: str, run_id: str, job_id: str, step_id: str) -> str:
    row = _query(
        db,
        "SELECT status, attempts FROM step_runs WHERE flow_id = ? AND run_id = ? AND job_id = ? AND step_id = ?",
        flow_id,
        run_id,
        job_id,
        step_id,
    )
    if row is None:
        raise LookupError(f"no step {job_id}/{step_id} of run {flow_id}/{run_id} in {db}")
    return " ".join(str(v) for v in row)


def json_key(path: str, key: str) -> str:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if text.count("\n") > 1 or len(text.encode()) > 4096:
        raise LookupError(f"{path} is not one JSON line of at most 4096 bytes")
    value = json.loads(text)[key]
    return value if isinstance(value, str) else json.dumps(value)


def metric(url: str, family: str, *labels: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    wanted = [label.split("=", 1) for label in labels]
    found = []
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(family)}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if all(pairs.get(k) == v for k, v in wanted):
            found.append(match.group(2))
    if len(found) != 1:
        raise LookupError(f"{len(found)} samples of {family}{labels} at {url}/metrics")
    return found[0]


def wait_url(url: str, seconds: str) -> str:
    deadline = time.monotonic() + float(seconds)
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                return str(resp.status)
        except OSError as exc:
            if time.monotonic() > deadline:
                raise LookupError(f"{url} not answering after {seconds}s ({exc})") from None
            time.sleep(0.05)


def free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


def coldstart(count: str, *argv: str) -> str:
    """Interleave two commands ``count`` times each; print both medians (s) and the ratio A/B."""
    if argv[:1] != ("--",) or argv[1:].count("--") != 1:
        raise LookupError("usage: coldstart N -- CMD_A... -- CMD_B...")
    split = argv.index("--", 1)
    cmd_a, cmd_b = list(argv[1:split]), list(argv[split + 1 :])
    times: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(int(count)):
        for which, cmd in ((0, cmd_a), (1, cmd_b)):
            began = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[which].append(time.perf_counter() - began)
    med_a, med_b = statistics.median(times[0]), statistics.median(times[1])
    return f"{med_a:.3f} {med_b:.3f} {med_a / med_b:.2f}"


COMMANDS: dict[str, Callable[..., str]] = {
    "run": run,
    "step": step,
    "json": json_key,
    "metric": metric,
    "wait-url": wait_url,
    "free-port": free_port,
    "coldstart": coldstart,
}


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        print(COMMANDS[argv[0]](*argv[1:]))
    except (LookupError, OSError, sqlite3.Error, KeyError, ValueError, subprocess.CalledProcessError) as exc:
        print(f"probe {argv[0]}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
