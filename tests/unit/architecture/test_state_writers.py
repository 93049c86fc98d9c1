"""Only the run journal writes a run's state; admin commands and lock handling are the allow-listed exceptions.

The write methods are taken from the ``StateStore`` and ``LockBackend`` protocols themselves: every member that is
not one of the few reads below counts as a write, so a method added to a protocol is guarded from the start.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import aetherflow
from aetherflow.state.lock_backend import LockBackend
from aetherflow.state.store import StateStore

#: protocol members that only read (or describe, or close): every other member is a write
READS = frozenset(
    {"describe", "get_run", "runs_with_id", "list_runs", "load_jobs", "load_steps", "load_attempts", "close"}
    | {"list_rows", "heartbeat_session"}
)

#: module → the write methods it may call, and why
ALLOWED: dict[str, frozenset[str]] = {
    # the run journal: every transition made while executing a run
    "aetherflow/runner/journal.py": frozenset({"start_run", "finish_run", "set_job", "step_running"})
    | frozenset({"step_attempt_failed", "step_end", "set_promoted", "reset_jobs"}),
    # lock acquisition, heartbeats, release and `locks release` through the lock backend
    "aetherflow/state/locks.py": frozenset({"acquire", "renew", "release", "release_any"}),
    # the runner holds its run, job and step locks through the lock manager
    "aetherflow/runner/admission.py": frozenset({"acquire", "release"}),
    "aetherflow/runner/lock_guard.py": frozenset({"acquire", "release"}),
    # same names on other objects: the bundle cache's folders and an Oracle connection pool
    "aetherflow/bundles/sync.py": frozenset({"prune"}),
    "aetherflow/connectors/db_oracle.py": frozenset({"acquire"}),
    # `state prune` and automatic pruning
    "aetherflow/cli/state.py": frozenset({"prune"}),
    "aetherflow/state/retention.py": frozenset({"prune"}),
    "aetherflow/edge/run_execute.py": frozenset({"prune"}),
}


def protocol_writes() -> frozenset[str]:
    names: set[str] = set()
    for protocol in (StateStore, LockBackend):
        names |= {name for name, _ in inspect.getmembers(protocol, inspect.isfunction) if not name.startswith("_")}
    return frozenset(names - READS)


def write_calls(root: Path) -> dict[str, set[str]]:
    writes = protocol_writes()
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in writes:
                found.setdefault(rel, set()).add(node.func.attr)
    return found


def test_the_write_methods_come_from_the_protocols() -> None:
    assert {"start_run", "set_job", "step_end", "prune", "acquire", "renew", "release_any"} <= protocol_writes()


def test_nothing_but_the_journal_and_the_admin_paths_writes_state() -> None:
    root = Path(aetherflow.__file__).parent
    offenders = {
        module: sorted(calls - ALLOWED.get(module, frozenset()))
        for module, calls in write_calls(root).items()
        if calls - ALLOWED.get(module, frozenset())
    }
    assert offenders == {}
