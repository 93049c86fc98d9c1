"""Starting or resuming a run: the statements both state stores run, in the order they run them.

A new run is inserted at attempt 1. A run seen before is resumed at attempt + 1, after the rows a dead attempt left
RUNNING are marked INTERRUPTED. The statements use portable ``?`` placeholders; the PostgreSQL store translates
them once (``RunStartSql.translated``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Any, NamedTuple, Protocol

from aetherflow.state.store import INTERRUPTED_BY_CRASH, RunRecord


class _Executor(Protocol):
    def execute(self, sql: str, args: Any = ..., /) -> Any:
        """Run one statement inside the open transaction."""


class RunFields(NamedTuple):
    """What a run records about where it comes from (``start_run``'s keyword arguments, in column order)."""

    flow_file: str | None
    flow_sha256: str | None
    flow_job: str | None
    job_name: str | None
    job_uid: str | None
    pod_name: str | None
    namespace: str | None
    bundle_fingerprint: str | None
    scheduled_at: str | None


@dataclass(frozen=True, slots=True)
class RunStartSql:
    """The statements that start or resume a run, in one placeholder style."""

    insert: str
    interrupt_jobs: str
    interrupt_steps: str
    interrupt_attempts: str
    resume: str

    def translated(self, translate: Callable[[str], str]) -> RunStartSql:
        """Every statement through ``translate`` (another placeholder style)."""
        return RunStartSql(*(translate(sql) for sql in astuple(self)))


def _interrupt(table: str) -> str:
    return (
        f"UPDATE {table} SET status = 'INTERRUPTED', error = ?, updated_at = ?, ended_at = ?"
        " WHERE flow_id = ? AND run_id = ? AND status = 'RUNNING'"
    )


RUN_START = RunStartSql(
    insert="INSERT INTO runs (flow_id, run_id, status, attempt, started_at, updated_at, flow_file, flow_sha256,"
    " flow_job, job_name, job_uid, pod_name, namespace, bundle_fingerprint, scheduled_at)"
    " VALUES (?, ?, 'RUNNING', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    interrupt_jobs=_interrupt("job_runs"),
    interrupt_steps=_interrupt("step_runs"),
    interrupt_attempts="UPDATE step_attempts SET status = 'INTERRUPTED', error = ?, ended_at = ?"
    " WHERE flow_id = ? AND run_id = ? AND status = 'RUNNING'",
    resume="UPDATE runs SET status = 'RUNNING', attempt = attempt + 1, ended_at = NULL, updated_at = ?,"
    " exit_code = NULL, error = NULL, flow_job = ?, pod_name = COALESCE(?, pod_name),"
    " bundle_fingerprint = COALESCE(?, bundle_fingerprint),"
    " scheduled_at = COALESCE(scheduled_at, ?, started_at) WHERE flow_id = ? AND run_id = ?",
)


def write_run_start(
    c: _Executor, sql: RunStartSql, previous: RunRecord | None, key: tuple[str, str], ts: str, fields: RunFields
) -> None:
    """Insert the run (no ``previous`` record) or resume it, inside the caller's open transaction."""
    flow_id, run_id = key
    if previous is None:
        c.execute(sql.insert, (flow_id, run_id, ts, ts, *fields[:-1], fields.scheduled_at or ts))
        return
    for statement in (sql.interrupt_jobs, sql.interrupt_steps):
        c.execute(statement, (INTERRUPTED_BY_CRASH, ts, ts, flow_id, run_id))
    c.execute(sql.interrupt_attempts, (INTERRUPTED_BY_CRASH, ts, flow_id, run_id))
    resumed = (fields.flow_job, fields.pod_name, fields.bundle_fingerprint, fields.scheduled_at)
    c.execute(sql.resume, (ts, *resumed, flow_id, run_id))
