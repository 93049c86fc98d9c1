"""The secrets hook: a user module exposing ``decode(value)`` and optionally ``expand_env(env)``.

docs/reference/resources-and-profiles.md. ``AETHERFLOW_SECRETS_MODULE`` names an importable module,
``AETHERFLOW_SECRETS_PATH`` a ``.py`` file; with both set the module wins and a warning is returned with the hook.
The module is imported once per process (later loads reuse it); every problem, whether at load time or raised by
the hook while it runs, becomes an ``InputError`` (exit 2) whose message is masked with the run's redactor, because a
hook that fails often fails *about* a secret.

The edge wires it: ``build_env_snapshot(..., expand=hook.expand_env)`` and ``build_resources(..., decode=hook.decode)``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Final

from aetherflow.errors import InputError, Issue, error_text
from aetherflow.redaction import Redactor
from aetherflow.settings import Settings

__all__ = ["MODULE_VAR", "PATH_VAR", "SecretsHook", "load_secrets_hook"]

MODULE_VAR: Final = "AETHERFLOW_SECRETS_MODULE"
PATH_VAR: Final = "AETHERFLOW_SECRETS_PATH"
_ALLOWED: Final = frozenset({"decode", "expand_env"})

#: origin ("module:<name>" / "path:<file>") -> the imported hook module; the hook is loaded once per process
_LOADED: dict[str, ModuleType] = {}
_LOCK = threading.Lock()


class SecretsHook:
    """A loaded hook. ``decode``/``expand_env`` call the user's functions and turn their failures into InputError."""

    def __init__(
        self,
        origin: str,
        var: str,
        decode: Callable[[str], object],
        expand_env: Callable[[dict[str, str]], object] | None,
        redactor: Redactor,
        warnings: tuple[Issue, ...] = (),
    ) -> None:
        self.origin = origin
        self.var = var  # the setting that configured the hook, used as the loc of its errors
        self.warnings = warnings
        self._decode = decode
        self._expand = expand_env
        self._redactor = redactor

    @property
    def has_expand_env(self) -> bool:
        """True when the hook defines ``expand_env``."""
        return self._expand is not None

    def decode(self, value: str) -> str:
        """``decode(value)`` of the hook; the value and its result are registered as secrets."""
        self._redactor.add(value)
        try:
            result = self._decode(value)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is an input error at run start
            raise self._error(f"decode() failed: {error_text(exc)}") from None
        if not isinstance(result, str):
            raise self._error(f"decode() returned {type(result).__name__}, expected a string")
        self._redactor.add(result)
        return result

    def expand_env(self, env: dict[str, str]) -> dict[str, str]:
        """``expand_env(env)`` of the hook (a copy of ``env`` when the hook has none); checks it returns strings."""
        if self._expand is None:
            return dict(env)
        try:
            result = self._expand(dict(env))
        except Exception as exc:  # noqa: BLE001 - any failure of user code is an input error at run start
            # The message may quote any value of the snapshot: make sure the secret-named ones are known first.
            self._redactor.add_env(env)
            raise self._error(f"expand_env() failed: {error_text(exc)}") from None
        if not isinstance(result, Mapping):
            raise self._error(f"expand_env() returned {type(result).__name__}, expected a mapping of strings")
        bad = sorted(repr(k) for k, v in result.items() if not isinstance(k, str) or not isinstance(v, str))
        if bad:
            raise self._error(f"expand_env() must return str -> str; non-string key or value for {', '.join(bad)}")
        return dict(result)

    def _error(self, detail: str) -> InputError:
        return InputError(self._redactor.mask(f"Secrets hook {self.origin} {detail}"), loc=self.var)


def load_secrets_hook(
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    environ: Mapping[str, str] | None = None,
) -> SecretsHook | None:
    """The configured hook, or None when neither ``AETHERFLOW_SECRETS_MODULE`` nor ``AETHERFLOW_SECRETS_PATH`` is set.

    ``redactor`` masks the hook's error messages and receives decoded values; ``environ`` (the process env) is
    registered with it before a load failure is reported, since a module body that fails may quote a secret.
    Raises InputError (``settings:invalid``, exit 2) when the hook cannot be loaded or breaks the contract.
    """
    redactor = redactor if redactor is not None else Redactor.for_settings(settings)
    module_name = (settings.secrets_module or "").strip()
    path = (settings.secrets_path or "").strip()
    warnings: tuple[Issue, ...] = ()
    if module_name and path:
        warnings = (
            Issue(
                "settings:secrets_hook_conflict",
                PATH_VAR,
                f"Both {MODULE_VAR} and {PATH_VAR} are set; the module '{module_name}' is used and the path ignored",
            ),
        )
    if module_name:
        origin, var = f"module:{module_name}", MODULE_VAR
    elif path:
        origin, var = f"path:{os.path.abspath(path)}", PATH_VAR
    else:
        return None
    with _LOCK:
        module = _LOADED.get(origin)
        if module is None:
            try:
                module = _import_module(module_name) if module_name else _import_path(os.path.abspath(path))
            except InputError as exc:
                if environ is not None:
                    redactor.add_env(environ)
                raise InputError(redactor.mask(str(exc)), loc=var) from None
            _LOADED[origin] = module
    return _checked(module, origin, var, redactor, warnings)


def _import_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the hook's own import errors are input errors
        raise InputError(f"Secrets hook module:{name} could not be imported: {error_text(exc)}") from None


def _import_path(path: str) -> ModuleType:
    if not os.path.isfile(path):
        raise InputError(f"Secrets hook file not found: {path} (set {PATH_VAR} to an existing .py file)")
    # A name of its own per file: two hooks called secrets.py must not share a sys.modules entry.
    name = "aetherflow_secrets_hook_" + hashlib.sha256(path.encode()).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise InputError(f"Secrets hook path:{path} is not a loadable Python file (expected a .py file)")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing, as importlib does: dataclasses and pickling in the hook look themselves up there.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the hook's own import errors are input errors
        sys.modules.pop(name, None)
        raise InputError(f"Secrets hook path:{path} could not be loaded: {error_text(exc)}") from None
    return module


def _checked(module: ModuleType, origin: str, var: str, redactor: Redactor, warnings: tuple[Issue, ...]) -> SecretsHook:
    public = sorted(
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and name not in _ALLOWED and callable(value)
    )
    if public:
        raise InputError(
            f"Secrets hook {origin} defines unsupported public callables: {public}. "
            "Only 'decode' and optional 'expand_env' are allowed (helpers must be private, e.g. _helper()).",
            loc=var,
        )
    decode = getattr(module, "decode", None)
    if not callable(decode):
        raise InputError(f"Secrets hook {origin} must define a callable decode(value: str) -> str", loc=var)
    expand = getattr(module, "expand_env", None)
    if expand is not None and not callable(expand):
        raise InputError(
            f"Secrets hook {origin} defines expand_env but it is not callable "
            "(expected expand_env(env: dict[str, str]) -> dict[str, str])",
            loc=var,
        )
    return SecretsHook(origin, var, decode, expand, redactor, warnings)
