"""The catalogue of validation codes: every ``<family>:<name>`` an Issue record may carry, with its meaning.

One list serves the reference page (``docs/reference/error-codes.md`` is generated from it) and a unit test that
fails when the source uses a code that is not listed here, so the documented list cannot drift from the code.
``schema:<type>`` codes are pydantic's error types; the ones listed are those a flow author meets in practice, and
any other pydantic type may appear with pydantic's standard message.
"""

from __future__ import annotations

from typing import Final

#: family -> what the family covers, in the order validation reports them
FAMILIES: Final[dict[str, str]] = {
    "yaml": "The file is not readable YAML; nothing else is checked.",
    "schema": "A value has the wrong type, is missing, is not allowed, or a key is unknown.",
    "semantic": "The document is well-formed but inconsistent (ids, dependencies, resources, `when`, environment).",
    "template": "A `{{...}}` template is malformed, uses a root not allowed where it stands, or names nothing.",
    "profile": "The profiles source (file, JSON or bundle) is invalid or ambiguous.",
    "plugin": "A plugin could not be loaded or registers a name twice.",
    "bundle": "A bundle manifest is invalid or its source could not be synced.",
    "settings": "An `AETHERFLOW_*` setting, an env file, the flow file or the state location is unusable.",
    "doctor": "Findings of `aetherflow doctor` that validation does not make.",
}

#: code -> one-line meaning
CODES: Final[dict[str, str]] = {
    "yaml:syntax": "The YAML parser failed (or a custom tag was used); the message is the parser's, with the line.",
    "yaml:duplicate_key": "A key is repeated in the same mapping; the message names the line of the first one.",
    "schema:missing": "A required field is absent.",
    "schema:extra_forbidden": "A key is not allowed here (a typo, or a key of another step); says 'did you mean'.",
    "schema:string_type": "A string is required; also when YAML read an unquoted yes/no/on/off/null/number.",
    "schema:int_type": "An integer is required.",
    "schema:int_parsing": "The text cannot be read as an integer.",
    "schema:float_type": "A number is required.",
    "schema:float_parsing": "The text cannot be read as a number.",
    "schema:bool_type": "A boolean is required.",
    "schema:bool_parsing": "The text cannot be read as a boolean.",
    "schema:list_type": "A list is required.",
    "schema:dict_type": "A mapping is required (also a top-level document that is not a mapping).",
    "schema:model_type": "A mapping is required for a nested section.",
    "schema:literal_error": "The value is not one of the allowed values listed in the message.",
    "schema:enum": "The value is not one of the allowed values listed in the message.",
    "schema:greater_than": "The number must be greater than the bound in the message.",
    "schema:greater_than_equal": "The number must be at least the bound in the message.",
    "schema:less_than_equal": "The number must be at most the bound in the message.",
    "schema:string_too_short": "The string must not be empty.",
    "schema:too_short": "The list needs more items.",
    "schema:value_error": "The value breaks a rule of its field; the message says which.",
    "schema:invalid_id": "An id has characters outside letters, digits, '_', '-' and '.', or is empty.",
    "semantic:enterprise_archive_driver": "Enterprise mode allows only the listed archive drivers.",
    "semantic:unknown_connector": "No connector is registered for the resource's kind:driver (a warning when unused).",
    "semantic:missing_extra": "The resource's connector needs an optional dependency; the message names the extra.",
    "semantic:duplicate_job_id": "Two jobs have the same id.",
    "semantic:duplicate_step_id": "Two steps of one job have the same id.",
    "semantic:depends_on_unknown_job": "`depends_on` names a job that does not exist.",
    "semantic:self_dependency": "A job depends on itself.",
    "semantic:cycle": "Jobs depend on each other in a cycle; the message lists it.",
    "semantic:unknown_step_type": "No step is registered under this type; the message lists the loaded types.",
    "semantic:external_process_missing_command": "`external.process` has no `command`.",
    "semantic:external_process_command_type": "`external.process` `command` is neither a string nor a list of strings.",
    "semantic:external_process_log_mode": "`external.process` `log.stdout`/`log.stderr` is not an allowed mode.",
    "semantic:external_process_log_file": "`external.process` log mode `file` without a `log.file_path`.",
    "semantic:external_process_atomic_dir": "`idempotency.strategy: atomic_dir` without the directories it needs.",
    "semantic:unknown_resource": "A step's literal `resource` names no resource of the flow.",
    "semantic:resource_kind_mismatch": "A step's resource has another kind than the step needs.",
    "semantic:invalid_when": "A `when` expression is not in the `when` grammar.",
    "semantic:when_unknown_job": "A `when` expression names a job that does not exist.",
    "semantic:missing_required_input": "A required step input is absent (an error for built-in and typed steps).",
    "semantic:not_a_dependency": "Warning: a job reads another job that it does not depend on (it ran earlier).",
    "semantic:state_backend_unsupported": "Warning: `flow.state.backend: file` is not supported; SQLite is used.",
    "semantic:missing_env": "An `{{env.NAME}}` without a default is unset or empty (a warning in `validate`).",
    "semantic:unknown_profile": "A resource names a profile the configured profiles source does not have.",
    "template:syntax": "A template uses unsupported syntax; only {{PATH}} and {{PATH:DEFAULT}} exist.",
    "template:unknown_root": "A template root is not available in the phase where the template stands.",
    "template:missing_key": "A template path has no value and no default.",
    "template:unknown_reference": "A template or `when` names a step or job that does not exist or comes "
    "later, or a key the `run` root does not have.",
    "template:unknown_output": "A template names an output key the referenced step or job does not produce.",
    "profile:invalid": "The profiles file or JSON is not valid (wrong shape, unknown key, unreadable).",
    "profile:source_conflict": "Both AETHERFLOW_PROFILES_FILE and AETHERFLOW_PROFILES_JSON are set.",
    "profile:overridden_by_bundle": "Warning: the bundle's profiles replace the ones configured by settings.",
    "plugin:load_failed": "A plugin file or module failed to import or register.",
    "plugin:duplicate": "Two plugins register the same name (or one overrides a built-in in enterprise mode).",
    "plugin:paths_ignored": "Warning: enterprise mode ignores AETHERFLOW_PLUGIN_PATHS.",
    "plugin:overrides_builtin": "Warning: a plugin step replaces the built-in step of the same type (refused in "
    "enterprise mode as plugin:duplicate).",
    "bundle:invalid": "The bundle manifest is not valid; nothing is fetched.",
    "bundle:sync_failed": "The bundle could not be synced and no usable cached copy was allowed.",
    "settings:invalid": "A setting, env file, flow file path or run id is invalid; the loc names the variable.",
    "settings:state_network_fs": "`doctor`: the SQLite state directory is on a network file system (locking unsafe).",
    "settings:secrets_hook_conflict": "Warning: both secrets-hook settings are set; the module wins.",
    "doctor:report_region_threshold": "`doctor`: an `excel_fill_from_file` report region may exceed 50000 rows (slow).",
}

#: code prefixes built at run time from an open set of names (pydantic's error types)
OPEN_FAMILIES: Final[tuple[str, ...]] = ("schema:",)


def is_known(code: str) -> bool:
    """Whether ``code`` is catalogued, or belongs to a family whose names come from pydantic."""
    return code in CODES or code.startswith(OPEN_FAMILIES)


#: ExitCode member name -> meaning (the exit-code reference); a test fails when a member has none
EXIT_CODE_HELP: Final[dict[str, str]] = {
    "OK": "Success: every job SUCCESS or SKIPPED (or BLOCKED only behind a skipped job); also an overlap refusal "
    "when the overlap code is configured as 0.",
    "FAILED": "A job failed and a retry may help (a transient error, a non-zero child exit, a timeout).",
    "INVALID": "Invalid input (flow, settings, environment, manifest): nothing was executed.",
    "PERMANENT": "Every failed job failed permanently (bad input at step time, authentication, HTTP 4xx, SQL "
    "syntax, a refused archive ...): retrying cannot help.",
    "OVERLAP": "Another live invocation holds the flow lock or this run's lock; no record was changed "
    "(the default overlap code; 0 when AETHERFLOW_OVERLAP_EXIT_CODE=0).",
    "SIGINT": "Interrupted by SIGINT after state was recorded; the next attempt resumes.",
    "SIGTERM": "Interrupted by SIGTERM (pod deletion, eviction, deadline) after state was recorded.",
}
