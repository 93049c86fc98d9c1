"""``Settings``: every ``AETHERFLOW_*`` variable, one pydantic-settings class, read once by the CLI or the edge.

Sources, highest first: the ``SETTINGS`` dict of ``AETHERFLOW_SETTINGS_MODULE``, a non-empty environment variable, a
file named after the variable in ``AETHERFLOW_SETTINGS_DIR`` (a mounted Secret; read only when the folder exists,
content stripped), the default. An empty (or blank) variable counts as unset, as a Kubernetes manifest often leaves
one. Every invalid value is an ``InputError`` naming the variable (and the file or module it came from).

Only these three sources run: no dotenv, secrets-dir or CLI source of pydantic-settings (env files never carry
settings), so a load reads nothing else. ``Settings(...)`` built in code reads nothing but its arguments;
:func:`load_settings` is the one reader of the process environment.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from aetherflow.errors import InputError
from aetherflow.progress import DEFAULT_PROGRESS_SECONDS

PREFIX = "AETHERFLOW_"
DEFAULT_SETTINGS_DIR = "/etc/aetherflow/settings"
#: a Kubernetes Secret holds at most 1 MiB; a bigger settings file is a mistake, not a value to load
MAX_SETTINGS_FILE_BYTES = 1024 * 1024

#: container-only defaults (docs/kubernetes.md)
CONTAINER_FLOW_FILE = "/etc/aetherflow/flows/flow.yaml"
CONTAINER_PROFILES_FILE = "/etc/aetherflow/profiles/profiles.yaml"
CONTAINER_STATE_DIR = "/var/lib/aetherflow/state"
CONTAINER_WORK_ROOT = "/var/lib/aetherflow/work"


class _Load:
    """One :func:`load_settings` call: the environment it reads and where each value came from (for errors)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.origins: dict[str, str] = {}


_LOAD: ContextVar[_Load | None] = ContextVar("aetherflow_settings_load", default=None)


class Settings(BaseSettings):
    """The process settings (docs/reference/settings.md). Precedence: CLI flag > setting > flow YAML > default."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, case_sensitive=False, frozen=True, extra="ignore", validate_default=False
    )

    flow_file: str | None = None
    flow_job: str | None = None
    run_id: str | None = None
    job_name: str | None = None
    job_uid: str | None = None
    pod_name: str | None = None
    namespace: str | None = None
    state_path: str | None = None
    state_url: str | None = None  # postgresql://… or sqlite:///PATH; wins over state_path
    work_root: str | None = None
    locks_scope: Literal["none", "job", "flow"] | None = None
    profiles_file: str | None = None
    profiles_json: str | None = None
    env_files: Annotated[tuple[Any, ...], NoDecode] = ()
    env_files_json: Annotated[tuple[Any, ...] | None, NoDecode] = None
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
    pushgateway_timeout_seconds: float = Field(default=2.0, gt=0)
    pushgateway_attempts: int = Field(default=2, ge=1)
    pushgateway_namespace_label: bool = True
    pushgateway_run_info: bool = False
    schedule_name: str | None = None  # the CronJob's name (chart): schedule slots
    timezone: str | None = None  # the schedule's IANA time zone (chart)
    scheduled_at: str | None = None  # RFC 3339 slot; overrides the Job-name slot
    kubernetes_events: bool = False  # Events on the Job (needs API access)
    termination_log: str = "/dev/termination-log"
    grace_seconds: float = Field(default=20.0, ge=0)
    #: seconds between two ``step_progress`` events of one step; 0 turns them off
    progress_seconds: float = Field(default=DEFAULT_PROGRESS_SECONDS, ge=0)
    #: exit code of a run refused without changing any record (flow lock held, or the run already live elsewhere)
    overlap_exit_code: Literal[0, 75] = 75
    #: how long a second invocation of a live run waits for the holder (None: stale threshold plus one interval)
    run_takeover_seconds: float | None = Field(default=None, ge=0)
    state_journal_mode: Literal["auto", "wal", "delete"] = "auto"
    state_strict_fs: bool = False
    state_quick_check: bool = False
    state_busy_timeout_ms: int = Field(default=30000, ge=0)
    state_max_output_bytes: int = Field(default=16 * 1024 * 1024, ge=0)
    state_retention_days: float | None = Field(default=None, ge=0)
    connector_cache_default: Literal["run", "process", "none"] = "run"
    connector_cache_disabled: bool = False
    settings_module: str | None = None
    #: where a mounted Secret holds one file per setting; located by the environment variable alone
    settings_dir: str = DEFAULT_SETTINGS_DIR
    strict_templates: str | None = None  # accepted and ignored: always strict
    state_root: str | None = None  # accepted and ignored (no effect upstream either)
    strict_arch: str | None = None  # accepted and ignored

    @field_validator("*", mode="before")
    @classmethod
    def _normalise(cls, value: Any, info: ValidationInfo) -> Any:
        """Text from a variable or file: JSON for list fields, stripped for all but plain strings (a path keeps its
        spaces), upper-cased for the log level; non-text values (from the settings module) pass through as given."""
        name = info.field_name or ""
        if not isinstance(value, str):
            return value
        if name in _LIST_FIELDS:
            return _json_list(value)
        if name in _PLAIN_TEXT:
            return value
        text = value.strip()
        if name == "overlap_exit_code":  # a Literal of ints: pydantic compares "75" with 75 strictly
            return int(text) if text.isdigit() else text
        return text.upper() if name == "log_level" else text

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Inside :func:`load_settings`: module, environment, settings dir. Elsewhere: the arguments only."""
        load = _LOAD.get()
        if load is None:
            return (init_settings,)
        env = _EnvSource(settings_cls, load)
        files = _SettingsDirSource(settings_cls, load, env.value("settings_dir") or DEFAULT_SETTINGS_DIR)
        module = env.value("settings_module") or files.value("settings_module")
        return init_settings, _ModuleSource(settings_cls, load, module), env, files


_LIST_FIELDS = frozenset({"env_files", "env_files_json"})
#: fields whose text is kept as given (a path or a URL may carry spaces); every other field's text is stripped
_PLAIN_TEXT = frozenset(name for name, info in Settings.model_fields.items() if info.annotation in (str, str | None))


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read ``Settings`` from ``environ``, the settings dir and ``AETHERFLOW_SETTINGS_MODULE``.

    Invalid values raise InputError (one line naming the variable and, for a file or the module, where it came from).
    """
    load = _Load(environ)
    token = _LOAD.set(load)
    try:
        return Settings()
    except ValidationError as exc:
        raise _input_error(exc, load.origins) from None
    finally:
        _LOAD.reset(token)


def _input_error(exc: ValidationError, origins: Mapping[str, str]) -> InputError:
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    var = PREFIX + name.upper()
    where = f" ({origins[name]})" if origins.get(name) else ""
    return InputError(f"{var}: {error['msg']}{where}", loc=var)


class _Source(PydanticBaseSettingsSource):
    """A source of whole values by field name (no nesting, no per-field lookup by pydantic-settings)."""

    origin = ""

    def __init__(self, settings_cls: type[BaseSettings], load: _Load) -> None:
        super().__init__(settings_cls)
        self.load = load
        self.values: dict[str, Any] = {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def value(self, name: str) -> Any:
        return self.values.get(name)

    def __call__(self) -> dict[str, Any]:
        for name in self.values:
            self.load.origins.setdefault(name, self.origin_of(name))
        return dict(self.values)

    def origin_of(self, name: str) -> str:
        return self.origin


class _EnvSource(_Source):
    """Non-empty ``AETHERFLOW_*`` variables of the environment given to :func:`load_settings`, any case."""

    origin = ""  # the variable named in an error is its own origin

    def __init__(self, settings_cls: type[BaseSettings], load: _Load) -> None:
        super().__init__(settings_cls, load)
        names = {PREFIX + name.upper(): name for name in settings_cls.model_fields}
        for key, raw in load.environ.items():
            name = names.get(key.upper())
            if name is not None and raw.strip():
                self.values[name] = raw


class _SettingsDirSource(_Source):
    """One file per setting, named after its variable (``AETHERFLOW_LOG_LEVEL``), in a folder read only if it
    exists: no folder is the normal case outside a pod with the settings Secret mounted, so it is not warned about."""

    def __init__(self, settings_cls: type[BaseSettings], load: _Load, directory: str) -> None:
        super().__init__(settings_cls, load)
        self.directory = directory
        if not os.path.isdir(directory):
            return
        try:
            present = set(os.listdir(directory))
        except OSError as exc:
            var = PREFIX + "SETTINGS_DIR"
            raise InputError(
                f"{var}: {directory} not readable: {exc.strerror or type(exc).__name__}", loc=var
            ) from None
        for name in settings_cls.model_fields:
            file_name = PREFIX + name.upper()
            if name != "settings_dir" and file_name in present:
                text = _read_setting_file(os.path.join(directory, file_name), file_name)
                if text:
                    self.values[name] = text

    def origin_of(self, name: str) -> str:
        return "settings file " + os.path.join(self.directory, PREFIX + name.upper())


class _ModuleSource(_Source):
    """The ``SETTINGS`` dict of ``AETHERFLOW_SETTINGS_MODULE``: values as given, over every other source."""

    def __init__(self, settings_cls: type[BaseSettings], load: _Load, module: str | None) -> None:
        super().__init__(settings_cls, load)
        self.origin = f"{PREFIX}SETTINGS_MODULE {module}"
        if module:
            names = {name.upper(): name for name in settings_cls.model_fields}
            self.values = _module_overrides(module, names)


def _read_setting_file(path: str, var: str) -> str:
    """The stripped UTF-8 text of one settings file; anything else is an InputError naming the file, never a crash."""

    def bad(reason: str) -> InputError:
        return InputError(f"{var}: settings file {path} {reason}", loc=var)

    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SETTINGS_FILE_BYTES + 1)
    except OSError as exc:
        raise bad(f"not readable: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_SETTINGS_FILE_BYTES:
        raise bad(f"is larger than {MAX_SETTINGS_FILE_BYTES // (1024 * 1024)} MiB")
    if b"\0" in raw:
        raise bad("contains a NUL byte")
    try:
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise bad("is not valid UTF-8") from None


def _json_list(value: str) -> Any:
    if not value.strip():
        return []
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise PydanticCustomError("json_invalid", "not valid JSON ({error})", {"error": exc.msg}) from None
    except RecursionError:
        raise PydanticCustomError("json_invalid", "JSON nested too deeply") from None
    if not isinstance(parsed, list):
        raise PydanticCustomError("list_type", "expected a JSON list")
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
