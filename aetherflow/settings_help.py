"""One-line meanings of the ``AETHERFLOW_*`` settings, for ``docs/reference/settings.md`` and ``--help``.

``Settings`` (``aetherflow.settings``) owns each setting's name, type and default; this table owns only what a
setting means. It is kept apart so the settings module stays small on the cold-start path. A unit test fails when a
``Settings`` field has no line here, so a new setting cannot ship undocumented. Entries for settings that another
change is still adding are harmless: the generator lists only fields ``Settings`` has.
"""

from __future__ import annotations

from typing import Final

#: setting field name -> meaning (one sentence, the reference table's last column)
SETTING_HELP: Final[dict[str, str]] = {
    "flow_file": "Flow file. `container` defaults to `/etc/aetherflow/flows/flow.yaml`.",
    "flow_job": "Run only this job, reading its dependencies' statuses from the run's state (like `--flow-job`).",
    "rerun": "Jobs (comma-separated) to reset with their dependents before resuming the run (like `--rerun`).",
    "run_id": "Run id; an existing run id resumes that run. Default: the Job name, else a generated id.",
    "job_name": "Kubernetes Job name (downward API); the default run id and the schedule slot's source.",
    "job_uid": "Kubernetes Job UID (downward API); tells a retried pod of the same Job from a new Job.",
    "pod_name": "Pod name (downward API); recorded with each attempt.",
    "namespace": "Kubernetes namespace (downward API); a Pushgateway grouping label.",
    "state_path": "SQLite state database. `container` defaults to `/var/lib/aetherflow/state/<flow_id>.db`.",
    "state_url": "State location as `sqlite:///PATH` or `postgresql://...`; wins over `AETHERFLOW_STATE_PATH`.",
    "work_root": "Root of job workspaces and the bundle cache; overrides `flow.workspace.root`.",
    "locks_scope": "Overrides `flow.locks.scope`: `none`, `job` or `flow`.",
    "profiles_file": "Profiles file. `container` uses `/etc/aetherflow/profiles/profiles.yaml` when it exists.",
    "profiles_json": "Profiles as JSON text (exclusive with `AETHERFLOW_PROFILES_FILE`).",
    "env_files": "Env-file specs, a JSON list; each item is secret unless it says `secret: false`.",
    "env_files_json": "Env-file specs, a JSON list (the upstream name of `AETHERFLOW_ENV_FILES`).",
    "secrets_module": "Python module of the secrets hook (`expand_env`, `decode`).",
    "secrets_path": "Python file of the secrets hook (used when no module is set).",
    "secret_patterns": "Comma-separated globs; env names matching one have their values redacted.",
    "validate_env_strict": "`validate` reports missing `{{env.NAME}}` values as errors, not warnings.",
    "bundle_manifest": "Bundle manifest to sync and take the flow, profiles and plugins from.",
    "allow_stale_bundle": "Use the last synced bundle when the sync fails.",
    "mode": "`internal_fast` or `enterprise` (allow-lists for plugins and drivers); a manifest's `mode` wins.",
    "mode_enterprise": "`true` turns enterprise mode on as well.",
    "strict_sandbox": "Step file paths must stay inside the job workspace (and the allowed roots).",
    "plugin_paths": "Comma-separated plugin directories (ignored in enterprise mode).",
    "plugin_strict": "A plugin that fails to load stops the run (exit 2) instead of logging a warning.",
    "log_format": "`text` or `json`. Default `text`; `container` defaults to `json`.",
    "log_level": "Lowest level logged: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`.",
    "metrics_module": "Python module exposing `METRICS`, called with each run event.",
    "pushgateway_url": "Pushgateway base URL; empty means no push. A password in it is redacted.",
    "pushgateway_timeout_seconds": "Timeout of one push attempt.",
    "pushgateway_attempts": "Attempts per push (the start push makes one).",
    "pushgateway_namespace_label": "Add `namespace` to the Pushgateway grouping key.",
    "pushgateway_run_info": "Also push `aetherflow_run_info` (one series per run id: high cardinality).",
    "overlap_exit_code": "Exit code when the run is refused because another live invocation holds its lock: 0 or 75.",
    "run_takeover_seconds": "How long a second invocation of a live run waits for the holder to go stale "
    "(default: the stale threshold plus one heartbeat interval, 40 s at the default TTL).",
    "schedule_name": "The CronJob's name (set by the chart); Jobs named `<name>-<digits>` get a schedule slot.",
    "timezone": "IANA time zone of the schedule; the default of `flow.timezone` for `run.date`.",
    "scheduled_at": "RFC 3339 schedule slot of this run; overrides the slot read from the Job name.",
    "kubernetes_events": "Create Kubernetes Events on the Job (needs the chart's opt-in API access).",
    "termination_log": "File the termination message is written to (only when it exists).",
    "grace_seconds": "After SIGTERM/SIGINT, how long the running step may take to stop.",
    "progress_seconds": "Seconds between two `step_progress` events of a long extract, transfer or zip/unzip; "
    "`0` turns them off.",
    "state_journal_mode": "SQLite journal: `auto` (WAL on local disks), `wal` or `delete`.",
    "state_strict_fs": "Refuse (exit 2) a state directory on a network file system.",
    "state_quick_check": "Run SQLite's `quick_check` when the database is opened.",
    "state_busy_timeout_ms": "How long a state write waits for another writer (SQLite busy timeout).",
    "state_max_output_bytes": "Largest stored output document; a larger one fails its step or job.",
    "state_retention_days": "Prune runs of this flow older than this many days after each run.",
    "connector_cache_default": "Connector reuse: per `run`, per `process`, or `none`.",
    "connector_cache_disabled": "Forces connector reuse `none`.",
    "settings_dir": "Directory of settings files, one per `AETHERFLOW_*` name (read only when it exists).",
    "settings_module": "Python module exposing `SETTINGS`, a dict of overrides applied after the environment.",
    "strict_templates": "Accepted and ignored: templates are always strict.",
    "state_root": "Accepted and ignored (it had no effect upstream either).",
    "strict_arch": "Accepted and ignored.",
}

#: the settings ``run`` and ``container`` read beyond their flags, listed in their ``--help``
RUN_SETTINGS: Final[tuple[str, ...]] = (
    "flow_file",
    "flow_job",
    "run_id",
    "state_url",
    "state_path",
    "work_root",
    "locks_scope",
    "profiles_file",
    "env_files",
    "secrets_module",
    "bundle_manifest",
    "log_format",
    "log_level",
    "pushgateway_url",
    "overlap_exit_code",
    "grace_seconds",
    "termination_log",
    "state_retention_days",
)
