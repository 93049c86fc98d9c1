"""The env snapshot a run sees: process env, overlaid by env files, expanded by the secrets hook, plus runner keys.

See docs/reference/resources-and-profiles.md. Built once per process by the CLI/edge, then read-only (a
``MappingProxyType``); ``os.environ`` is never written. Secret values (env files marked ``secret``, and every value
whose name matches a secret pattern) are registered with the run's ``Redactor`` here.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from aetherflow.booleans import parse_lax_bool
from aetherflow.errors import InputError
from aetherflow.redaction import Redactor
from aetherflow.settings import Settings
from aetherflow.spec.envfile import parse_dotenv, read_env_text

__all__ = ["EnvFileSpec", "build_env_snapshot", "parse_env_file_specs", "read_env_file", "runner_env_keys"]

_TYPES: Final[Mapping[str, str]] = {
    "dotenv": "dotenv",
    "json": "json",
    "dir": "dir",
    "directory": "dir",
    "dir-of-files": "dir",
}
_SPEC_KEYS: Final = frozenset({"type", "format", "path", "optional", "prefix", "secret"})
ENV_FILES_JSON_VAR: Final = "AETHERFLOW_ENV_FILES_JSON"
ENV_FILES_VAR: Final = "AETHERFLOW_ENV_FILES"
BUNDLE_SOURCE: Final = "bundle env_files"
SETTING_PREFIX: Final = "AETHERFLOW_"

log = logging.getLogger("aetherflow")

Expand = Callable[[dict[str, str]], Mapping[str, str]]


class EnvFileSpec(NamedTuple):
    """One env-file source: where it is, how to read it, and how its keys and values are treated."""

    path: str
    type: str  # dotenv | json | dir (aliases normalised)
    optional: bool = False
    prefix: str = ""
    secret: bool = False
    source: str = ENV_FILES_VAR  # the setting (or bundle) it came from, named in errors


def build_env_snapshot(
    environ: Mapping[str, str],
    settings: Settings,
    redactor: Redactor,
    *,
    bundle_env_files: Sequence[Any] = (),
    bundle_root: str | None = None,
    extra: Mapping[str, str] | None = None,
    expand: Expand | None = None,
) -> Mapping[str, str]:
    """The immutable env snapshot (steps 1, 2, 3, 4 of docs/reference/resources-and-profiles.md).

    ``bundle_env_files`` are the manifest's specs (relative paths resolve against ``bundle_root``); ``expand`` is
    the secrets hook's ``expand_env``; ``extra`` holds the runner-provided keys, which override everything.
    Raises InputError for a missing (non-optional) or unreadable env file, an unsupported type or a bad spec.
    """
    env: dict[str, str] = {str(k): str(v) for k, v in environ.items()}
    specs = [
        *parse_env_file_specs(settings.env_files_json or [], source=ENV_FILES_JSON_VAR, secret_default=False),
        *parse_env_file_specs(settings.env_files, source=ENV_FILES_VAR, secret_default=True),
        *parse_env_file_specs(bundle_env_files, source=BUNDLE_SOURCE, secret_default=False, root=bundle_root),
    ]
    for spec in specs:
        values = read_env_file(spec)
        _warn_settings_in(spec, values)
        if spec.secret:
            for value in values.values():
                redactor.add(value)
        env.update(values)
    if expand is not None:
        expanded = expand(dict(env))
        if not isinstance(expanded, Mapping):
            raise InputError("Secrets hook expand_env must return a mapping of strings")
        env = {str(k): str(v) for k, v in expanded.items()}
    if extra:
        env.update({str(k): str(v) for k, v in extra.items()})
    redactor.add_env(env)
    return MappingProxyType(env)


def _warn_settings_in(spec: EnvFileSpec, values: Mapping[str, str]) -> None:
    """Settings are read before any env file, so an ``AETHERFLOW_*`` name in one configures nothing: say so (the
    file and the name, never the value, which may be a secret)."""
    for key in values:
        if key.upper().startswith(SETTING_PREFIX):
            fields = {"file": spec.path, "variable": key}
            # the message reads alone where no log handler is configured yet (``validate``); formatters use the event
            log.warning(
                "env_file_setting_ignored: %s defines %s; settings never come from env files",
                spec.path,
                key,
                extra={"event": "env_file_setting_ignored", "fields": fields},
            )


def runner_env_keys(local_root: str, *, active_dir: str | None = None, cache_dir: str | None = None) -> dict[str, str]:
    """The runner-provided keys: bundle dirs when a bundle is used, else the work root for all three."""
    return {
        "AETHERFLOW_LOCAL_ROOT_DIR": local_root,
        "AETHERFLOW_ACTIVE_DIR": active_dir or local_root,
        "AETHERFLOW_CACHE_DIR": cache_dir or local_root,
    }


def parse_env_file_specs(
    items: Iterable[Any], *, source: str, secret_default: bool, root: str | None = None
) -> list[EnvFileSpec]:
    """Normalise env-file spec items (objects or plain path strings) from one source."""
    specs: list[EnvFileSpec] = []
    for index, item in enumerate(items):
        where = f"{source}[{index}]"
        if isinstance(item, str):
            path = _resolve(item, root)
            specs.append(EnvFileSpec(path, _infer_type(path), secret=secret_default, source=source))
            continue
        if not isinstance(item, Mapping):
            raise InputError(f"{where}: an env-file item must be a path string or an object", loc=_loc(source))
        unknown = sorted(str(k) for k in item if k not in _SPEC_KEYS)
        if unknown:
            raise InputError(
                f"{where}: unknown env-file key(s) {unknown}; allowed: {sorted(_SPEC_KEYS)}", loc=_loc(source)
            )
        raw_path = item.get("path")
        if not isinstance(raw_path, str) or not raw_path:
            raise InputError(f"{where}: an env-file item needs a non-empty 'path' string", loc=_loc(source))
        path = _resolve(raw_path, root)
        raw_type = item.get("type", item.get("format"))
        if raw_type is None:
            kind = _infer_type(path)
        else:
            kind = _TYPES.get(str(raw_type).strip().lower(), "")
            if not kind:
                raise InputError(f"Unsupported env_files type: {raw_type}", loc=_loc(source))
        prefix = item.get("prefix", "") or ""
        if not isinstance(prefix, str):
            raise InputError(f"{where}: 'prefix' must be a string", loc=_loc(source))
        specs.append(
            EnvFileSpec(
                path=path,
                type=kind,
                optional=_flag(item.get("optional", False), f"{where}.optional", source),
                prefix=prefix,
                secret=_flag(item.get("secret", secret_default), f"{where}.secret", source),
                source=source,
            )
        )
    return specs


def read_env_file(spec: EnvFileSpec) -> dict[str, str]:
    """The key/value pairs of one env file (prefix applied); ``{}`` for a missing optional file."""
    if not os.path.exists(spec.path):
        if spec.optional:
            return {}
        raise InputError(f"Env file not found: {spec.path}", loc=_loc(spec.source))
    if spec.type == "dir":
        values = _read_dir(spec)
    else:
        text = read_env_text(spec.path, loc=_loc(spec.source))
        if spec.type == "json":
            values = _parse_json(text, spec)
        else:
            values = parse_dotenv(text, path=spec.path, loc=_loc(spec.source))
    return {f"{spec.prefix}{key}": value for key, value in values.items()} if spec.prefix else values


def _loc(source: str) -> str:
    return source if source.startswith("AETHERFLOW_") else "<root>"


def _resolve(path: str, root: str | None) -> str:
    return os.path.join(root, path) if root and not os.path.isabs(path) else path


def _infer_type(path: str) -> str:
    if os.path.isdir(path):
        return "dir"
    return "json" if path.lower().endswith(".json") else "dotenv"


def _flag(value: Any, where: str, source: str) -> bool:
    return parse_lax_bool(value, where=where, error=lambda message: InputError(message, loc=_loc(source)))


def _parse_json(text: str, spec: EnvFileSpec) -> dict[str, str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"Env file {spec.path} is not valid JSON: {exc.msg} (line {exc.lineno})", loc=_loc(spec.source)
        ) from None
    except RecursionError:
        raise InputError(f"Env file {spec.path} is not valid JSON: nested too deeply", loc=_loc(spec.source)) from None
    if not isinstance(data, dict):
        raise InputError(f"Env file {spec.path} must hold a JSON object at the top level", loc=_loc(spec.source))
    values: dict[str, str] = {}
    for key, value in data.items():
        if value is None:
            continue
        values[key] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return values


def _read_dir(spec: EnvFileSpec) -> dict[str, str]:
    if not os.path.isdir(spec.path):
        raise InputError(f"Env file {spec.path} is not a directory (type dir)", loc=_loc(spec.source))
    values: dict[str, str] = {}
    try:
        names = sorted(os.listdir(spec.path))
    except OSError as exc:
        raise InputError(
            f"Env file not readable: {spec.path}: {exc.strerror or type(exc).__name__}", loc=_loc(spec.source)
        ) from None
    for name in names:
        full = os.path.join(spec.path, name)
        # Kubernetes Secret volumes hold '..data' and '..<timestamp>' entries; keys are symlinks to regular files.
        if name.startswith(".") or not os.path.isfile(full):
            continue
        values[name] = read_env_text(full, loc=_loc(spec.source)).rstrip("\r\n")
    return values
