"""Cold start of ``aetherflow container`` on a one-step flow against the import floor, measured in the same run.

    .venv/bin/python bench/container.py [--reps 15] [--top 25]
    .venv/bin/python bench/container.py --image localhost/aetherflow:dev [--podman-work .work/podman]

Each repetition runs, interleaved (so machine load hits both alike):
  * the floor:    ``python -c 'import yaml, pydantic, pydantic_settings, sqlite3'``
  * the command:  ``aetherflow container`` (the image entrypoint's command) with AETHERFLOW_FLOW_FILE pointing at a
                  one-step flow and the state and work root in a temp dir: settings, logging, load, plan, state
                  store, run, summary and termination message, every pod's fixed cost
and prints both medians and their ratio (target: <= 2.0x). Each invocation is a new run (generated run id).
Then one ``-X importtime`` run lists the imports with the largest cumulative time.

With ``--image`` the same measurement runs inside the image (podman, read-only root, uid 1001, no network), so the
bytecode, the interpreter and the filesystem are the pod's; storage defaults to the one scripts/image_test.sh uses.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _timing import bench_env, importtime, interleaved, median_ms, print_importtime, venv_bin

ROOT = Path(__file__).resolve().parent.parent
FLOOR_LABEL = "floor (import yaml, pydantic, pydantic_settings, sqlite3)"
TARGET_RATIO = 2.0
FLOW = textwrap.dedent(
    """\
    version: 1
    flow:
      id: coldstart
    jobs:
      - id: one
        steps:
          - id: check
            type: check_items
            inputs: {items: [1]}
    """
)


def measure(reps: int, top: int) -> int:
    """Run the interleaved measurement in this environment and print the result."""
    with tempfile.TemporaryDirectory(prefix="aetherflow-bench-") as tmp:
        base = Path(tmp)
        (base / "flows").mkdir()
        (base / "flows" / "flow.yaml").write_text(FLOW)
        # Only what a pod has: no AETHERFLOW_* or PYTHON* variable of the caller changes what is measured.
        env = bench_env({k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG"}})
        env.update(
            AETHERFLOW_FLOW_FILE=str(base / "flows" / "flow.yaml"),
            AETHERFLOW_STATE_PATH=str(base / "state") + "/",
            AETHERFLOW_WORK_ROOT=str(base / "work"),
            AETHERFLOW_TERMINATION_LOG=str(base / "termination-log"),
        )
        (base / "termination-log").touch()
        floor_cmd = [sys.executable, "-c", "import yaml, pydantic, pydantic_settings, sqlite3"]
        run_cmd = [venv_bin("aetherflow"), "container"]
        # The warm-up runs also create the state database once.
        floor, runs = interleaved(floor_cmd, run_cmd, env, reps, stderr_tail=2000)
        floor_ms = median_ms(floor)
        run_ms = median_ms(runs)
        ratio = run_ms / floor_ms
        print(f"reps={reps} python={sys.executable}")
        print(f"{FLOOR_LABEL:<52}: median {floor_ms:7.1f} ms  min {min(floor) * 1000:7.1f} ms")
        print(f"{'container (one-step flow, full run)':<52}: median {run_ms:7.1f} ms  min {min(runs) * 1000:7.1f} ms")
        verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
        print(f"ratio container/floor: {ratio:.2f}x (target <= {TARGET_RATIO:.1f}x) {verdict}")
        if top:
            print(f"\ntop {top} imports of `aetherflow container` by cumulative time (us, one -X importtime run):")
            print_importtime(importtime(["-m", "aetherflow", "container"], env, top))
    return 0


def in_image(image: str, work: Path, reps: int, top: int) -> int:
    """Run this script inside ``image`` with podman, as a pod would run (read-only root, uid 1001, no network)."""
    conf = work / "containers.conf"
    env = dict(os.environ)
    if conf.exists():
        env["CONTAINERS_CONF"] = str(conf)
    argv = [
        "podman", "--root", str(work / "storage"), "--runroot", str(work / "runroot"), "run", "--rm", "--read-only",
        "--user", "1001:1001", "--network", "none", "--tmpfs", "/tmp:rw,mode=1777",
        "-v", f"{Path(__file__).resolve().parent}:/bench:ro", "--entrypoint", "/opt/venv/bin/python", image,
        "/bench/container.py", "--reps", str(reps), "--top", str(top),
    ]  # fmt: skip
    return subprocess.run(argv, env=env, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=15, help="interleaved repetitions (default 15)")
    parser.add_argument("--top", type=int, default=25, help="rows of the importtime listing (0: none)")
    parser.add_argument("--image", help="measure inside this image with podman instead of on the host")
    parser.add_argument("--podman-work", default=str(ROOT / ".work" / "podman"),
                        help="podman storage of scripts/image_test.sh (default .work/podman)")  # fmt: skip
    args = parser.parse_args()
    if args.image:
        return in_image(args.image, Path(args.podman_work), args.reps, args.top)
    return measure(args.reps, args.top)


if __name__ == "__main__":
    sys.exit(main())
