"""The PostgreSQL state store: the same records, statuses and versioning as the SQLite store, many runs in one database.

Many pods of many flows share the database; the store works in the schema its URL's ``search_path`` names, so two
namespaces (or releases) never see each other's runs or locks. Each transition is its own transaction. A new schema
is created at ``pg_schema.PG_BASE_VERSION`` and upgraded by the shared migrations, under a transaction-scoped advisory
lock so that pods starting together migrate it once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aetherflow.errors import StateError, StateInputError
from aetherflow.state.location import redact_url
from aetherflow.state.pg_connect import PgConnection, ensure_schema
from aetherflow.state.run_start import RUN_START, RunFields, write_run_start
from aetherflow.state.schema import SCHEMA_VERSION
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

#: the advisory lock key space of this store (``pg_advisory_xact_lock(bigint)`` of a hash of a text)
# Keyed by the schema name the store resolved, not current_schema(): that is NULL in a session whose search_path
# schema did not exist when it was resolved, and a NULL key locks nothing (two pods would migrate together).
_MIGRATE_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('aetherflow.state.migrate.' || %s, 0))"
_RUN_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('aetherflow.state.run.' || %s || '/' || %s, 0))"
_SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE flow_id = %s AND run_id = %s"


class _PgTx:
    """A migration's view of the open transaction: portable ``?`` placeholders become psycopg's ``%s``."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: Any = (), /) -> Any:
        if not args:
            return self._conn.execute(sql)  # no parameters: psycopg sends the text as it is
        return self._conn.execute(pg_placeholders(sql), args)


def pg_placeholders(sql: str) -> str:
    """``sql`` with each ``?`` placeholder as ``%s`` and ``%`` doubled; quoted text and identifiers are kept."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote is not None:
            quote = None if char == quote else quote  # a doubled quote closes and reopens: the same text
        elif char in "'\"":
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out)


# Each transition below is one statement (data-modifying WITH for the second table): autocommit makes it its own
# transaction, all or nothing, in one round trip to the server instead of BEGIN, statements and COMMIT.
_STEP_END_UPSERT = pg_placeholders(STEP_END_UPSERT)
#: the step's row and the end of its attempt in flight
_STEP_END_WITH_ATTEMPT = f"WITH step AS ({_STEP_END_UPSERT}) {pg_placeholders(STEP_END_ATTEMPT)}"
#: the step's row RUNNING and a new attempt row
_STEP_RUNNING = (
    "WITH step AS (INSERT INTO step_runs (flow_id, run_id, job_id, step_id, step_type, status, attempts, created_at,"
    " started_at, updated_at) VALUES (%s, %s, %s, %s, %s, 'RUNNING', %s, %s, %s, %s)"
    " ON CONFLICT (flow_id, run_id, job_id, step_id) DO UPDATE SET status = 'RUNNING',"
    " step_type = excluded.step_type, attempts = excluded.attempts, started_at = excluded.started_at,"
    " ended_at = NULL, updated_at = excluded.updated_at, error = NULL)"
    " INSERT INTO step_attempts (flow_id, run_id, job_id, step_id, attempt, run_attempt, status, started_at)"
    " VALUES (%s, %s, %s, %s, %s, %s, 'RUNNING', %s)"
    " ON CONFLICT (flow_id, run_id, job_id, step_id, attempt) DO UPDATE SET"
    " run_attempt = excluded.run_attempt, status = 'RUNNING', started_at = excluded.started_at,"
    " ended_at = NULL, error = NULL"
)
_SET_JOB = pg_placeholders(SET_JOB)
_RESET_STEPS = pg_placeholders(RESET_STEPS)
_RESET_JOB = pg_placeholders(RESET_JOB)
_RECORD_RERUN = pg_placeholders(RECORD_RERUN)
_RUN_WORKSPACES = pg_placeholders(RUN_WORKSPACES)
_RUN_START = RUN_START.translated(pg_placeholders)


class PostgresStore:
    """The state of every flow's runs in one PostgreSQL schema."""

    def __init__(self, conn: PgConnection, url: str, schema: str) -> None:
        self._db = conn
        self.url = url
        self.location: Path | str = url
        self.schema = schema

    @classmethod
    def open(cls, url: str, *, create: bool = True) -> PostgresStore:
        """Connect, find (or create) the schema, migrate it; ``create=False`` (query commands) only checks."""
        conn = PgConnection(url)
        try:
            schema = conn.read("finding the schema", lambda c: ensure_schema(c, create=create))
            store = cls(conn, url, schema)
            if create:
                store._migrate()
            else:
                store._check_version(create=False)
        except BaseException:
            conn.close()
            raise
        return store

    def describe(self) -> str:
        """The URL without its password, and the schema."""
        return f"{redact_url(self.url)} (schema {self.schema})"

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    # -- versions ------------------------------------------------------------------------------------------------
    def version(self) -> int:
        """The schema version recorded in ``meta`` (0: no state tables yet)."""
        return self._db.read("reading the schema version", _version_of)

    def _check_version(self, *, create: bool, version: int | None = None) -> int:
        version = self.version() if version is None else version
        if version > SCHEMA_VERSION:
            raise StateInputError(f"State schema version {version} is newer than supported {SCHEMA_VERSION}")
        if version == 0 and not create:
            raise StateError(f"No state tables in {self.describe()}: run `aetherflow state init` first")
        return version

    def _migrate(self) -> None:
        from aetherflow.state.migrations import upgrade
        from aetherflow.state.pg_schema import PG_BASE_VERSION, PG_SCHEMA

        if self._check_version(create=True) == SCHEMA_VERSION:
            return

        def body(c: Any) -> None:
            c.execute(_MIGRATE_LOCK, (self.schema,))
            # again under the lock: another pod may have migrated it meanwhile
            version = self._check_version(create=True, version=_version_of(c))
            if version == 0:
                for statement in PG_SCHEMA.split(";"):
                    if statement.strip():
                        c.execute(statement)
                c.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s), ('created_at', %s)"
                    " ON CONFLICT (key) DO NOTHING",
                    (str(PG_BASE_VERSION), now_ts()),
                )
                # another pod may have created (and migrated) it while this session could not see the schema yet:
                # the recorded version counts, never the one this branch assumes
                version = _version_of(c)
            upgrade(_PgTx(c), version)

        self._db.transaction("migrating the schema", body)

    # -- runs ----------------------------------------------------------------------------------------------------
    def get_run(self, flow_id: str, run_id: str) -> RunRecord | None:
        """The run record, or None."""
        row = self._db.read("reading a run", lambda c: c.execute(_SELECT_RUN, (flow_id, run_id)).fetchone())
        return RunRecord(*row) if row else None

    def runs_with_id(self, run_id: str) -> list[RunRecord]:
        """Every run with this id, whatever its flow."""
        sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = %s ORDER BY flow_id"
        rows = self._db.read("reading runs", lambda c: c.execute(sql, (run_id,)).fetchall())
        return [RunRecord(*r) for r in rows]

    def list_runs(self, flow_id: str | None = None, status: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Runs newest first by ``started_at``."""
        where, args = [], []
        if flow_id:
            where.append("flow_id = %s")
            args.append(flow_id)
        if status:
            where.append("status = %s")
            args.append(status)
        sql = f"SELECT {RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, run_id DESC LIMIT %s"
        bound = None if limit < 0 else limit  # as SQLite reads a negative LIMIT: no limit
        rows = self._db.read("listing runs", lambda c: c.execute(sql, (*args, bound)).fetchall())
        return [RunRecord(*r) for r in rows]

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
        """Create the run (attempt 1) or resume it (attempt + 1); returns (current, previous record or None)."""
        ts = now_ts()
        fields = RunFields(
            flow_file, flow_sha256, flow_job, job_name, job_uid, pod_name, namespace, bundle_fingerprint, scheduled_at
        )

        def body(c: Any) -> tuple[RunRecord, RunRecord | None]:
            c.execute(_RUN_LOCK, (flow_id, run_id))  # two starts of one run never interleave (as BEGIN IMMEDIATE)
            row = c.execute(_SELECT_RUN + " FOR UPDATE", (flow_id, run_id)).fetchone()
            previous = RunRecord(*row) if row else None
            write_run_start(c, _RUN_START, previous, (flow_id, run_id), ts, fields)
            return RunRecord(*c.execute(_SELECT_RUN, (flow_id, run_id)).fetchone()), previous

        return self._db.transaction(f"starting run {run_id}", body, pipeline=True)

    def finish_run(self, flow_id: str, run_id: str, status: str, exit_code: int, error: str | None) -> None:
        """Record the run's final status of this attempt."""
        ts = now_ts()
        self._write(
            f"finishing run {run_id}",
            "UPDATE runs SET status = %s, exit_code = %s, error = %s, ended_at = %s, updated_at = %s"
            " WHERE flow_id = %s AND run_id = %s",
            (status, exit_code, error, ts, ts, flow_id, run_id),
        )

    # -- jobs ----------------------------------------------------------------------------------------------------
    def load_jobs(self, flow_id: str, run_id: str) -> dict[str, JobRecord]:
        """Every job record of the run, ordered by creation."""
        sql = f"SELECT {JOB_COLUMNS} FROM job_runs WHERE flow_id = %s AND run_id = %s ORDER BY created_at, job_id"
        rows = self._db.read("reading jobs", lambda c: c.execute(sql, (flow_id, run_id)).fetchall())
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
        self._write(
            f"recording job {job_id}",
            _SET_JOB,
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

        def body(c: Any) -> None:
            c.execute(_RUN_LOCK, (flow_id, run_id))  # never interleaved with a start of the same run
            for job_id in job_ids:
                c.execute(_RESET_STEPS, (flow_id, run_id, job_id))
                c.execute(_RESET_JOB, (flow_id, run_id, job_id))
            if rerun_request is not None:
                c.execute(_RECORD_RERUN, (rerun_request, now_ts(), flow_id, run_id))

        self._db.transaction(f"resetting jobs of run {run_id}", body)

    # -- steps ---------------------------------------------------------------------------------------------------
    def load_steps(self, flow_id: str, run_id: str) -> dict[tuple[str, str], StepRecord]:
        """Every step record of the run keyed by (job_id, step_id), ordered by creation."""
        sql = (
            f"SELECT {STEP_COLUMNS} FROM step_runs WHERE flow_id = %s AND run_id = %s"
            " ORDER BY created_at, job_id, step_id"
        )
        rows = self._db.read("reading steps", lambda c: c.execute(sql, (flow_id, run_id)).fetchall())
        return {(r[0], r[1]): step_record(r) for r in rows}

    def load_attempts(self, flow_id: str, run_id: str) -> list[tuple[Any, ...]]:
        """Every attempt row of the run's steps: (job_id, step_id, attempt, status, started_at, ended_at, error)."""
        sql = (
            f"SELECT {ATTEMPT_COLUMNS} FROM step_attempts WHERE flow_id = %s AND run_id = %s"
            " ORDER BY started_at, job_id, step_id, attempt"
        )
        rows: list[tuple[Any, ...]] = self._db.read(
            "reading attempts", lambda c: c.execute(sql, (flow_id, run_id)).fetchall()
        )
        return rows

    def step_running(
        self, flow_id: str, run_id: str, job_id: str, step_id: str, step_type: str, attempt: int, run_attempt: int
    ) -> None:
        """The step starts attempt ``attempt``: its row RUNNING and a new attempt row."""
        ts = now_ts()
        key = (flow_id, run_id, job_id, step_id)
        self._db.statement(
            f"starting step {job_id}.{step_id}",
            _STEP_RUNNING,
            (*key, step_type, attempt, ts, ts, ts, *key, attempt, run_attempt, ts),
        )

    def step_attempt_failed(
        self, flow_id: str, run_id: str, job_id: str, step_id: str, attempt: int, error: str
    ) -> None:
        """An attempt failed and another follows: the attempt row ends FAILED, the step stays RUNNING."""
        self._write(
            f"recording a failed attempt of {job_id}.{step_id}",
            "UPDATE step_attempts SET status = 'FAILED', ended_at = %s, error = %s WHERE flow_id = %s"
            " AND run_id = %s AND job_id = %s AND step_id = %s AND attempt = %s",
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
        if attempt_row:
            self._db.statement(f"ending step {job_id}.{step_id}", _STEP_END_WITH_ATTEMPT, (*row, *attempt_args))
        else:
            self._db.statement(f"ending step {job_id}.{step_id}", _STEP_END_UPSERT, row)

    def set_promoted(self, flow_id: str, run_id: str, job_id: str, step_id: str, promoted_json: str) -> None:
        """Store the rendered ``outputs`` of a finished step."""
        self._write(
            f"recording outputs of {job_id}.{step_id}",
            "UPDATE step_runs SET promoted_json = %s"
            " WHERE flow_id = %s AND run_id = %s AND job_id = %s AND step_id = %s",
            (promoted_json, flow_id, run_id, job_id, step_id),
        )

    # -- retention -----------------------------------------------------------------------------------------------
    def prune(self, older_than_days: float, *, flow_id: str | None = None, dry_run: bool = False) -> Pruned:
        """Delete finished runs older than the cutoff with their rows, and locks expired for as long."""
        seconds = min(older_than_days * 86400, time.time())  # beyond the epoch keeps everything, never overflows
        cutoff = now_ts(max(time.time() - seconds, 0.0))
        cond, args = "status <> 'RUNNING' AND COALESCE(ended_at, started_at) < %s", [cutoff]
        lock_cond = "expires_at < extract(epoch FROM clock_timestamp()) - %s"  # the lock clock is the server's
        lock_args: list[Any] = [seconds]
        if flow_id:
            cond, lock_cond = cond + " AND flow_id = %s", lock_cond + " AND flow_id = %s"
            args.append(flow_id)
            lock_args.append(flow_id)

        def body(c: Any) -> Pruned:
            keys = c.execute(f"SELECT flow_id, run_id FROM runs WHERE {cond} FOR UPDATE", args).fetchall()
            counts = {"runs": len(keys), "jobs": 0, "steps": 0, "locks": 0}
            workspaces = [StoredWorkspace(*r) for k in keys for r in c.execute(_RUN_WORKSPACES, tuple(k)).fetchall()]
            for table, name in (("job_runs", "jobs"), ("step_runs", "steps")):
                counts[name] = c.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE (flow_id, run_id) IN"
                    f" (SELECT flow_id, run_id FROM runs WHERE {cond})",
                    args,
                ).fetchone()[0]
            counts["locks"] = c.execute(f"SELECT COUNT(*) FROM locks WHERE {lock_cond}", lock_args).fetchone()[0]
            if not dry_run:
                c.execute(f"DELETE FROM runs WHERE {cond}", args)  # job, step and attempt rows cascade
                c.execute(f"DELETE FROM locks WHERE {lock_cond}", lock_args)
            return Pruned(counts, workspaces)

        return self._db.transaction("pruning", body)

    def _write(self, what: str, sql: str, args: tuple[Any, ...]) -> None:
        self._db.statement(what, sql, args)


def _version_of(c: Any) -> int:
    if c.execute("SELECT to_regclass('meta')").fetchone()[0] is None:
        return 0
    row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0
