"""Cold start of ``aetherflow validate`` against the import floor, measured in the same run.

    .venv/bin/python bench/cold.py [--reps 15] [--flow examples/flows/minimal.yaml] [--top 25]

Each repetition runs, interleaved (so machine load hits both alike):
  * the floor:    ``python -c 'import yaml, pydantic, sqlite3'``  (what any YAML + pydantic CLI pays)
  * the command:  ``aetherflow validate --flow-yaml <flow>``       (the console script of the same venv)
and prints both medians and their ratio (target: <= 2.0x). Then one ``-X importtime`` run of the validate path lists
the imports with the largest cumulative time, and an in-process profile shows where the non-import time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 2.0


def _venv_bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return elapsed


def _importtime(argv: list[str], env: dict[str, str], top: int) -> list[tuple[int, int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    rows: list[tuple[int, int, str]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        rows.append((int(cumulative_us), int(self_us), name.rstrip()))
    rows.sort(reverse=True)
    return rows[:top]


def _profile(flow: str, top: int) -> str:
    probe = (
        "import cProfile, pstats, io, sys\n"
        "pr = cProfile.Profile(); pr.enable()\n"
        "from aetherflow.cli import main\n"
        f"code = main(['validate', '--flow-yaml', {flow!r}])\n"
        "pr.disable()\n"
        "out = io.StringIO(); pstats.Stats(pr, stream=out).sort_stats('cumulative').print_stats(%d)\n"
        "print(out.getvalue(), file=sys.stderr)\n" % top
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions (default 15)")
    parser.add_argument("--flow", default="examples/flows/minimal.yaml", help="flow file to validate")
    parser.add_argument("--top", type=int, default=25, help="rows of the importtime and profile listings")
    parser.add_argument("--no-profile", action="store_true", help="skip the importtime and profile listings")
    args = parser.parse_args()

    # Only PATH and HOME: no AETHERFLOW_* or PYTHON* variable of the caller changes what is measured.
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}}
    floor_cmd = [sys.executable, "-c", "import yaml, pydantic, sqlite3"]
    validate_cmd = [_venv_bin("aetherflow"), "validate", "--flow-yaml", args.flow]
    _time(floor_cmd, env)  # warm the page cache and bytecode for both
    _time(validate_cmd, env)
    floor: list[float] = []
    validate: list[float] = []
    for _ in range(args.reps):
        floor.append(_time(floor_cmd, env))
        validate.append(_time(validate_cmd, env))
    floor_ms = statistics.median(floor) * 1000
    validate_ms = statistics.median(validate) * 1000
    ratio = validate_ms / floor_ms
    print(f"reps={args.reps} flow={args.flow}")
    print(f"floor    (import yaml, pydantic, sqlite3): median {floor_ms:7.1f} ms  min {min(floor) * 1000:7.1f} ms")
    print(f"validate (aetherflow validate)          : median {validate_ms:7.1f} ms  min {min(validate) * 1000:7.1f} ms")
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(f"ratio validate/floor: {ratio:.2f}x (target <= {TARGET_RATIO:.1f}x) {verdict}")
    if not args.no_profile:
        print(f"\ntop {args.top} imports of the validate path by cumulative time (us, one -X importtime run):")
        print(f"{'cumulative':>11} {'self':>8}  module")
        for cumulative, self_us, name in _importtime(["-m", "aetherflow", *validate_cmd[1:]], env, args.top):
            print(f"{cumulative:>11} {self_us:>8}  {name}")
        print(f"\nin-process profile of main(['validate', ...]) (top {args.top} by cumulative time):")
        print(_profile(args.flow, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
