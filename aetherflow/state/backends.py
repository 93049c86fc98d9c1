"""Pick the store for a location: an SQLite file (``sqlite``, ``sqlite_locks``) or PostgreSQL (``postgres``,
``pg_locks``, imported only when a ``postgresql://`` URL is used)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aetherflow.state.location import Location, is_postgres
from aetherflow.state.lock_backend import LockBackend
from aetherflow.state.store import StateStore


def open_store(location: Location, *, create: bool = True, **sqlite_options: Any) -> StateStore:
    """Open the state at ``location`` (``create``: create and migrate it); ``sqlite_options`` are SQLite's only."""
    if is_postgres(location):
        from aetherflow.state.postgres import PostgresStore

        return PostgresStore.open(str(location), create=create)
    from aetherflow.state.sqlite import SqliteStore

    return SqliteStore.open(Path(location), create=create, **sqlite_options)


def open_lock_backend(
    location: Location,
    *,
    busy_timeout_ms: int = 30000,
    synchronous: str | None = None,
    clock: Callable[[], float] = time.time,
) -> LockBackend:
    """The lock store at ``location`` (which exists already); ``clock`` and ``synchronous`` are SQLite's only.

    PostgreSQL judges every lock time by the server's clock, so that pods on nodes whose clocks differ agree.
    """
    if is_postgres(location):
        from aetherflow.state.pg_locks import PgLockBackend

        return PgLockBackend(str(location))
    from aetherflow.state.sqlite_locks import SqliteLockBackend

    return SqliteLockBackend(Path(location), busy_timeout_ms=busy_timeout_ms, synchronous=synchronous, clock=clock)


def first_location(*candidates: tuple[str | None, str]) -> tuple[str, str] | None:
    """The first non-empty ``(value, source)`` of the candidates in precedence order, or None."""
    return next(((value, source) for value, source in candidates if value), None)


def resolve_location(text: str, source: str, flow_id: str | None) -> Location:
    """The location ``text`` (from ``source``) names: a URL as such, a path as its database file.

    A directory (or a path ending in ``/``) means ``<dir>/<flow_id>.db``. The flow file never carries a URL: its
    credentials would end up in the flow's repository.
    """
    from aetherflow.state.location import is_url, parse_state_url
    from aetherflow.state.sqlite import database_path

    if not is_url(text):
        return database_path(text, flow_id)
    if source == "flow.state.path":
        from aetherflow.errors import StateInputError

        raise StateInputError(
            "flow.state.path must be a path: a database URL belongs in AETHERFLOW_STATE_URL or --state"
        )
    location = parse_state_url(text, source=source)
    return location if isinstance(location, str) else database_path(location, flow_id)
