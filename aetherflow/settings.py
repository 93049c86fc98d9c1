"""``Settings``: every ``AETHERFLOW_*`` variable, declared once, read once by the CLI or the edge, passed down.

A frozen dataclass with a small environment source, not pydantic-settings: importing pydantic-settings costs
~0.15 s (asyncio, argparse, cloud providers) and building any pydantic model another ~0.05 s, which would break the
cold-start budget every CronJob pod pays. The source keeps the rules that matter: the ``AETHERFLOW_`` prefix,
case-insensitive names, JSON for list fields, booleans as true/false/1/0/yes/no/on/off, errors naming the variable.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aetherflow.errors import InputError

PREFIX = "AETHERFLOW_"

#: container-only defaults (docs/kubernetes.md)
CONTAINER_FLOW_FILE = "/etc/aetherflow/flows/flow.yaml"
CONTAINER_PROFILES_FILE = "/etc/aetherflow/profiles/profiles.yaml"
CONTAINER_STATE_DIR = "/var/lib/aetherflow/state"
CONTAINER_WORK_ROOT = "/var/lib/aetherflow/work"


def _choice(*values: str) -> dict[str, Any]:
    return {"kind": "choice", "choices": values}


_STR: dict[str, Any] = {"kind": "str"}
_BOOL: dict[str, Any] = {"kind": "bool"}
_LIST: dict[str, Any] = {"kind": "list"}


@dataclass(frozen=True, slots=True)
class Settings:
    """The process settings (docs/reference/settings.md). Precedence: CLI flag > setting > flow YAML > default."""

    flow_file: str | None = field(default=None, metadata=_STR)
    flow_job: str | None = field(default=None, metadata=_STR)
    run_id: str | None = field(default=None, metadata=_STR)
    job_name: str | None = field(default=None, metadata=_STR)
    job_uid: str | None = field(default=None, metadata=_STR)
    pod_name: str | None = field(default=None, metadata=_STR)
    namespace: str | None = field(default=None, metadata=_STR)
    state_path: str | None = field(default=None, metadata=_STR)
    state_url: str | None = field(default=None, metadata=_STR)  # postgresql://… or sqlite:///PATH; wins over state_path
    work_root: str | None = field(default=None, metadata=_STR)
    locks_scope: str | None = field(default=None, metadata=_choice("none", "job", "flow"))
    profiles_file: str | None = field(default=None, metadata=_STR)
    profiles_json: str | None = field(default=None, metadata=_STR)
    env_files: tuple[Any, ...] = field(default=(), metadata=_LIST)
    env_files_json: tuple[Any, ...] | None = field(default=None, metadata=_LIST)
    secrets_module: str | None = field(default=None, metadata=_STR)
    secrets_path: str | None = field(default=None, metadata=_STR)
    secret_patterns: str = field(default="*PASSWORD*,*PASSWD*,*SECRET*,*TOKEN*,*KEY*,*CREDENTIAL*", metadata=_STR)
    validate_env_strict: bool = field(default=False, metadata=_BOOL)
    bundle_manifest: str | None = field(default=None, metadata=_STR)
    allow_stale_bundle: bool = field(default=False, metadata=_BOOL)
    mode: str = field(default="internal_fast", metadata=_choice("internal_fast", "enterprise"))
    mode_enterprise: bool = field(default=False, metadata=_BOOL)
    strict_sandbox: bool = field(default=True, metadata=_BOOL)
    plugin_paths: str = field(default="", metadata=_STR)
    plugin_strict: bool = field(default=True, metadata=_BOOL)
    log_format: str | None = field(default=None, metadata=_choice("json", "text"))
    log_level: str = field(default="INFO", metadata=_choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))
    metrics_module: str | None = field(default=None, metadata=_STR)
    pushgateway_url: str = field(default="", metadata=_STR)
    pushgateway_timeout_seconds: float = field(default=2.0, metadata={"kind": "float", "gt": 0})
    pushgateway_attempts: int = field(default=2, metadata={"kind": "int", "ge": 1})
    pushgateway_namespace_label: bool = field(default=True, metadata=_BOOL)
    pushgateway_run_info: bool = field(default=False, metadata=_BOOL)
    schedule_name: str | None = field(default=None, metadata=_STR)  # the CronJob's name (chart): schedule slots
    timezone: str | None = field(default=None, metadata=_STR)  # the schedule's IANA time zone (chart)
    scheduled_at: str | None = field(default=None, metadata=_STR)  # RFC 3339 slot; overrides the Job-name slot
    kubernetes_events: bool = field(default=False, metadata=_BOOL)  # Events on the Job (needs API access)
    termination_log: str = field(default="/dev/termination-log", metadata=_STR)
    grace_seconds: float = field(default=20.0, metadata={"kind": "float", "ge": 0})
    #: exit code of a run refused without changing any record (flow lock held, or the run already live elsewhere)
    overlap_exit_code: int = field(default=75, metadata={"kind": "int", "one_of": (0, 75)})
    #: how long a second invocation of a live run waits for the holder (None: stale threshold plus one interval)
    run_takeover_seconds: float | None = field(default=None, metadata={"kind": "float", "ge": 0})
    state_journal_mode: str = field(default="auto", metadata=_choice("auto", "wal", "delete"))
    state_strict_fs: bool = field(default=False, metadata=_BOOL)
    state_quick_check: bool = field(default=False, metadata=_BOOL)
    state_busy_timeout_ms: int = field(default=30000, metadata={"kind": "int", "ge": 0})
    state_max_output_bytes: int = field(default=16 * 1024 * 1024, metadata={"kind": "int", "ge": 0})
    state_retention_days: float | None = field(default=None, metadata={"kind": "float", "ge": 0})
    connector_cache_default: str = field(default="run", metadata=_choice("run", "process", "none"))
    connector_cache_disabled: bool = field(default=False, metadata=_BOOL)
    settings_module: str | None = field(default=None, metadata=_STR)
    strict_templates: str | None = field(default=None, metadata=_STR)  # accepted and ignored: always strict
    state_root: str | None = field(default=None, metadata=_STR)  # accepted and ignored (no effect upstream either)
    strict_arch: str | None = field(default=None, metadata=_STR)  # accepted and ignored

    #: field name -> metadata, for the environment source and for tools that list the variables
    model_fields: ClassVar[dict[str, Mapping[str, Any]]]

    @property
    def enterprise(self) -> bool:
        """Enterprise mode: ``AETHERFLOW_MODE=enterprise`` or ``AETHERFLOW_MODE_ENTERPRISE=true``."""
        return self.mode == "enterprise" or self.mode_enterprise

    @property
    def secret_pattern_list(self) -> list[str]:
        """The secret-name globs as a list."""
        return [p.strip() for p in self.secret_patterns.split(",") if p.strip()]

    @property
    def plugin_path_list(self) -> list[str]:
        """``AETHERFLOW_PLUGIN_PATHS`` split on commas."""
        return [p.strip() for p in self.plugin_paths.split(",") if p.strip()]

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with CLI flags applied (``None`` values are ignored)."""
        changes = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(self, **changes) if changes else self


Settings.model_fields = {f.name: f.metadata for f in dataclasses.fields(Settings)}

_LIST_FIELDS = frozenset({"env_files", "env_files_json"})


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read ``Settings`` from ``environ`` (and ``AETHERFLOW_SETTINGS_MODULE``); invalid values raise InputError."""
    names = {name.upper(): name for name in Settings.model_fields}
    raw: dict[str, Any] = {}
    for key, value in environ.items():
        upper = key.upper()
        if not upper.startswith(PREFIX):
            continue
        name = names.get(upper[len(PREFIX) :])
        if name is None:
            continue
        if name in _LIST_FIELDS:
            raw[name] = _json_list(key, value)
        elif value.strip() == "" and name not in {"pushgateway_url", "plugin_paths"}:
            continue  # an empty variable means unset, as a Kubernetes manifest often leaves it
        else:
            raw[name] = value
    module = raw.get("settings_module")
    if module:
        raw.update(_module_overrides(str(module), names))
    values = {name: _coerce(name, value) for name, value in raw.items()}
    return Settings(**values)


_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def _coerce(name: str, value: Any) -> Any:
    """One value checked and converted per its field's kind; errors read like pydantic's and name the variable."""
    meta = Settings.model_fields[name]
    kind = meta["kind"]
    var = PREFIX + name.upper()

    def bad(message: str) -> InputError:
        return InputError(f"{var}: {message}", loc=var)

    if kind == "list":
        return tuple(value) if isinstance(value, list | tuple) else value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise bad("Input should be a valid boolean, unable to interpret input")
    if kind == "choice":
        text = str(value).strip()
        text = text.upper() if name == "log_level" else text
        choices = meta["choices"]
        if text not in choices:
            listed = ", ".join(f"'{c}'" for c in choices[:-1]) + f" or '{choices[-1]}'"
            raise bad(f"Input should be {listed}")
        return text
    if kind in ("int", "float"):
        try:
            number: float = int(str(value).strip()) if kind == "int" else float(str(value).strip())
        except ValueError:
            if kind == "int":
                raise bad("Input should be a valid integer, unable to parse string as an integer") from None
            raise bad("Input should be a valid number, unable to parse string as a number") from None
        if "gt" in meta and not number > meta["gt"]:
            raise bad(f"Input should be greater than {meta['gt']}")
        if "ge" in meta and not number >= meta["ge"]:
            raise bad(f"Input should be greater than or equal to {meta['ge']}")
        if "one_of" in meta and number not in meta["one_of"]:
            raise bad("Input should be " + " or ".join(str(v) for v in meta["one_of"]))
        return number
    return str(value)


def _json_list(key: str, value: str) -> list[Any]:
    if not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputError(f"{key.upper()}: not valid JSON ({exc.msg})", loc=key.upper()) from None
    except RecursionError:
        raise InputError(f"{key.upper()}: JSON nested too deeply", loc=key.upper()) from None
    if not isinstance(parsed, list):
        raise InputError(f"{key.upper()}: expected a JSON list", loc=key.upper())
    return parsed


def _module_overrides(module: str, names: Mapping[str, str]) -> dict[str, Any]:
    var = PREFIX + "SETTINGS_MODULE"
    try:
        overrides = importlib.import_module(module).SETTINGS
    except (ImportError, AttributeError) as exc:
        raise InputError(f"{var}: {module} must expose SETTINGS ({type(exc).__name__})", loc=var) from None
    except Exception as exc:  # noqa: BLE001 (the user's module failed while importing: their input to fix)
        raise InputError(f"{var}: importing {module} failed: {type(exc).__name__}: {exc}", loc=var) from None
    if not isinstance(overrides, Mapping):
        raise InputError(f"{var}: {module}.SETTINGS must be a dict", loc=var)
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        field = names.get(str(key).upper())
        if field is None:
            raise InputError(f"{var}: unknown setting {key!r} in {module}.SETTINGS", loc=var)
        out[field] = value
    return out
