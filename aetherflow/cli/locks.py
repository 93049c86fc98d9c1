"""``aetherflow locks list`` and ``aetherflow locks release`` (docs/reference/cli.md).

Both read an existing state database (never create it), found as docs/reference/cli.md says: ``--state``, else
``AETHERFLOW_STATE_PATH``, else the discovered flow file's ``flow.state.path``.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from aetherflow.state.location import Location
    from aetherflow.state.locks import LockRow


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
    # the flags of cli.common.add_state_args, with --flow-yaml and --state as the alternatives (docs/reference/cli.md)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--flow-yaml", metavar="PATH", help="flow file whose flow.state.path names the database")
    source.add_argument(
        "--state", metavar="PATH", help="state database (a directory means <dir>/<flow_id>.db) or a postgresql:// URL"
    )
    parser.add_argument(
        "--flow-id", metavar="ID", help="flow id naming the database when the state path is a directory"
    )


# -- handlers ---------------------------------------------------------------------------------------------------


def list_command(args: argparse.Namespace) -> int:
    """Print every lock: a column table, or one JSON line with ``--json``."""
    from aetherflow.cli.common import dumps, table
    from aetherflow.state.locks import list_locks

    db = resolve_database(args)
    rows = list_locks(db, now=time.time())
    if args.json:
        print(dumps([_as_json(row) for row in rows]))
    else:
        header = ["KEY", "OWNER", "EXPIRES_AT", "STATE"]
        body = [[row.key, row.owner, format_ts(row.expires_at), "expired" if row.expired else "live"] for row in rows]
        print(table(header, body))
    return 0


def release_command(args: argparse.Namespace) -> int:
    """Delete one lock row; ``--owner`` must match the holder, ``--force`` takes any (with a warning)."""
    from aetherflow.state.locks import release_lock

    db = resolve_database(args)
    log = _force_release_logger() if args.force else None
    row = release_lock(db, args.key, owner=args.owner, force=args.force)
    if log is not None:
        fields = {"key": row.key, "previous_owner": row.owner}
        log.warning("lock_force_released", extra={"event": "lock_force_released", "fields": fields})
    print(f"Released {row.key} (owner {row.owner})")
    return 0


# -- locating the database --------------------------------------------------------------------------------------


def resolve_database(args: argparse.Namespace) -> Location:
    """The existing database file, or the PostgreSQL URL (found as docs/reference/cli.md says); a missing file is an
    error."""
    from aetherflow.cli.common import resolve_state
    from aetherflow.errors import StateError
    from aetherflow.state.backends import first_location, resolve_location
    from aetherflow.state.location import is_postgres, is_url

    chosen = first_location(
        (args.state, "--state"),
        (os.environ.get("AETHERFLOW_STATE_URL"), "AETHERFLOW_STATE_URL"),
        (os.environ.get("AETHERFLOW_STATE_PATH"), "AETHERFLOW_STATE_PATH"),
    )
    db: Location
    if chosen is not None and not args.flow_yaml and (is_url(chosen[0]) or not _is_dir(chosen[0])):
        # A database named outright needs no flow file: an unrelated ./flow.yaml must neither be planned (slow)
        # nor break the command when it is invalid.
        db = resolve_location(*chosen, args.flow_id)
    else:
        db = resolve_state(args).path
    if is_postgres(db):
        return db
    if not Path(db).is_file():
        raise StateError(f"State database not found: {db}")
    return Path(db)


def _is_dir(path: str) -> bool:
    return path.endswith("/") or Path(path).is_dir()


# -- output -----------------------------------------------------------------------------------------------------


@overload
def format_ts(seconds: float) -> str: ...
@overload
def format_ts(seconds: None) -> None: ...
def format_ts(seconds: float | None) -> str | None:
    """Unix seconds as UTC RFC 3339 with milliseconds and ``Z`` (``2025-03-01T02:00:00.123Z``)."""
    # datetime rounds to microseconds first, so 1740794400.123 prints .123 (float subtraction would give .122)
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


def _force_release_logger() -> logging.Logger:
    # The run's log pipeline (format, level, redaction) for the one WARNING this command logs; set up before the
    # release so that a bad logging setting fails the command before it changes anything.
    from aetherflow.observability.logs import configure
    from aetherflow.redaction import Redactor
    from aetherflow.settings import load_settings

    settings = load_settings(os.environ)
    redactor = Redactor.for_settings(settings)
    redactor.add_env(os.environ)
    configure(fmt=settings.log_format or "text", level=settings.log_level, redactor=redactor)
    return logging.getLogger("aetherflow.locks")
