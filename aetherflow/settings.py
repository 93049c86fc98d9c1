"""``Settings``: every ``AETHERFLOW_*`` variable, declared once, read once by the CLI or the edge, passed down.

The model is plain pydantic with a small environment source instead of pydantic-settings: importing
pydantic-settings costs ~0.15 s (it pulls asyncio, argparse and its cloud providers), which alone would break the
cold-start budget every CronJob pod pays. The source keeps pydantic-settings' rules that matter here: the
``AETHERFLOW_`` prefix, case-insensitive names, JSON for list fields, and errors naming the variable.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aetherflow.errors import InputError

PREFIX = "AETHERFLOW_"

#: container-only defaults (spec container.md §2)
CONTAINER_FLOW_FILE = "/etc/aetherflow/flows/flow.yaml"
CONTAINER_PROFILES_FILE = "/etc/aetherflow/profiles/profiles.yaml"
CONTAINER_STATE_DIR = "/var/lib/aetherflow/state"
CONTAINER_WORK_ROOT = "/var/lib/aetherflow/work"


class Settings(BaseModel):
    """The process settings (spec cli.md §13). Precedence: CLI flag > setting > flow YAML > default."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    flow_file: str | None = None
    flow_job: str | None = None
    run_id: str | None = None
    job_name: str | None = None
    job_uid: str | None = None
    pod_name: str | None = None
    namespace: str | None = None
    state_path: str | None = None
    work_root: str | None = None
    locks_scope: Literal["none", "job", "flow"] | None = None
    profiles_file: str | None = None
    profiles_json: str | None = None
    env_files: list[Any] = Field(default_factory=list)
    env_files_json: list[Any] | None = None
    secrets_module: str | None = None
    secrets_path: str | None = None
    secret_patterns: str = "*PASSWORD*,*PASSWD*,*SECRET*,*TOKEN*,*KEY*,*CREDENTIAL*"
    validate_env_strict: bool = False
    bundle_manifest: str | None = None
    allow_stale_bundle: bool = False
    mode: Literal["internal_fast", "enterprise"] = "internal_fast"
    mode_enterprise: bool = False
    strict_sandbox: bool = True
    plugin_paths: str = ""
    plugin_strict: bool = True
    log_format: Literal["json", "text"] | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    metrics_module: str | None = None
    pushgateway_url: str = ""
    pushgateway_timeout_seconds: float = Field(2.0, gt=0)
    pushgateway_attempts: int = Field(2, ge=1)
    pushgateway_namespace_label: bool = False
    pushgateway_run_info: bool = False
    termination_log: str = "/dev/termination-log"
    grace_seconds: float = Field(20.0, ge=0)
    state_journal_mode: Literal["auto", "wal", "delete"] = "auto"
    state_strict_fs: bool = False
    state_quick_check: bool = False
    state_busy_timeout_ms: int = Field(30000, ge=0)
    state_max_output_bytes: int = Field(16 * 1024 * 1024, ge=0)
    state_retention_days: float | None = Field(None, ge=0)
    connector_cache_default: Literal["run", "process", "none"] = "run"
    connector_cache_disabled: bool = False
    settings_module: str | None = None
    strict_templates: str | None = None  # accepted and ignored: templates are always strict
    state_root: str | None = None  # accepted and ignored (no effect upstream either)
    strict_arch: str | None = None  # accepted and ignored

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
        return self.model_copy(update=changes) if changes else self


_LIST_FIELDS = frozenset({"env_files", "env_files_json"})


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read ``Settings`` from ``environ`` (and ``AETHERFLOW_SETTINGS_MODULE``); invalid values raise InputError."""
    names = {name.upper(): name for name in Settings.model_fields}
    raw: dict[str, Any] = {}
    for key, value in environ.items():
        upper = key.upper()
        if not upper.startswith(PREFIX):
            continue
        field = names.get(upper[len(PREFIX) :])
        if field is None:
            continue
        if field in _LIST_FIELDS:
            raw[field] = _json_list(key, value)
        elif value.strip() == "" and field not in {"pushgateway_url", "plugin_paths"}:
            continue  # an empty variable means unset, as a Kubernetes manifest often leaves it
        else:
            raw[field] = value.strip() if field == "log_level" else value
    if "log_level" in raw:
        raw["log_level"] = str(raw["log_level"]).upper()
    module = raw.get("settings_module")
    if module:
        raw.update(_module_overrides(str(module), names))
    try:
        return Settings(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        var = PREFIX + str(err["loc"][0]).upper() if err["loc"] else PREFIX + "?"
        raise InputError(f"{var}: {err['msg']}", loc=var) from None


def _json_list(key: str, value: str) -> list[Any]:
    if not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InputError(f"{key.upper()}: not valid JSON ({exc.msg})", loc=key.upper()) from None
    if not isinstance(parsed, list):
        raise InputError(f"{key.upper()}: expected a JSON list", loc=key.upper())
    return parsed


def _module_overrides(module: str, names: Mapping[str, str]) -> dict[str, Any]:
    var = PREFIX + "SETTINGS_MODULE"
    try:
        overrides = importlib.import_module(module).SETTINGS
    except (ImportError, AttributeError) as exc:
        raise InputError(f"{var}: {module} must expose SETTINGS ({type(exc).__name__})", loc=var) from None
    if not isinstance(overrides, Mapping):
        raise InputError(f"{var}: {module}.SETTINGS must be a dict", loc=var)
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        field = names.get(str(key).upper())
        if field is None:
            raise InputError(f"{var}: unknown setting {key!r} in {module}.SETTINGS", loc=var)
        out[field] = value
    return out
