"""The state schema's ordered migrations: a new database is created at version 1, then every step up is applied.

Each migration is a function of an open write transaction (the caller holds the database's write lock, so two
processes opening one file at once cannot both migrate it) and is applied exactly once, in version order. A new
version adds one entry at the end of ``MIGRATIONS``; nothing here is ever edited once released, and the version 1 DDL
stays frozen in ``schema.SCHEMA_V1`` so the path from the oldest file is always the one that is tested.

PostgreSQL joined at version 2: a new PostgreSQL schema is created at ``pg_schema.PG_BASE_VERSION`` from its own DDL
and then upgraded by this same list (under an advisory lock), so every migration after it must be portable SQL with
``?`` placeholders (the PostgreSQL store turns them into its own).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aetherflow.state.schema import SCHEMA_V1


class Executor(Protocol):
    """What a migration needs: ``execute`` inside the open transaction."""

    def execute(self, sql: str, args: Any = ..., /) -> Any:
        """Run one statement."""


@dataclass(frozen=True, slots=True)
class Migration:
    """The step from ``version - 1`` to ``version``."""

    version: int
    purpose: str
    apply: Callable[[Executor], None]


def _v2_lock_holders(tx: Executor) -> None:
    # Lock owners became invocations on hosts: the row records where its holder runs, so an invocation on the same
    # host can see at once that the holder's process is gone. Existing rows keep NULLs (no fast takeover for them).
    for column in ("host_boot_id TEXT", "host_pid_ns TEXT", "host_name TEXT", "pid INTEGER"):
        tx.execute(f"ALTER TABLE locks ADD COLUMN {column}")


# -- version 3 ---------------------------------------------------------------------------------------------------
# Other work adds its own version 3 columns next to these; each keeps its statements in its own block.


def _v3_scheduled_at(tx: Executor) -> None:
    # The `run` template root: the run's schedule slot (or its first start), fixed at the first attempt so that
    # run.date is the same on every retry. Existing runs keep NULL until their next attempt records one.
    tx.execute("ALTER TABLE runs ADD COLUMN scheduled_at TEXT")


def _v3(tx: Executor) -> None:
    _v3_scheduled_at(tx)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "lock rows record the holder's host identity and pid", _v2_lock_holders),
    Migration(3, "runs record their schedule slot (run.scheduled_at)", _v3),
)


def create_v1(tx: Executor) -> None:
    """The version 1 tables (``IF NOT EXISTS``: a partly created file is completed)."""
    # executescript() would COMMIT first; run the statements one by one inside the open transaction.
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            tx.execute(statement)


def upgrade(tx: Executor, from_version: int) -> list[int]:
    """Apply every migration above ``from_version`` in order and record the new version; the versions applied."""
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version > from_version:
            migration.apply(tx)
            applied.append(migration.version)
    if applied:
        # portable (SQLite and PostgreSQL): migrations run on both stores
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(applied[-1]),),
        )
    return applied
