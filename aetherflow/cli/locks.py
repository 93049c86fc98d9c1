"""``aetherflow locks list`` and ``aetherflow locks release`` (spec cli.md §9).

Both read an existing state database (never create it), found as cli.md §1 says: ``--state``, else
``AETHERFLOW_STATE_PATH``, else the discovered flow file's ``flow.state.path``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aetherflow.settings import Settings
    from aetherflow.state.locks import LockRow

#: where a flow file is looked for when ``--flow-yaml`` and ``AETHERFLOW_FLOW_FILE`` are absent (cli.md §1)
FLOW_FILE_CANDIDATES = (Path("flow.yaml"), Path("/etc/aetherflow/flows/flow.yaml"))


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``locks list`` and ``locks release``."""
    locks = subparsers.add_parser("locks", help="list or release locks in the state database")
    sub = locks.add_subparsers(dest="locks_command", metavar="SUBCOMMAND")
    sub.required = True

    lister = sub.add_parser("list", help="list every lock row with its owner and expiry")
    _add_database_flags(lister)
    lister.add_argument("--json", action="store_true", help="one line of JSON on stdout")
    lister.set_defaults(handler=list_command)

    release = sub.add_parser("release", help="delete a lock row (its owner's, or any with --force)")
    release.add_argument("key", metavar="KEY", help="the lock key, as `locks list` shows it")
    _add_database_flags(release)
    who = release.add_mutually_exclusive_group(required=True)
    who.add_argument("--owner", metavar="RUN_ID", help="release only if this run id holds the lock")
    who.add_argument("--force", action="store_true", help="release whatever the owner (the holder loses its lock)")
    release.set_defaults(handler=release_command)


def _add_database_flags(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--flow-yaml", metavar="PATH", help="flow file whose flow.state.path names the database")
    source.add_argument("--state", metavar="PATH", help="state database (a directory means <dir>/<flow_id>.db)")
    parser.add_argument(
        "--flow-id", metavar="ID", help="flow id naming the database when the state path is a directory"
    )


# -- handlers ---------------------------------------------------------------------------------------------------


def list_command(args: argparse.Namespace) -> int:
    """Print every lock: a column table, or one JSON line with ``--json``."""
    from aetherflow.state.locks import list_locks

    db = resolve_database(args, os.environ)
    rows = list_locks(db, now=time.time())
    if args.json:
        print(json.dumps([_as_json(row) for row in rows], ensure_ascii=False))
    else:
        header = ("KEY", "OWNER", "EXPIRES_AT", "STATE")
        body = [
            (row.key, row.owner, format_ts(row.expires_at) or "-", "expired" if row.expired else "live") for row in rows
        ]
        print(format_table(header, body))
    return 0


def release_command(args: argparse.Namespace) -> int:
    """Delete one lock row; ``--owner`` must match the holder, ``--force`` takes any (with a warning)."""
    from aetherflow.state.locks import release_lock

    db = resolve_database(args, os.environ)
    row = release_lock(db, args.key, owner=args.owner, force=args.force)
    if args.force:
        _warn_event(os.environ, "lock_force_released", key=row.key, previous_owner=row.owner)
    print(f"Released {row.key} (owner {row.owner})")
    return 0


# -- locating the database --------------------------------------------------------------------------------------


def resolve_database(args: argparse.Namespace, environ: Mapping[str, str]) -> Path:
    """The database file: ``--state`` > ``AETHERFLOW_STATE_PATH`` > the flow's ``flow.state.path``; must exist."""
    from aetherflow.errors import InputError, StateError
    from aetherflow.settings import load_settings
    from aetherflow.state.sqlite import database_path

    settings = load_settings(environ)
    configured: str | None = args.state or settings.state_path
    flow_id: str | None = args.flow_id
    if configured is None:
        flow_file = discover_flow_file(args.flow_yaml, settings)
        if flow_file is None:
            raise InputError(
                "No state database given: pass --state PATH, set AETHERFLOW_STATE_PATH, or pass --flow-yaml PATH "
                "(there is no ./flow.yaml or /etc/aetherflow/flows/flow.yaml to read flow.state.path from)",
                code="input:flow_file_missing",
                loc="flow_yaml",
            )
        configured, planned_id = flow_state(flow_file, settings)
        flow_id = flow_id or planned_id
    elif flow_id is None and (configured.endswith("/") or Path(configured).is_dir()):
        # a directory names <dir>/<flow_id>.db: take the flow id from the flow file when there is one
        flow_file = discover_flow_file(args.flow_yaml, settings)
        if flow_file is not None:
            flow_id = flow_state(flow_file, settings)[1]
    db = database_path(configured, flow_id)
    if not db.is_file():
        raise StateError(f"State database not found: {db}")
    return db


def discover_flow_file(flag: str | None, settings: Settings) -> Path | None:
    """``--flow-yaml``, else ``AETHERFLOW_FLOW_FILE``, else ``./flow.yaml``, else the container's flow file."""
    from aetherflow.errors import InputError

    explicit = flag or settings.flow_file
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise InputError(f"Flow file not found: {path}", code="input:flow_file_missing", loc="flow_yaml")
        return path
    for candidate in FLOW_FILE_CANDIDATES:
        if candidate.is_file():
            return candidate
    return None


def flow_state(flow_file: Path, settings: Settings) -> tuple[str, str]:
    """``(rendered flow.state.path, flow_id)`` of a flow file, through the planner (imported only when needed)."""
    from aetherflow.errors import InputError

    try:
        plan_module: Any = importlib.import_module("aetherflow.plan")
    except ModuleNotFoundError as exc:
        if exc.name != "aetherflow.plan":
            raise
        raise InputError(
            f"Cannot read flow.state.path from {flow_file}: this build has no flow planner; "
            "pass --state PATH or set AETHERFLOW_STATE_PATH",
            loc="flow_yaml",
        ) from exc
    plan = plan_module.build_plan(flow_file, settings=settings)
    return str(plan.meta.state_path), str(plan.meta.flow_id)


# -- output -----------------------------------------------------------------------------------------------------


def format_ts(seconds: float | None) -> str | None:
    """Unix seconds as UTC RFC 3339 with milliseconds and ``Z`` (``2025-03-01T02:00:00.123Z``)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns separated by two spaces, left-aligned to the widest cell (header included); last column unpadded."""
    table: list[Sequence[str]] = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]) for r in table]
    return "\n".join(lines)


def _as_json(row: LockRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "owner": row.owner,
        "flow_id": row.flow_id,
        "pod_name": row.pod_name,
        "acquired_at": format_ts(row.acquired_at),
        "heartbeat_at": format_ts(row.heartbeat_at),
        "expires_at": format_ts(row.expires_at),
        "expired": row.expired,
    }


def _warn_event(environ: Mapping[str, str], event: str, **fields: Any) -> None:
    # One WARNING log line on stderr in the configured log format (observability.md §1); a query command does not
    # set up the run's logging pipeline for a single line.
    now = time.time()
    if environ.get("AETHERFLOW_LOG_FORMAT", "").strip().lower() == "json":
        record = {"ts_ms": int(now * 1000), "event": event, "level": "WARNING", **fields}
        line = json.dumps(record, ensure_ascii=False, default=str)
    else:
        line = " ".join([f"{format_ts(now)} WARNING {event}", *(f"{k}={v}" for k, v in fields.items())])
    print(line, file=sys.stderr)
