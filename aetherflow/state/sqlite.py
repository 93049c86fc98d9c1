"""The SQLite state store keyed by (flow_id, run_id): open with the volume check, migrate, record transitions.

One connection per run; every transition is one short ``BEGIN IMMEDIATE … COMMIT`` written before the runner
emits the matching event. Called by the runner and the state/runs commands.
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetherflow.errors import StateError, StateInputError
from aetherflow.private import private_database
from aetherflow.state.run_start import RUN_START, RunFields, write_run_start
from aetherflow.state.schema import SCHEMA_VERSION
from aetherflow.state.sqlite_locks import open_error
from aetherflow.state.store import (
    ATTEMPT_COLUMNS,
    JOB_COLUMNS,
    RECORD_RERUN,
    RESET_JOB,
    RESET_STEPS,
    RUN_COLUMNS,
    RUN_WORKSPACES,
    SET_JOB,
    STEP_COLUMNS,
    STEP_END_ATTEMPT,
    STEP_END_UPSERT,
    JobRecord,
    Pruned,
    RunRecord,
    StepRecord,
    StoredWorkspace,
    job_record,
    now_ts,
    step_end_args,
    step_record,
)

_BUSY_RETRIES = 3
_SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE flow_id = ? AND run_id = ?"


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    """Where the database lives and how SQLite journals there."""

    path: str
    fstype: str
    network: bool
    journal_mode: str


def database_path(path: str | Path, flow_id: str | None) -> Path:
    """The database file for a configured path: a directory (or a path ending in ``/``) means ``<dir>/<flow_id>.db``."""
    text = str(path)
    p = Path(text)
    if text.endswith("/") or p.is_dir():
        if not flow_id:
            raise StateInputError(f"State path {text} is a directory; pass --flow-id")
        return p / f"{flow_id}.db"
    return p


class SqliteStore:
    """The state database of one process."""

    def __init__(self, conn: sqlite3.Connection, path: Path, volume: VolumeInfo) -> None:
        self._conn = conn
        self.path = path
        self.location: Path | str = path
        self.volume = volume

    def describe(self) -> str:
        """The database file."""
        return str(self.path)

    # -- opening -------------------------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        journal_mode: str = "auto",
        strict_fs: bool = False,
        busy_timeout_ms: int = 30000,
        quick_check: bool = False,
        create: bool = True,
        on_warning: Callable[..., None] | None = None,
    ) -> SqliteStore:
        """Volume check, connect, migrate; ``create=False`` (query commands) never creates the file."""
        from aetherflow.state.volume import check_writable, choose_journal_mode, detect_filesystem

        path = Path(path)
        if not create:
            if not path.is_file():
                raise StateError(f"State database not found: {path}")
            fstype, network = detect_filesystem(path.parent)
            mode = "wal" if journal_mode == "wal" else ("delete" if network or journal_mode == "delete" else "wal")
        else:
            check_writable(path.parent)
            fstype, network = detect_filesystem(path.parent)
            mode, warn = choose_journal_mode(fstype, network, journal_mode, strict_fs, str(path))
            if warn and on_warning is not None:
                on_warning("state_network_fs", path=str(path), fstype=fstype, journal_mode=mode)
        private_database(path)  # it holds step outputs (HTTP bodies, headers, cookies): 0600, also when it exists
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            if create:
                actual = conn.execute(f"PRAGMA journal_mode = {mode}").fetchone()[0]
                mode = str(actual).lower()
            else:
                mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            conn.execute(f"PRAGMA synchronous = {'NORMAL' if mode == 'wal' else 'FULL'}")
            conn.execute("PRAGMA foreign_keys = ON")
            if quick_check:
                result = conn.execute("PRAGMA quick_check").fetchone()[0]
                if result != "ok":
                    raise StateInputError(f"State database failed quick_check: {str(result).splitlines()[0]}")
            store = cls(conn, path, VolumeInfo(str(path), fstype, network, mode))
            if create:
                store._migrate()
            else:
                store._check_version()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise open_error(path, exc) from None
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _check_version(self) -> int:
        row = None
        try:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.OperationalError:
            return 0
        version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StateInputError(f"State schema version {version} is newer than supported {SCHEMA_VERSION}")
        return version

    def _migrate(self) -> None:
        from aetherflow.state.migrations import create_v1, upgrade

        if self._check_version() == SCHEMA_VERSION:
            return
        with self._tx() as c:
            # Read again under the write lock: another process may have migrated the file in the meantime.
            version = self._check_version()
            if version == 0:
                self._rename_legacy_tables(c)
                create_v1(c)
                c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)", (now_ts(),))
            upgrade(c, max(version, 1))

    @staticmethod
    def _rename_legacy_tables(c: _Tx) -> None:
        # aetherflow-core 0.0.14 databases: keep their rows, never resume from them.
        for table in ("job_runs", "step_runs", "locks"):
            cols = [r[1] for r in c.execute(f"PRAGMA table_info({table})").fetchall()]
            if cols and (
                (table == "locks" and "expires_at" not in cols) or (table != "locks" and "flow_id" not in cols)
            ):
                c.execute(f"ALTER TABLE {table} RENAME TO legacy_{table}")

    # -- transactions --------------------------------------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        for attempt in range(_BUSY_RETRIES + 1):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or attempt == _BUSY_RETRIES:
                    raise StateError(f"State database busy: {self.path} ({exc})") from exc
                time.sleep(random.uniform(0.5, 2.0))
        try:
            yield _Tx(self._conn)
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            # a full or failing volume: one line naming the database, and the connection stays usable
            raise StateError(f"State database {self.path} not written: {exc}") from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # after a failed COMMIT (a full disk) SQLite may have rolled back already; a second ROLLBACK then fails
        if self._conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")

    # -- runs ----------------------------------------------------------------------------------------------------
    def get_run(self, flow_id: str, run_id: str) -> RunRecord | None:
        """The run record, or None."""
        row = self._conn.execute(_SELECT_RUN, (flow_id, run_id)).fetchone()
        return RunRecord(*row) if row else None

    def runs_with_id(self, run_id: str) -> list[RunRecord]:
        """Every run with this id, whatever its flow."""
        rows = self._conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchall()
        return [RunRecord(*r) for r in rows]

    def list_runs(self, flow_id: str | None = None, status: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Runs newest first by ``started_at``."""
        where, args = [], []
        if flow_id:
            where.append("flow_id = ?")
            args.append(flow_id)
        if status:
            where.append("status = ?")
            args.append(status)
        sql = f"SELECT {RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, run_id DESC LIMIT ?"
        return [RunRecord(*r) for r in self._conn.execute(sql, (*args, limit)).fetchall()]

    def start_run(
        self,
        flow_id: str,
        run_id: str,
        *,
        flow_file: str | None = None,
        flow_sha256: str | None = None,
        flow_job: str | None = None,
        job_name: str | None = None,
        job_uid: str | None = None,
        pod_name: str | None = None,
        namespace: str | None = None,
        bundle_fingerprint: str | None = None,
        scheduled_at: str | None = None,
    ) -> tuple[RunRecord, RunRecord | None]:
        """Create the run (attempt 1) or resume it (attempt + 1); returns (current, previous record or None).

        Resuming first marks rows a dead attempt left RUNNING as INTERRUPTED.
        """
        ts = now_ts()
        fields = RunFields(
            flow_file, flow_sha256, flow_job, job_name, job_uid, pod_name, namespace, bundle_fingerprint, scheduled_at
        )
        with self._tx() as c:
            row = c.execute(_SELECT_RUN, (flow_id, run_id)).fetchone()
            previous = RunRecord(*row) if row else None
            write_run_start(c, RUN_START, previous, (flow_id, run_id), ts, fields)
            current = RunRecord(*c.execute(_SELECT_RUN, (flow_id, run_id)).fetchone())
        return current, previous

    def finish_run(self, flow_id: str, run_id: str, status: str, exit_code: int, error: str | None) -> None:
        """Record the run's final status of this attempt."""
        ts = now_ts()
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status = ?, exit_code = ?, error = ?, ended_at = ?, updated_at = ?"
                " WHERE flow_id = ? AND run_id = ?",
                (status, exit_code, error, ts, ts, flow_id, run_id),
            )

    # -- jobs ----------------------------------------------------------------------------------------------------
    def load_jobs(self, flow_id: str, run_id: str) -> dict[str, JobRecord]:
        """Every job record of the run, ordered by creation."""
        rows = self._conn.execute(
            f"SELECT {JOB_COLUMNS} FROM job_runs WHERE flow_id = ? AND run_id = ? ORDER BY created_at, job_id",
            (flow_id, run_id),
        ).fetchall()
        return {r[0]: job_record(r) for r in rows}

    def set_job(
        self,
        flow_id: str,
        run_id: str,
        job_id: str,
        status: str,
        *,
        started: bool = False,
        ended: bool = True,
        skip_reason: str | None = None,
        skip_trigger: str | None = None,
        reason: str | None = None,
        error: str | None = None,
        outputs_json: str = "{}",
        workspace_path: str | None = None,
    ) -> None:
        """Write a job transition (insert or update) in one transaction."""
        ts = now_ts()
        with self._tx() as c:
            c.execute(
                SET_JOB,
                (
                    flow_id,
                    run_id,
                    job_id,
                    status,
                    ts,
                    ts if started else None,
                    ts if ended else None,
                    ts,
                    skip_reason,
                    skip_trigger,
                    reason,
                    error,
                    outputs_json,
                    workspace_path,
                ),
            )

    def reset_jobs(
        self, flow_id: str, run_id: str, job_ids: Sequence[str], *, rerun_request: str | None = None
    ) -> None:
        """In one transaction: no job or step record for ``job_ids`` (attempt rows stay); the request recorded."""
        with self._tx() as c:
            for job_id in job_ids:
                c.execute(RESET_STEPS, (flow_id, run_id, job_id))
                c.execute(RESET_JOB, (flow_id, run_id, job_id))
            if rerun_request is not None:
                c.execute(RECORD_RERUN, (rerun_request, now_ts(), flow_id, run_id))

    # -- steps ---------------------------------------------------------------------------------------------------
    def load_steps(self, flow_id: str, run_id: str) -> dict[tuple[str, str], StepRecord]:
        """Every step record of the run keyed by (job_id, step_id), ordered by creation."""
        rows = self._conn.execute(
            f"SELECT {STEP_COLUMNS} FROM step_runs WHERE flow_id = ? AND run_id = ?"
            " ORDER BY created_at, job_id, step_id",
            (flow_id, run_id),
        ).fetchall()
        return {(r[0], r[1]): step_record(r) for r in rows}

    def load_attempts(self, flow_id: str, run_id: str) -> list[tuple[Any, ...]]:
        """Every attempt row of the run's steps: (job_id, step_id, attempt, status, started_at, ended_at, error)."""
        return self._conn.execute(
            f"SELECT {ATTEMPT_COLUMNS} FROM step_attempts WHERE flow_id = ? AND run_id = ?"
            " ORDER BY started_at, job_id, step_id, attempt",
            (flow_id, run_id),
        ).fetchall()

    def step_running(
        self, flow_id: str, run_id: str, job_id: str, step_id: str, step_type: str, attempt: int, run_attempt: int
    ) -> None:
        """The step starts attempt ``attempt``: its row RUNNING and a new attempt row."""
        ts = now_ts()
        with self._tx() as c:
            c.execute(
                "INSERT INTO step_runs (flow_id, run_id, job_id, step_id, step_type, status, attempts, created_at,"
                " started_at, updated_at) VALUES (?, ?, ?, ?, ?, 'RUNNING', ?, ?, ?, ?)"
                " ON CONFLICT (flow_id, run_id, job_id, step_id) DO UPDATE SET status = 'RUNNING',"
                " step_type = excluded.step_type, attempts = excluded.attempts, started_at = excluded.started_at,"
                " ended_at = NULL, updated_at = excluded.updated_at, error = NULL",
                (flow_id, run_id, job_id, step_id, step_type, attempt, ts, ts, ts),
            )
            c.execute(
                "INSERT OR REPLACE INTO step_attempts (flow_id, run_id, job_id, step_id, attempt, run_attempt, status,"
                " started_at) VALUES (?, ?, ?, ?, ?, ?, 'RUNNING', ?)",
                (flow_id, run_id, job_id, step_id, attempt, run_attempt, ts),
            )

    def step_attempt_failed(
        self, flow_id: str, run_id: str, job_id: str, step_id: str, attempt: int, error: str
    ) -> None:
        """An attempt failed and another follows: the attempt row ends FAILED, the step stays RUNNING."""
        with self._tx() as c:
            c.execute(
                "UPDATE step_attempts SET status = 'FAILED', ended_at = ?, error = ? WHERE flow_id = ? AND run_id = ?"
                " AND job_id = ? AND step_id = ? AND attempt = ?",
                (now_ts(), error, flow_id, run_id, job_id, step_id, attempt),
            )

    def step_end(
        self,
        flow_id: str,
        run_id: str,
        job_id: str,
        step_id: str,
        step_type: str,
        status: str,
        *,
        attempts: int,
        error: str | None = None,
        outputs_json: str | None = None,
        promoted_json: str | None = None,
        attempt_row: bool = True,
    ) -> None:
        """A step's final status of this attempt (also for records written without running: attempts unchanged)."""
        ids = (flow_id, run_id, job_id, step_id, step_type)
        row, attempt_args = step_end_args(ids, status, attempts, now_ts(), error, outputs_json, promoted_json)
        with self._tx() as c:
            c.execute(STEP_END_UPSERT, row)
            if attempt_row:
                c.execute(STEP_END_ATTEMPT, attempt_args)

    def set_promoted(self, flow_id: str, run_id: str, job_id: str, step_id: str, promoted_json: str) -> None:
        """Store the rendered ``outputs`` of a finished step."""
        with self._tx() as c:
            c.execute(
                "UPDATE step_runs SET promoted_json = ?"
                " WHERE flow_id = ? AND run_id = ? AND job_id = ? AND step_id = ?",
                (promoted_json, flow_id, run_id, job_id, step_id),
            )

    # -- retention -----------------------------------------------------------------------------------------------
    def prune(self, older_than_days: float, *, flow_id: str | None = None, dry_run: bool = False) -> Pruned:
        """Delete finished runs older than the cutoff with their rows, and locks expired for as long."""
        # an age beyond the epoch (1e12 days, inf) keeps everything instead of overflowing the time functions
        cutoff_epoch = max(time.time() - older_than_days * 86400, 0.0)
        cutoff = now_ts(cutoff_epoch)
        cond = "status != 'RUNNING' AND COALESCE(ended_at, started_at) < ?"
        args: list[Any] = [cutoff]
        if flow_id:
            cond += " AND flow_id = ?"
            args.append(flow_id)
        with self._tx() as c:
            keys = c.execute(f"SELECT flow_id, run_id FROM runs WHERE {cond}", args).fetchall()
            counts = {"runs": len(keys), "jobs": 0, "steps": 0, "locks": 0}
            workspaces: list[StoredWorkspace] = []
            for fid, rid in keys:
                workspaces += [StoredWorkspace(*r) for r in c.execute(RUN_WORKSPACES, (fid, rid)).fetchall()]
                counts["jobs"] += c.execute(
                    "SELECT COUNT(*) FROM job_runs WHERE flow_id = ? AND run_id = ?", (fid, rid)
                ).fetchone()[0]
                counts["steps"] += c.execute(
                    "SELECT COUNT(*) FROM step_runs WHERE flow_id = ? AND run_id = ?", (fid, rid)
                ).fetchone()[0]
            lock_cond = "expires_at < ?"
            lock_args: list[Any] = [cutoff_epoch]
            if flow_id:
                lock_cond += " AND flow_id = ?"
                lock_args.append(flow_id)
            counts["locks"] = c.execute(f"SELECT COUNT(*) FROM locks WHERE {lock_cond}", lock_args).fetchone()[0]
            if not dry_run:
                for fid, rid in keys:
                    for table in ("step_attempts", "step_runs", "job_runs", "runs"):
                        c.execute(f"DELETE FROM {table} WHERE flow_id = ? AND run_id = ?", (fid, rid))
                c.execute(f"DELETE FROM locks WHERE {lock_cond}", lock_args)
        return Pruned(counts, workspaces)

    def integrity_check(self) -> str:
        """``PRAGMA integrity_check``'s first line."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])


class _Tx:
    """The cursor-like handle of an open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Any = ()) -> sqlite3.Cursor:
        return self._conn.execute(sql, args)
