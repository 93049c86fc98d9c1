"""``aetherflow state init`` and ``aetherflow state prune``."""

from __future__ import annotations

import argparse
from typing import Any

from aetherflow.cli.common import add_state_args, dumps, resolve_state


def register(sub: Any) -> None:
    """Add ``state init`` and ``state prune``."""
    state = sub.add_parser("state", help="create, migrate or prune the state database")
    state_sub = state.add_subparsers(dest="state_command", metavar="{init,prune}")
    state_sub.required = True
    init = state_sub.add_parser("init", help="create or migrate the database (with the volume check)")
    add_state_args(init)
    init.set_defaults(handler=_init)
    prune = state_sub.add_parser(
        "prune", help="delete finished runs older than DAYS, and their jobs' workspaces that exist on this machine"
    )
    prune.add_argument("--older-than", required=True, type=_days, metavar="DAYS", help="age in days (non-negative)")
    add_state_args(prune)
    prune.add_argument("--dry-run", action="store_true", help="only count")
    prune.add_argument("--json", action="store_true", help="one line of JSON")
    prune.set_defaults(handler=_prune)


def _days(text: str) -> str:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"DAYS must be a non-negative number, got {text!r}") from None
    if not value >= 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"DAYS must be a non-negative number, got {text!r}")
    return text


def _init(args: argparse.Namespace) -> int:
    import os

    from aetherflow.settings import load_settings
    from aetherflow.state.backends import open_store
    from aetherflow.state.schema import SCHEMA_VERSION

    settings = load_settings(os.environ)
    target = resolve_state(args)
    store = open_store(
        target.path,
        journal_mode=settings.state_journal_mode,
        strict_fs=settings.state_strict_fs,
        busy_timeout_ms=settings.state_busy_timeout_ms,
        quick_check=settings.state_quick_check,
    )
    store.close()
    volume = getattr(store, "volume", None)
    if volume is None:
        print(f"State ready: {store.describe()}, schema version {SCHEMA_VERSION}")
    else:
        print(f"State ready: {store.describe()} (schema {SCHEMA_VERSION}, journal {volume.journal_mode})")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from aetherflow.state.backends import open_store
    from aetherflow.state.retention import prune_state

    target = resolve_state(args)
    store = open_store(target.path, create=False)
    try:
        counts = prune_state(store, float(args.older_than), flow_id=args.flow_id, dry_run=args.dry_run)
    finally:
        store.close()
    if args.json:
        print(dumps({**counts, "dry_run": bool(args.dry_run)}))
    else:
        verb = "Would prune" if args.dry_run else "Pruned"
        print(
            f"{verb} {counts['runs']} runs older than {args.older_than} days ({counts['jobs']} job rows, "
            f"{counts['steps']} step rows, {counts['locks']} expired locks, {counts['workspaces_removed']} "
            f"workspaces; {counts['workspaces_unreachable']} workspaces_unreachable: not on this machine)"
        )
    return 0
