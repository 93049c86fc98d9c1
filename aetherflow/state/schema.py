"""The state schema: the current version, and version 1 as SQL (frozen: later versions are migrations on top)."""

#: the version this code writes; ``migrations.MIGRATIONS`` ends at it
SCHEMA_VERSION = 3

#: version 1 exactly as released; never edit it (upgrades from old files are tested against it)
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS runs (
  flow_id      TEXT NOT NULL,
  run_id       TEXT NOT NULL,
  status       TEXT NOT NULL,
  attempt      INTEGER NOT NULL DEFAULT 1,
  started_at   TEXT NOT NULL,
  ended_at     TEXT,
  updated_at   TEXT NOT NULL,
  exit_code    INTEGER,
  error        TEXT,
  flow_file    TEXT,
  flow_sha256  TEXT,
  flow_job     TEXT,
  job_name     TEXT, job_uid TEXT, pod_name TEXT, namespace TEXT,
  bundle_fingerprint TEXT,
  PRIMARY KEY (flow_id, run_id)
);

CREATE TABLE IF NOT EXISTS job_runs (
  flow_id TEXT NOT NULL, run_id TEXT NOT NULL, job_id TEXT NOT NULL,
  status       TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  started_at   TEXT, ended_at TEXT, updated_at TEXT NOT NULL,
  skip_reason  TEXT, skip_trigger TEXT,
  reason       TEXT,
  error        TEXT,
  outputs_json TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (flow_id, run_id, job_id),
  FOREIGN KEY (flow_id, run_id) REFERENCES runs ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS step_runs (
  flow_id TEXT NOT NULL, run_id TEXT NOT NULL, job_id TEXT NOT NULL, step_id TEXT NOT NULL,
  step_type    TEXT NOT NULL,
  status       TEXT NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  created_at   TEXT NOT NULL,
  started_at   TEXT, ended_at TEXT, updated_at TEXT NOT NULL,
  error        TEXT,
  outputs_json  TEXT,
  promoted_json TEXT,
  outputs_truncated INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (flow_id, run_id, job_id, step_id),
  FOREIGN KEY (flow_id, run_id) REFERENCES runs ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS step_attempts (
  flow_id TEXT NOT NULL, run_id TEXT NOT NULL, job_id TEXT NOT NULL, step_id TEXT NOT NULL,
  attempt      INTEGER NOT NULL,
  run_attempt  INTEGER NOT NULL,
  status       TEXT NOT NULL,
  started_at   TEXT NOT NULL, ended_at TEXT,
  error        TEXT,
  PRIMARY KEY (flow_id, run_id, job_id, step_id, attempt),
  FOREIGN KEY (flow_id, run_id) REFERENCES runs ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS locks (
  key          TEXT PRIMARY KEY,
  owner        TEXT NOT NULL,
  expires_at   REAL NOT NULL,
  flow_id      TEXT, pod_name TEXT,
  acquired_at  REAL, heartbeat_at REAL, ttl_seconds INTEGER
);

CREATE INDEX IF NOT EXISTS runs_by_start ON runs (flow_id, started_at);
"""
