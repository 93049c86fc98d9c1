"""One-line meanings of the Flow YAML fields, for the JSON Schema's descriptions and ``docs/reference/flow-yaml.md``.

The flow schema (``aetherflow.spec.model``) owns each field's type, default and rules; this table owns what a field
means. Keys are the schema's definition names (``<root>`` for the top level). A unit test fails when a property of
the generated schema has no meaning here; entries for fields the schema does not have (yet) are ignored.
"""

from __future__ import annotations

from typing import Final

FIELD_HELP: Final[dict[str, dict[str, str]]] = {
    "<root>": {
        "version": "Flow YAML version; must be 1.",
        "flow": "Flow metadata: id, workspace, state, locks (rendered with `env` only).",
        "resources": "Named connections (database, SFTP, HTTP, mail, S3, archive ...), used by steps.",
        "jobs": "The jobs, run one at a time in dependency order (declaration order breaks ties).",
    },
    "Flow": {
        "id": "Flow id: names the state, locks, workspace and metrics of this flow.",
        "description": "Free text.",
        "workspace": "Where jobs write files and when those files are removed.",
        "state": "Where runs are recorded (a setting or `--state` wins).",
        "locks": "Which implicit locks a run takes.",
        "timezone": "IANA time zone of `run.date` (default: AETHERFLOW_TIMEZONE, else UTC).",
    },
    "Workspace": {
        "root": "Root directory of job workspaces (AETHERFLOW_WORK_ROOT wins).",
        "cleanup_policy": "When job directories are removed: `on_success`, `always` or `never`.",
        "layout": "Names of the `artifacts`, `scratch` and `manifests` sub-directories.",
    },
    "WorkspaceLayout": {
        "artifacts": "Sub-directory for step outputs; relative step paths resolve here.",
        "scratch": "Sub-directory for temporary files.",
        "manifests": "Sub-directory for upload manifests.",
    },
    "State": {
        "backend": "`sqlite` (`file` is accepted and means SQLite, with a warning).",
        "path": "SQLite database file (AETHERFLOW_STATE_PATH, AETHERFLOW_STATE_URL or `--state` win).",
    },
    "Locks": {
        "scope": "Implicit locks: `none`, one per `job`, or one for the whole `flow` (overlap protection).",
        "ttl_seconds": "Lock time-to-live, renewed by heartbeats while held.",
    },
    "Resource": {
        "kind": "Connector kind: `db`, `rest`, `sftp`, `smb`, `mail`, `archive`, `s3` or a plugin kind.",
        "driver": "Connector driver; `kind:driver` must be a registered connector.",
        "profile": "Profile merged under this resource's `config`/`options`.",
        "config": "Connector configuration (strings rendered with `env`).",
        "options": "Connector options (strings rendered with `env`).",
        "decode": "Which `config`/`options` leaves go through the secrets hook.",
    },
    "Profile": {
        "config": "Connector configuration merged under the resource's own `config`.",
        "options": "Connector options merged under the resource's own `options`.",
        "decode": "Which `config`/`options` leaves go through the secrets hook.",
    },
    "Decode": {
        "config": "Nested booleans marking `config` leaves to decode.",
        "options": "Nested booleans marking `options` leaves to decode.",
        "config_paths": "Dotted paths of `config` leaves to decode.",
        "options_paths": "Dotted paths of `options` leaves to decode.",
    },
    "Job": {
        "id": "Job id, unique in the flow; `jobs.<id>` in templates and `when`.",
        "description": "Free text.",
        "depends_on": "Jobs that must finish first; their statuses gate this job.",
        "trigger": "When the job runs after its dependencies: `all_success`, `all_done` or `one_failed`.",
        "when": "Condition in the `when` grammar; false makes the job SKIPPED.",
        "steps": "The steps, run in order.",
    },
    "Step": {
        "id": "Step id, unique in the job; `steps.<id>` in templates.",
        "type": "Step type: a built-in step or one registered by a plugin.",
        "inputs": "Step inputs; strings rendered just before the step runs.",
        "outputs": "Values rendered after the step (with `result`) and added to the job's outputs.",
        "on_no_data": "`skip_job`: a SKIPPED step skips the rest of the job.",
        "retry": "Runner-level retry of the whole step.",
        "timeout_seconds": "Time limit of each attempt of the step.",
    },
    "Retry": {
        "max_attempts": "Attempts including the first.",
        "backoff_seconds": "Delay before the second attempt.",
        "factor": "Multiplier of the delay for each further attempt.",
        "max_delay_seconds": "Upper bound of one delay.",
        "retry_on": "Retry only these errors (default: every retryable error).",
    },
    "RetryOn": {
        "exceptions": "Error class names that are retried.",
        "exit_codes": "`external.process` exit codes that are retried.",
    },
}
