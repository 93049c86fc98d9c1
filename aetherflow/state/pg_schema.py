"""The PostgreSQL state schema as created new: the SQLite schema of ``PG_BASE_VERSION`` in PostgreSQL's own types.

Timestamps of runs, jobs and steps stay the RFC 3339 text both stores write (the records are the same); lock times
are Unix seconds as ``double precision`` taken from the server's ``clock_timestamp()``. Later versions are the shared
migrations (``migrations.MIGRATIONS`` above ``PG_BASE_VERSION``), never edits of this text.
"""

#: the schema version the DDL below creates; frozen once released, like ``schema.SCHEMA_V1``
PG_BASE_VERSION = 2

PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);

CREATE TABLE IF NOT EXISTS runs (
  flow_id      text NOT NULL,
  run_id       text NOT NULL,
  status       text NOT NULL,
  attempt      integer NOT NULL DEFAULT 1,
  started_at   text NOT NULL,
  ended_at     text,
  updated_at   text NOT NULL,
  exit_code    integer,
  error        text,
  flow_file    text,
  flow_sha256  text,
  flow_job     text,
  job_name     text, job_uid text, pod_name text, namespace text,
  bundle_fingerprint text,
  PRIMARY KEY (flow_id, run_id)
);

CREATE TABLE IF NOT EXISTS job_runs (
  flow_id text NOT NULL, run_id text NOT NULL, job_id text NOT NULL,
  status       text NOT NULL,
  created_at   text NOT NULL,
  started_at   text, ended_at text, updated_at text NOT NULL,
  skip_reason  text, skip_trigger text,
  reason       text,
  error        text,
  outputs_json text NOT NULL DEFAULT '{}',
  PRIMARY KEY (flow_id, run_id, job_id),
  FOREIGN KEY (flow_id, run_id) REFERENCES runs ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS step_runs (
  flow_id text NOT NULL, run_id text NOT NULL, job_id text NOT NULL, step_id text NOT NULL,
  step_type    text NOT NULL,
  status       text NOT NULL,
  attempts     integer NOT NULL DEFAULT 0,
  created_at   text NOT NULL,
  started_at   text, ended_at text, updated_at text NOT NULL,
  error        text,
  outputs_json  text,
  promoted_json text,
  outputs_truncated integer NOT NULL DEFAULT 0,
  PRIMARY KEY (flow_id, run_id, job_id, step_id),
  FOREIGN KEY (flow_id, run_id) REFERENCES runs ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS step_attempts (
  flow_id text NOT NULL, run_id text NOT NULL, job_id text NOT NULL, step_id text NOT NULL,
  attempt      integer NOT NULL,
  run_attempt  integer NOT NULL,
  status       text NOT NULL,
  started_at   text NOT NULL, ended_at text,
  error        text,
  PRIMARY KEY (flow_id, run_id, job_id, step_id, attempt),
  FOREIGN KEY (flow_id, run_id) REFERENCES runs ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS locks (
  key          text PRIMARY KEY,
  owner        text NOT NULL,
  expires_at   double precision NOT NULL,
  flow_id      text, pod_name text,
  acquired_at  double precision, heartbeat_at double precision, ttl_seconds integer,
  host_boot_id text, host_pid_ns text, host_name text, pid integer
);

CREATE INDEX IF NOT EXISTS runs_by_start ON runs (flow_id, started_at);
"""
