"""Zip throughput: the ``zip`` step against Python's ``zipfile`` at the same compression, interleaved, same run.

Makes one ``--size-mb`` MB file of CSV-like text (compressible like real exports), then times, ``--rounds`` times:
  * floor: ``zipfile.ZipFile(out, "w", ZIP_DEFLATED).write(file)`` (zlib's default level, as the step uses)
  * ours: the ``zip`` step with the built-in ``archive:zipfile`` connector, ``compression: deflated``
  * for reference: both with ``stored``, and the step with a password (``archive:pyzipper``, AES-256)
Target: ours (deflated) <= 1.1x the floor's time.

    .venv/bin/python bench/archive.py --size-mb 200
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.context import make_step_context, run_step

TARGET = 1.10
BLOCK = 1 << 20


def make_input(path: Path, size_mb: int) -> None:
    """CSV-like text; every MiB is different so deflate cannot coast on repetition."""
    rng = random.Random(7)
    regions = ["north", "south", "east", "west", "central"]
    with path.open("w", encoding="ascii") as f:
        row = 0
        for _ in range(size_mb):
            lines: list[str] = []
            size = 0
            while size < BLOCK:
                row += 1
                line = f"{row},{rng.choice(regions)},{rng.randint(0, 10**6) / 100:.2f},2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},{rng.getrandbits(32):08x}\n"  # noqa: E501
                lines.append(line)
                size += len(line)
            f.write("".join(lines)[:BLOCK])


def floor_zip(source: Path, out: Path, method: int) -> None:
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        zf.write(source, source.name)


def ours_zip(work: Path, source: Path, out: Path, **inputs: Any) -> None:
    ctx, _events, pool = make_step_context(work, strict_sandbox=False)
    try:
        run_step(ctx, "zip", {"dest_path": str(out), "items": [str(source)], "src_dir": str(source.parent), **inputs})
    finally:
        pool.close_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is compared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aetherflow-bench-zip-") as tmp:
        work = Path(tmp)
        source = work / "data.csv"
        started = time.perf_counter()
        make_input(source, args.size_mb)
        print(f"input: {args.size_mb} MiB of CSV-like text, made in {time.perf_counter() - started:.1f}s")
        methods: dict[str, Callable[[], object]] = {
            "floor: zipfile deflated": lambda: floor_zip(source, work / "floor.zip", zipfile.ZIP_DEFLATED),
            "ours: zip step deflated": lambda: ours_zip(work / "w1", source, work / "ours.zip"),
            "floor: zipfile stored (info)": lambda: floor_zip(source, work / "floor-s.zip", zipfile.ZIP_STORED),
            "ours: zip step stored (info)": lambda: ours_zip(
                work / "w2", source, work / "ours-s.zip", compression="stored"
            ),
            "ours: zip step AES-256 password (info)": lambda: ours_zip(
                work / "w3", source, work / "ours-aes.zip", password="bench"
            ),
        }
        for fn in methods.values():  # warm-up: imports and page cache
            fn()
        walls: dict[str, list[float]] = {name: [] for name in methods}
        cpus: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.rounds):
            for name, fn in methods.items():
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                walls[name].append(time.perf_counter() - wall)
                cpus[name].append(time.process_time() - cpu)

        def floor_of(name: str, table: dict[str, list[float]]) -> float:
            return min(table["floor: zipfile stored (info)" if "stored" in name else "floor: zipfile deflated"])

        print(f"\nzip of {args.size_mb} MiB (ratio = method time / zipfile time at the same compression; best round)")
        for name in methods:
            best, best_cpu = min(walls[name]), min(cpus[name])
            ratio, cpu_ratio = best / floor_of(name, walls), best_cpu / floor_of(name, cpus)
            mark = ""
            if name == "ours: zip step deflated":
                mark = "  OK" if ratio <= TARGET else f"  ABOVE TARGET {TARGET}x"
            print(
                f"  {name:40s} wall {best:6.2f}s (median {statistics.median(walls[name]):6.2f}s) "
                f"{args.size_mb / best:6.1f} MiB/s {ratio:5.2f}x | cpu {best_cpu:6.2f}s {cpu_ratio:5.2f}x{mark}"
            )
        sizes = {p.name: p.stat().st_size for p in (work / "floor.zip", work / "ours.zip")}
        print(f"  archive sizes: zipfile {sizes['floor.zip']:,} B, ours {sizes['ours.zip']:,} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
