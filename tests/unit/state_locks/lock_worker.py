"""A separate process taking locks, driven by the reliability tests (a stand-in for another pod's run).

    python lock_worker.py race  DB OWNER KEY SIDE_FILE GO_FILE SECONDS
    python lock_worker.py hold  DB OWNER KEY TTL SECONDS      (SECONDS < 0: hold until killed)
    python lock_worker.py watch DB OWNER KEY TTL SECONDS      (hold, report "lost" when the heartbeat finds out)

DB is the SQLite file or a PostgreSQL URL.
Lines on stdout: ``ready``, ``acquired <expires_at>``, ``released``, ``lost``, ``result <json>``.
Exit 3 when the race finds another holder's side-effect file (mutual exclusion broken).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from pathlib import Path

from aetherflow.errors import LockBusy
from aetherflow.state.location import Location
from aetherflow.state.locks import LockManager, list_locks


def say(line: str) -> None:
    print(line, flush=True)


def race(db: Location, owner: str, key: str, side_file: Path, go_file: Path, seconds: float) -> int:
    manager = LockManager(db, run_id=owner)
    say("ready")
    while not go_file.exists():
        time.sleep(0.005)
    acquired = busy = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            manager.acquire(key, 30)
        except LockBusy:
            busy += 1
            time.sleep(random.uniform(0.001, 0.004))
            continue
        try:
            fd = os.open(side_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            say(f"collision {owner}")
            return 3
        os.write(fd, owner.encode())
        os.close(fd)
        time.sleep(0.002)
        os.unlink(side_file)
        manager.release(key)
        acquired += 1
    manager.close()
    say("result " + json.dumps({"owner": owner, "acquired": acquired, "busy": busy}))
    return 0


def expires_at(db: Location, key: str) -> float:
    return next(row.expires_at for row in list_locks(db) if row.key == key)


def hold(db: Location, owner: str, key: str, ttl: int, seconds: float, watch: bool) -> int:
    manager = LockManager(db, run_id=owner)
    manager.acquire(key, ttl)
    say(f"acquired {expires_at(db, key)}")
    deadline = math.inf if seconds < 0 else time.monotonic() + seconds
    while time.monotonic() < deadline:
        if watch and key in manager.lost:
            say("lost")
            break
        time.sleep(0.05)
    manager.close()
    say("released")
    return 0


def main(argv: list[str]) -> int:
    mode, owner, key = argv[0], argv[2], argv[3]
    db: Location = argv[1] if "://" in argv[1] else Path(argv[1])  # a PostgreSQL URL, else the SQLite file
    if mode == "race":
        return race(db, owner, key, Path(argv[4]), Path(argv[5]), float(argv[6]))
    if mode in {"hold", "watch"}:
        return hold(db, owner, key, int(argv[4]), float(argv[5]), watch=mode == "watch")
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
