"""DB extract throughput: ``db_extract_stream`` to CSV against floors measured in the same run, interleaved.

SQLite, whole processes (``--rows`` rows x 5 columns; bytecode cached in a private prefix, warmed in round 0):
  * ours: ``aetherflow run`` of a one-step flow (``db_extract_stream`` csv) through ``db:sqlite3`` and through a
    ``db:sqlalchemy`` ``sqlite:///`` URL; each also with ``LIMIT 100000`` to show peak RSS stays flat
  * floor: ``python -c`` opening sqlite3 and writing a ``csv.writer`` over ``fetchmany(5000)``
  * targets: ours >= 90% of the floor's throughput, peak RSS (the child's own VmHWM) <= 60 MiB and flat
  * with ``--in-process``, also the step alone inside this process (plus the ``sqlite3 -csv`` CLI for reference)
PostgreSQL (same shape, a throwaway local server; needs Debian's postgresql package):
  * ours: ``db_extract_stream`` csv through ``db:sqlalchemy`` with psycopg 3 and with psycopg2 (COPY fast path)
  * floor: ``psql -c "\\copy (...) to ... csv header"`` (target: ours >= 70% of its throughput)
  * with ``--generic``, also the generic streaming path (quoting=all keeps COPY out), for reference

    .venv/bin/python bench/db.py --rows 1000000
    .venv/bin/python bench/db.py --rows 20000 --rounds 1     # smoke run
    .venv/bin/python bench/db.py --progress-seconds 1         # with step_progress reported every second
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aetherflow.spec.resources import ResolvedResource
from tests.support.context import make_step_context, run_step

SQLITE_QUERY = "SELECT id, name, amount, created, flag FROM t ORDER BY id"
PG_QUERY = "SELECT id, name, amount, created, ts FROM t ORDER BY id"
RSS_LIMIT_MIB = 60


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _make_sqlite(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, amount REAL, created TEXT, flag INTEGER)")
    batch = 50_000
    for start in range(0, rows, batch):
        conn.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            (
                (i, f"name_{i}", i / 100, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", i % 2)
                for i in range(start + 1, min(start + batch, rows) + 1)
            ),
        )
    conn.commit()
    conn.close()


#: ``--progress-seconds``: the interval of ``step_progress`` in every run measured (None: the setting's default)
PROGRESS_SECONDS: list[float] = []


def _run_extract(work: Path, resource_: ResolvedResource, sql: str, output: Path, **inputs: Any) -> dict[str, Any]:
    progress = {"progress_seconds": PROGRESS_SECONDS[0]} if PROGRESS_SECONDS else {}
    ctx, _events, pool = make_step_context(
        work, resources={resource_.name: resource_}, strict_sandbox=False, **progress
    )
    try:
        inputs = {"format": "csv", **inputs}
        result = run_step(
            ctx, "db_extract_stream", {"resource": resource_.name, "sql": sql, "output": str(output), **inputs}
        )
        return dict(result.output)
    finally:
        pool.close_all()


def _floor_sqlite(db: Path, out: Path) -> None:
    conn = sqlite3.connect(db)
    cur = conn.execute(SQLITE_QUERY)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([d[0] for d in cur.description])
        while batch := cur.fetchmany(5000):
            writer.writerows(batch)
    conn.close()


@dataclass
class Timing:
    """Wall-clock and CPU seconds (this process plus waited-for children) of each round of one method."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def _cpu_now() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _interleave(methods: dict[str, Callable[[], object]], rounds: int) -> dict[str, Timing]:
    # One untimed warm-up each: imports and first connections are a per-process cost, not throughput.
    for fn in methods.values():
        fn()
    timings = {name: Timing() for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            wall, cpu = time.perf_counter(), _cpu_now()
            fn()
            timings[name].wall.append(time.perf_counter() - wall)
            timings[name].cpu.append(_cpu_now() - cpu)
    return timings


def _report(title: str, timings: dict[str, Timing], floor: str, rows: int, target: float, *, cpu: bool) -> None:
    """Best-of-rounds ratios against the floor; with ``cpu`` also by CPU time (steadier on a shared machine)."""
    print(f"\n{title}")
    base_wall = min(timings[floor].wall)
    base_cpu = min(timings[floor].cpu)
    for name, timing in timings.items():
        best = min(timing.wall)
        ratio = base_wall / best  # throughput relative to the floor
        line = (
            f"  {name:46s} wall best {best:6.3f}s median {statistics.median(timing.wall):6.3f}s"
            f" {rows / best / 1e6:5.2f} M rows/s {ratio:6.1%}"
        )
        if cpu:
            cpu_ratio = base_cpu / min(timing.cpu)
            line += f" | cpu best {min(timing.cpu):6.3f}s {cpu_ratio:6.1%}"
        if name.startswith("ours") and not name.endswith("(info)"):
            line += "  OK" if ratio >= target else f"  BELOW TARGET {target:.0%}"
        print(line)


def _rss_child(db: Path, out: Path, limit: int) -> int:
    work = out.parent / f"rss-work-{limit}"
    res = ResolvedResource("local", "db", "sqlite3", {"path": str(db)})
    _run_extract(work, res, f"{SQLITE_QUERY} LIMIT {limit}", out)
    # VmHWM, not ru_maxrss: the latter keeps the parent's high-water mark across fork + exec.
    status = Path("/proc/self/status").read_text()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return 0


def _measure_rss(db: Path, work: Path, limit: int) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(db), str(work / f"rss-{limit}.csv"), str(limit)],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def bench_sqlite(work: Path, rows: int, rounds: int) -> None:
    db = work / "bench.db"
    if not db.exists():
        _make_sqlite(db, rows)
    outs = {name: work / f"sqlite-{name}.csv" for name in ("floor", "sqlite3", "sqlalchemy", "cli")}
    methods: dict[str, Callable[[], object]] = {
        "floor: csv.writer over fetchmany(5000)": lambda: _floor_sqlite(db, outs["floor"]),
        "ours: db_extract_stream via db:sqlite3": lambda: _run_extract(
            work / "w1", ResolvedResource("local", "db", "sqlite3", {"path": str(db)}), SQLITE_QUERY, outs["sqlite3"]
        ),
        "ours: db_extract_stream via sqlalchemy (info)": lambda: _run_extract(
            work / "w2",
            ResolvedResource("local", "db", "sqlalchemy", {"url": f"sqlite:///{db}"}),
            SQLITE_QUERY,
            outs["sqlalchemy"],
        ),
    }
    cli = shutil.which("sqlite3")
    if cli:

        def run_cli() -> None:
            with outs["cli"].open("wb") as f:
                subprocess.run([cli, "-csv", "-header", str(db), SQLITE_QUERY], stdout=f, check=True)

        methods["reference: sqlite3 -csv CLI"] = run_cli
    else:
        print("  sqlite3 CLI not installed (apt-get install -y sqlite3): reference skipped")
    times = _interleave(methods, rounds)
    _report(
        "SQLite -> CSV (% = throughput relative to the floor; target for ours >= 100%)",
        times,
        "floor: csv.writer over fetchmany(5000)",
        rows,
        1.0,
        cpu=True,
    )
    same = _sha256(outs["floor"]) == _sha256(outs["sqlite3"]) == _sha256(outs["sqlalchemy"])
    print(f"  outputs of floor and ours identical: {same}")
    small = min(100_000, rows)
    rss_small = _measure_rss(db, work, small)
    rss_full = _measure_rss(db, work, rows)
    verdict = "OK" if max(rss_small, rss_full) <= RSS_LIMIT_MIB else f"ABOVE {RSS_LIMIT_MIB} MiB"
    print(
        f"  peak RSS of the step process: {small:,} rows {rss_small:.1f} MiB, {rows:,} rows {rss_full:.1f} MiB"
        f" (growth {rss_full - rss_small:+.1f} MiB) {verdict}"
    )


# -- whole processes ------------------------------------------------------------------------------------------------
# Each child writes its own peak RSS (VmHWM) at exit: ru_maxrss of a child keeps the parent's high-water mark across
# fork + exec, so it cannot be trusted for a small child of a large parent.
_HWM = (
    "import atexit, os\n"
    "def _hwm(path=os.environ.pop('BENCH_HWM')):\n"
    "    status = open('/proc/self/status').read().splitlines()\n"
    "    open(path, 'w').write(next(line.split()[1] for line in status if line.startswith('VmHWM:')))\n"
    "atexit.register(_hwm)\n"
)
FLOOR_PROCESS = _HWM + (
    "import csv, sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1])\n"
    "cur = conn.execute(sys.argv[3])\n"
    "with open(sys.argv[2], 'w', newline='', encoding='utf-8') as f:\n"
    "    writer = csv.writer(f, lineterminator='\\n')\n"
    "    writer.writerow([d[0] for d in cur.description])\n"
    "    while batch := cur.fetchmany(5000):\n"
    "        writer.writerows(batch)\n"
)
CLI_PROCESS = _HWM + "import sys\nsys.argv = ['aetherflow', *sys.argv[1:]]\nfrom aetherflow.cli import run\nrun()\n"


@dataclass
class ProcessRun:
    """One child process: wall and CPU seconds (its own rusage, from wait4) and peak RSS in MiB."""

    wall: float
    cpu: float
    rss_mib: float


def _process_env(work: Path) -> dict[str, str]:
    """This environment with bytecode caching on (in a private prefix), no AETHERFLOW_* settings, this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AETHERFLOW_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    if PROGRESS_SECONDS:
        env["AETHERFLOW_PROGRESS_SECONDS"] = str(PROGRESS_SECONDS[0])
    return env


def _run_process(argv: list[str], env: dict[str, str], hwm: Path) -> ProcessRun:
    hwm.unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env={**env, "BENCH_HWM": str(hwm)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    stderr = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} exited {proc.returncode}: {stderr.decode(errors='replace')[-2000:]}")
    return ProcessRun(wall, usage.ru_utime + usage.ru_stime, int(hwm.read_text()) / 1024)


def _flow_file(work: Path, name: str, driver: str, config: str, sql: str) -> Path:
    path = work / f"flow-{name}.yaml"
    path.write_text(
        "version: 1\n"
        f"flow: {{id: bench_{name}, workspace: {{cleanup_policy: never}}}}\n"
        f"resources:\n  src: {{kind: db, driver: {driver}, config: {config}}}\n"
        "jobs:\n  - id: j\n    steps:\n"
        f'      - {{id: s, type: db_extract_stream, inputs: {{resource: src, sql: "{sql}", output: out.csv,'
        " format: csv}}\n"
    )
    return path


def bench_sqlite_processes(work: Path, rows: int, rounds: int) -> None:
    """Whole ``aetherflow run`` processes against a whole ``python -c`` floor process (both bytecode-compiled)."""
    db = work / "bench.db"
    if not db.exists():
        _make_sqlite(db, rows)
    env = _process_env(work)
    small = min(100_000, rows)
    configs = {"sqlite3": f'{{path: "{db}"}}', "sqlalchemy": f'{{url: "sqlite:///{db}"}}'}
    floor_out = work / "proc-floor.csv"
    methods: dict[str, list[str]] = {
        "floor: python -c sqlite3 + csv.writer": [sys.executable, "-c", FLOOR_PROCESS, str(db), str(floor_out)],
    }
    methods["floor: python -c sqlite3 + csv.writer"].append(SQLITE_QUERY)
    for driver, config in configs.items():
        for limit in sorted({rows, small}, reverse=True):
            sql = SQLITE_QUERY if limit == rows else f"{SQLITE_QUERY} LIMIT {limit}"
            name = f"{driver}_{limit}"
            flow = _flow_file(work, name, driver, config, sql)
            label = f"ours: aetherflow run, db:{driver}" + ("" if limit == rows else f" ({limit:,} rows, rss)")
            root = work / f"proc-{name}"
            methods[label] = [
                sys.executable, "-c", CLI_PROCESS, "run", "--flow-yaml", str(flow),
                "--state", str(root / "state.db"), "--work-root", str(root / "work"),
            ]  # fmt: skip
    hwm = work / "hwm"
    results: dict[str, list[ProcessRun]] = {name: [] for name in methods}
    for round_no in range(rounds + 1):  # round 0 warms the page cache and writes the bytecode caches
        for name, argv in methods.items():
            if "--work-root" in argv:
                shutil.rmtree(Path(argv[argv.index("--work-root") + 1]), ignore_errors=True)
            run = _run_process(argv, env, hwm)
            if round_no:
                results[name].append(run)
    floor = results["floor: python -c sqlite3 + csv.writer"]
    base_wall, base_cpu = min(r.wall for r in floor), min(r.cpu for r in floor)
    print(f"\nSQLite whole processes, {rows:,} rows x 5 columns, {rounds} interleaved rounds (best of each)")
    print("  % = throughput relative to the floor; target for ours >= 90% and peak RSS <= 60 MiB, flat")
    for name, runs in results.items():
        wall, cpu, rss = min(r.wall for r in runs), min(r.cpu for r in runs), max(r.rss_mib for r in runs)
        line = f"  {name:52s} wall {wall:6.3f}s {base_wall / wall:6.1%} | cpu {cpu:6.3f}s {base_cpu / cpu:6.1%}"
        line += f" | peak RSS {rss:5.1f} MiB"
        if name.startswith("ours") and "rss" not in name:
            ok = base_wall / wall >= 0.9 and rss <= RSS_LIMIT_MIB
            line += "  OK" if ok else "  BELOW TARGET"
        print(line)
    for driver in configs:
        big = max(r.rss_mib for r in results[f"ours: aetherflow run, db:{driver}"])
        key = f"ours: aetherflow run, db:{driver} ({small:,} rows, rss)"
        little = max(r.rss_mib for r in results[key]) if key in results else big
        growth = f"{small:,} rows {little:.1f} MiB -> {rows:,} rows {big:.1f} MiB ({big - little:+.1f})"
        print(f"  db:{driver}: peak RSS {growth}")
    outputs = [next((work / f"proc-{d}_{rows}" / "work").rglob("out.csv")) for d in configs]
    same = all(_sha256(out) == _sha256(floor_out) for out in outputs)
    print(f"  outputs of floor and ours identical: {same}")


def bench_postgres(work: Path, rows: int, rounds: int, generic: bool) -> None:
    from tests.servers.postgres import PostgresUnavailable, running_postgres

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(running_postgres())
        except PostgresUnavailable as exc:
            print(f"\nPostgreSQL: skipped ({exc})")
            return
        started = time.perf_counter()
        server.execute(
            "CREATE TABLE t (id int8 PRIMARY KEY, name text, amount numeric(12,2), created date, ts timestamp)",
            f"INSERT INTO t SELECT g, 'name_' || g, g / 100.0, date '2024-01-01' + (g % 365),"
            f" timestamp '2024-01-01' + g * interval '1 second' FROM generate_series(1, {rows}) g",
            "VACUUM ANALYZE t",
        )
        print(f"\nPostgreSQL {server.port}: {rows:,} rows x 5 columns created in {time.perf_counter() - started:.1f}s")
        psql = shutil.which("psql") or str(server.bin_dir / "psql")
        env = {**os.environ, "PGPASSWORD": server.password}
        outs = {name: work / f"pg-{name}.csv" for name in ("psql", "psycopg", "psycopg2", "generic")}

        def run_psql() -> None:
            command = f"\\copy ({PG_QUERY}) to '{outs['psql']}' csv header"
            argv = [psql, "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", server.dbname]
            subprocess.run([*argv, "-c", command], env=env, check=True, capture_output=True)

        def ours(driver: str, out: Path, **inputs: Any) -> Callable[[], object]:
            res = ResolvedResource("pg", "db", "sqlalchemy", {"url": server.url(driver)})
            return lambda: _run_extract(work / f"w-{out.stem}", res, PG_QUERY, out, **inputs)

        methods: dict[str, Callable[[], object]] = {
            "floor: psql \\copy": run_psql,
            "ours: db_extract_stream, psycopg 3 (COPY)": ours("postgresql+psycopg", outs["psycopg"]),
            "ours: db_extract_stream, psycopg2 (COPY)": ours("postgresql+psycopg2", outs["psycopg2"]),
        }
        if generic:
            methods["ours: generic path, quoting=all (info)"] = ours(
                "postgresql+psycopg", outs["generic"], quoting="all"
            )
        times = _interleave(methods, rounds)
        _report(
            "PostgreSQL -> CSV (% = throughput relative to the floor; target for ours >= 70%)",
            times,
            "floor: psql \\copy",
            rows,
            0.70,
            cpu=False,  # the server's work is in another process: only wall time compares
        )
        same = _sha256(outs["psql"]) == _sha256(outs["psycopg"]) == _sha256(outs["psycopg2"])
        print(f"  outputs of psql and ours identical: {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is compared")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--generic", action="store_true", help="also time PostgreSQL's generic (non-COPY) path")
    parser.add_argument("--in-process", action="store_true", help="also time the SQLite step inside this process")
    parser.add_argument("--progress-seconds", type=float, help="AETHERFLOW_PROGRESS_SECONDS of the runs measured")
    parser.add_argument("--rss-child", nargs=3, metavar=("DB", "OUT", "ROWS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.progress_seconds is not None:
        PROGRESS_SECONDS.append(args.progress_seconds)
    if args.rss_child:
        db, out, limit = args.rss_child
        return _rss_child(Path(db), Path(out), int(limit))
    with tempfile.TemporaryDirectory(prefix="aetherflow-bench-db-") as tmp:
        work = Path(tmp)
        if not args.skip_sqlite:
            bench_sqlite_processes(work, args.rows, args.rounds)
            if args.in_process:
                bench_sqlite(work, args.rows, args.rounds)
        if not args.skip_postgres:
            bench_postgres(work, args.rows, args.rounds, args.generic)
    return 0


if __name__ == "__main__":
    sys.exit(main())
