"""Cold start of ``aetherflow validate`` (or ``run``) against the import floor, measured in the same run.

    .venv/bin/python bench/cold.py [--reps 15] [--flow examples/flows/minimal.yaml] [--top 25]
    .venv/bin/python bench/cold.py --command run [--reps 15]     # a fresh run of a one-step flow (target <= 2.0x)

Each repetition runs, interleaved (so machine load hits both alike):
  * the floor:    ``python -c 'import yaml, pydantic, pydantic_settings, sqlite3'``
                  (what any YAML + pydantic-settings CLI pays)
  * the command:  ``aetherflow validate --flow-yaml <flow>``       (the console script of the same venv)
and prints both medians and their ratio (target: <= 1.5x). Then one ``-X importtime`` run of the validate path lists
the imports with the largest cumulative time, and an in-process profile shows where the non-import time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import bench_env, importtime, interleaved, median_ms, print_importtime, venv_bin

ROOT = Path(__file__).resolve().parent.parent
FLOOR_LABEL = "floor (import yaml, pydantic, pydantic_settings, sqlite3)"
TARGET_RATIO = 1.5
RUN_TARGET_RATIO = 2.0
ONE_STEP_FLOW = (
    "version: 1\nflow: {id: coldrun}\njobs:\n  - id: one\n    steps:\n"
    "      - {id: check, type: check_items, inputs: {items: [1]}}\n"
)


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


# Each stage imports or does one more thing than the previous one, in the order the validate command does them, so
# its delta is what that stage adds (a module already imported by an earlier stage costs nothing later).
_STAGES = """
import time, os, sys, json, contextlib, io
T = time.perf_counter
marks = [("python startup to first line (not measured)", T())]
def mark(name): marks.append((name, T()))
import yaml, pydantic, pydantic_settings, sqlite3; mark("floor imports: yaml, pydantic, pydantic_settings, sqlite3")
import aetherflow.cli as cli; cli.build_parser(); mark("aetherflow.cli + all command parsers")
from pydantic import BaseModel; mark("from pydantic import BaseModel")
import pydantic.types, annotated_types; mark("pydantic.types + annotated_types (first model)")
import importlib.metadata; mark("importlib.metadata (pydantic's plugin loader imports it)")
import pydantic.plugin._loader as loader
list(loader.get_plugins()); mark("pydantic plugin entry-point scan (first model build)")
import aetherflow.settings; mark("aetherflow.settings (Settings model build)")
import aetherflow.api; mark("aetherflow.api (Inputs base model, dataclasses, subprocess)")
import aetherflow.registry, aetherflow.templating, aetherflow.conditions; mark("registry + templating + conditions")
import aetherflow.spec.model, aetherflow.spec.load, aetherflow.spec.profiles, aetherflow.spec.environment
mark("aetherflow.spec: model, load, profiles, environment")
import aetherflow.plan, aetherflow.cli.validate; mark("aetherflow.plan + cli.validate")
import aetherflow.steps.control; mark("step module of the flow (aetherflow.steps.control: 4 Inputs models)")
with contextlib.redirect_stdout(io.StringIO()):
    cli.main(["validate", "--flow-yaml", FLOW])
mark("the validate command itself: settings, env snapshot, YAML, schema, rules, templates, plan")
print(json.dumps([(name, (t - marks[i][1]) * 1000) for i, (name, t) in enumerate(marks[1:])]))
"""


def _breakdown(flow: str, reps: int, env: dict[str, str]) -> list[tuple[str, float]]:
    runs: list[list[tuple[str, float]]] = []
    for _ in range(reps):
        done = subprocess.run(
            [sys.executable, "-c", _STAGES.replace("FLOW", repr(flow))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(done.stdout))
    return [(name, min(run[i][1] for run in runs)) for i, (name, _) in enumerate(runs[0])]


def cold_run(env: dict[str, str], reps: int, top: int) -> int:
    """``aetherflow run`` of a one-step flow (SQLite state, a new run id each time) against the floor."""
    with tempfile.TemporaryDirectory(prefix="aetherflow-bench-") as tmp:
        flow = Path(tmp) / "flow.yaml"
        flow.write_text(ONE_STEP_FLOW)
        run_cmd = [venv_bin("aetherflow"), "run", "--flow-yaml", str(flow), "--state", f"{tmp}/state/",
                   "--work-root", f"{tmp}/work"]  # fmt: skip
        floor_cmd = [sys.executable, "-c", "import yaml, pydantic, pydantic_settings, sqlite3"]
        floor, runs = interleaved(floor_cmd, run_cmd, env, reps, cwd=ROOT, stderr_tail=2000)
        floor_ms, run_ms = median_ms(floor), median_ms(runs)
        ratio = run_ms / floor_ms
        print(f"reps={reps} one-step flow, SQLite state")
        print(f"{FLOOR_LABEL:<52}: median {floor_ms:7.1f} ms  min {min(floor) * 1000:7.1f} ms")
        print(f"{'run (aetherflow run, one step)':<52}: median {run_ms:7.1f} ms  min {min(runs) * 1000:7.1f} ms")
        verdict = "OK" if ratio <= RUN_TARGET_RATIO else "ABOVE TARGET"
        print(f"ratio run/floor: {ratio:.2f}x of medians, {min(runs) / min(floor):.2f}x of minimums "
              f"(target <= {RUN_TARGET_RATIO:.1f}x) {verdict}")  # fmt: skip
        if top:
            print(f"\ntop {top} imports of the run path by cumulative time (us, one -X importtime run):")
            print_importtime(importtime(["-m", "aetherflow", *run_cmd[1:]], env, top, cwd=ROOT))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions (default 15)")
    parser.add_argument("--flow", default="examples/flows/minimal.yaml", help="flow file to validate")
    parser.add_argument("--top", type=int, default=25, help="rows of the importtime and profile listings")
    parser.add_argument("--no-profile", action="store_true", help="skip the importtime and profile listings")
    parser.add_argument(
        "--command", choices=("validate", "run"), default="validate", help="validate (default), or run a one-step flow"
    )
    args = parser.parse_args()

    # Only PATH and HOME: no AETHERFLOW_* or PYTHON* variable of the caller changes what is measured.
    env = bench_env({k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}})
    if args.command == "run":
        return cold_run(env, args.reps, args.top if not args.no_profile else 0)
    floor_cmd = [sys.executable, "-c", "import yaml, pydantic, pydantic_settings, sqlite3"]
    validate_cmd = [venv_bin("aetherflow"), "validate", "--flow-yaml", args.flow]
    floor, validate = interleaved(floor_cmd, validate_cmd, env, args.reps, cwd=ROOT)
    floor_ms = median_ms(floor)
    validate_ms = median_ms(validate)
    ratio = validate_ms / floor_ms
    print(f"reps={args.reps} flow={args.flow}")
    print(f"{FLOOR_LABEL:<52}: median {floor_ms:7.1f} ms  min {min(floor) * 1000:7.1f} ms")
    print(f"{'validate (aetherflow validate)':<52}: median {validate_ms:7.1f} ms  min {min(validate) * 1000:7.1f} ms")
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(
        f"ratio validate/floor: {ratio:.2f}x of medians, {min(validate) / min(floor):.2f}x of minimums "
        f"(target <= {TARGET_RATIO:.1f}x) {verdict}"
    )
    print(f"\nwhere the time goes (in-process stages, minimum of {args.reps} runs, ms):")
    for name, cost in _breakdown(args.flow, args.reps, env):
        print(f"  {cost:7.2f}  {name}")
    if not args.no_profile:
        print(f"\ntop {args.top} imports of the validate path by cumulative time (us, one -X importtime run):")
        print_importtime(importtime(["-m", "aetherflow", *validate_cmd[1:]], env, args.top, cwd=ROOT))
        print(f"\nin-process profile of main(['validate', ...]) (top {args.top} by cumulative time):")
        print(_profile(args.flow, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
