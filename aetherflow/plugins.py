"""Plugin discovery: entry points and plugin folders, loaded once per process into a ``Registry``.

docs/reference/plugins-and-bundles.md. Three sources, in this order:

1. entry points of group ``aetherflow.plugins``: the object is called (or its ``register()`` is), and whatever it
   registers with ``aetherflow.api.register_step``/``register_connector`` (or the compatibility decorators of
   ``aetherflow.core.api``) lands in the registry;
2. entry points of groups ``aetherflow.steps`` / ``aetherflow.connectors``: name -> ``module:Class``, registered
   lazily (the class is imported only when a flow uses it);
3. plugin folders: every ``*.py`` not starting with ``_``, recursively, in sorted path order, executed as module
   ``aetherflow_user_plugin_<last 4 path parts>`` with its folder put first on ``sys.path``.

The folders are ``AETHERFLOW_PLUGIN_PATHS``, replaced by a bundle's ``layout.plugins_dir`` (``extra_paths``). In
enterprise mode the ambient folders are ignored (``plugin_paths_ignored``) and only bundle folders inside the
manifest's trusted ``paths.plugins`` load. A plugin step may replace a built-in step type (WARNING
``plugin_overrides_builtin``), except in enterprise mode. Failures and duplicate names are fatal under
``AETHERFLOW_PLUGIN_STRICT`` (``PluginLoadError``, exit 2), otherwise warnings (``plugin_load_failed``) returned as
``Issue`` records.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aetherflow.api import Registration, take_registrations
from aetherflow.errors import InputError, Issue, error_text
from aetherflow.registry import DuplicateName, Registry
from aetherflow.settings import Settings

__all__ = [
    "CONNECTORS_GROUP",
    "MODULE_PREFIX",
    "PLUGINS_GROUP",
    "STEPS_GROUP",
    "PluginLoadError",
    "active_registry",
    "load_plugins",
    "plugin_module_name",
]

PLUGINS_GROUP = "aetherflow.plugins"
STEPS_GROUP = "aetherflow.steps"
CONNECTORS_GROUP = "aetherflow.connectors"
MODULE_PREFIX = "aetherflow_user_plugin_"
LOAD_FAILED = "plugin:load_failed"
DUPLICATE = "plugin:duplicate"
PATHS_IGNORED = "plugin:paths_ignored"
OVERRIDES_BUILTIN = "plugin:overrides_builtin"
ROOT_LOC = "<root>"

Emit = Callable[..., None]

#: the registry the last ``load_plugins`` filled (what the compatibility ``list_steps()`` reports)
_active: Registry | None = None
#: entry-point code runs once per process; what it registered is replayed into any later registry
_entry_point_cache: dict[tuple[str, str, str], list[Registration]] = {}


class PluginLoadError(InputError):
    """A plugin failed to load, or registered a name that exists (fatal under ``AETHERFLOW_PLUGIN_STRICT``)."""

    def __init__(self, message: str, *, code: str = LOAD_FAILED, source: str = "") -> None:
        super().__init__(message, code=code, loc=ROOT_LOC)
        self.source = source


def active_registry() -> Registry | None:
    """The registry the plugins of this process were loaded into (None before ``load_plugins``)."""
    return _active


def plugin_module_name(path: Path) -> str:
    """``aetherflow_user_plugin_<last ≤4 parts of the path without suffix, joined by _>`` (upstream-compatible)."""
    return MODULE_PREFIX + "_".join(path.with_suffix("").parts[-4:])


def load_plugins(
    registry: Registry,
    *,
    settings: Settings,
    extra_paths: Sequence[str] = (),
    trusted_paths: Sequence[str] | None = None,
    enterprise: bool = False,
    emit: Emit | None = None,
) -> list[Issue]:
    """Load entry-point and folder plugins into ``registry``; return the warnings (non-strict failures).

    ``extra_paths`` are the bundle's plugin folders: in ``internal_fast`` mode they replace
    ``AETHERFLOW_PLUGIN_PATHS`` when non-empty; in enterprise mode they are the only folders, and each must lie inside
    one of ``trusted_paths`` (the manifest's ``paths.plugins``). ``emit(event, level=, **fields)`` receives the
    ``plugin_load_failed`` / ``plugin_paths_ignored`` events. Raises ``PluginLoadError`` (exit 2) on the first
    failure or duplicate when ``settings.plugin_strict``.
    """
    global _active
    _active = registry
    loader = _Loader(registry, strict=settings.plugin_strict, enterprise=enterprise, emit=emit)
    loader.absorb(take_registrations(), None)  # classes registered by modules imported before loading
    loader.entry_points()
    loader.lazy_entry_points(STEPS_GROUP, "step")
    loader.lazy_entry_points(CONNECTORS_GROUP, "connector")
    ambient = settings.plugin_path_list
    if enterprise:
        if ambient:
            joined = ",".join(ambient)
            loader.warn(
                Issue(PATHS_IGNORED, "AETHERFLOW_PLUGIN_PATHS", f"Plugin paths ignored in enterprise mode: {joined}"),
                "plugin_paths_ignored",
                paths=joined,
            )
        loader.paths(list(extra_paths), trusted=[_real(p) for p in trusted_paths or ()])
    else:
        loader.paths(list(extra_paths) if extra_paths else ambient, trusted=None)
    return loader.warnings


class _Loader:
    """One ``load_plugins`` call: the registry, the strictness and the warnings collected so far."""

    def __init__(self, registry: Registry, *, strict: bool, enterprise: bool, emit: Emit | None) -> None:
        self.registry = registry
        self.strict = strict
        self.enterprise = enterprise
        self.emit = emit
        self.warnings: list[Issue] = []

    # -- reporting -------------------------------------------------------------------------------------------------
    def warn(self, issue: Issue, event: str, **fields: Any) -> None:
        self.warnings.append(issue)
        if self.emit is not None:
            self.emit(event, level="WARNING", **fields)

    def fail(self, message: str, *, source: str, error: str, code: str = LOAD_FAILED) -> None:
        """Raise under strict mode, else record the warning and go on."""
        if self.strict:
            raise PluginLoadError(message, code=code, source=source)
        self.warn(Issue(code, ROOT_LOC, message), "plugin_load_failed", source=source, error=error)

    # -- registration ----------------------------------------------------------------------------------------------
    def absorb(self, registrations: list[Registration], source: str | None) -> None:
        """Add recorded registrations; a name that exists already is ``plugin:duplicate``."""
        for reg in registrations:
            origin = source or f"module {reg.target.__module__}"
            if reg.what == "step":
                self.add_step(reg.name, reg.target, origin)
                continue
            try:
                self.registry.add_connector(reg.name, reg.target, source=origin)
            except DuplicateName:
                self.duplicate(reg.what, reg.name, origin)

    def add_step(self, name: str, target: Any, source: str) -> None:
        """Register a plugin step; replacing a built-in is allowed with a warning, except in enterprise mode."""
        if not self.registry.is_builtin_step(name):
            try:
                self.registry.add_step(name, target, source=source)
            except DuplicateName:
                self.duplicate("step", name, source)
            return
        if self.enterprise:  # a trusted bundle must not silently change what a built-in step does
            message = f"Step type already registered: {name} (a built-in; enterprise mode refuses plugin overrides)"
            self.fail(message, source=source, error=message, code=DUPLICATE)
            return
        self.registry.override_step(name, target, source=source)
        message = f"Plugin step type '{name}' overrides the built-in step type (from {source})"
        self.warn(
            Issue(OVERRIDES_BUILTIN, ROOT_LOC, message), "plugin_overrides_builtin", step_type=name, source=source
        )

    def duplicate(self, what: str, name: str, source: str) -> None:
        message = f"Step type already registered: {name}" if what == "step" else f"Connector already registered: {name}"
        self.fail(message, source=source, error=message, code=DUPLICATE)

    # -- entry points ----------------------------------------------------------------------------------------------
    def entry_points(self) -> None:
        for ep in _entry_points(PLUGINS_GROUP):
            key = (ep.group, ep.name, ep.value)
            cached = _entry_point_cache.get(key)
            if cached is None:
                take_registrations()  # registrations not made by this entry point belong to nobody: drop them
                try:
                    obj = ep.load()
                    if callable(obj):
                        obj()
                    elif callable(getattr(obj, "register", None)):
                        obj.register()
                except (Exception, SystemExit) as exc:  # noqa: BLE001 (plugin code may raise anything)
                    take_registrations()
                    err = error_text(exc)
                    self.fail(f"Failed loading entry point plugin {ep.name}: {err}", source=ep.name, error=err)
                    continue
                cached = _entry_point_cache[key] = take_registrations()
            self.absorb(cached, f"entry point {ep.name}")

    def lazy_entry_points(self, group: str, what: str) -> None:
        for ep in _entry_points(group):
            module, sep, attr = ep.value.partition(":")
            if not sep or not module.strip() or not attr.strip():
                err = f"ValueError: entry point value must be 'module:Class', got {ep.value!r}"
                self.fail(f"Failed loading entry point plugin {ep.name}: {err}", source=ep.name, error=err)
                continue
            if what == "connector" and ep.name.count(":") != 1:
                err = f"ValueError: a connector entry point name must be 'kind:driver', got {ep.name!r}"
                self.fail(f"Failed loading entry point plugin {ep.name}: {err}", source=ep.name, error=err)
                continue
            target = f"{module.strip()}:{attr.strip()}"
            source = f"entry point {ep.name}"
            if what == "step":
                self.add_step(ep.name, target, source)
                continue
            try:
                self.registry.add_connector(ep.name, target, source=source)
            except DuplicateName:
                self.duplicate(what, ep.name, source)

    # -- plugin folders --------------------------------------------------------------------------------------------
    def paths(self, roots: list[str], *, trusted: list[str] | None) -> None:
        for raw in roots:
            root = Path(raw).expanduser()
            if trusted is not None and not _inside(_real(str(root)), trusted):
                err = "PermissionError: not inside a trusted plugin path (bundle manifest paths.plugins)"
                self.fail(f"Failed loading plugin file: {root}: {err}", source=str(root), error=err)
                continue
            if not root.is_dir():
                what = "not a directory" if root.exists() else "plugin path does not exist"
                err = f"FileNotFoundError: {what}"
                self.fail(f"Failed loading plugin file: {root}: {err}", source=str(root), error=err)
                continue
            top = str(root.resolve())
            if top in sys.path:
                sys.path.remove(top)
            sys.path.insert(0, top)  # plugin files may import helper modules next to them
            for path in _plugin_files(root):
                if trusted is not None and not _inside(_real(str(path)), trusted):
                    err = "PermissionError: resolves outside the trusted plugin paths"
                    self.fail(f"Failed loading plugin file: {path}: {err}", source=str(path), error=err)
                    continue
                self.file(path)

    def file(self, path: Path) -> None:
        take_registrations()
        name = plugin_module_name(path)
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path} as a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module  # dataclasses and pickling look the module up by name
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 (plugin code may raise anything)
            take_registrations()  # a failed file contributes nothing
            err = error_text(exc)
            self.fail(f"Failed loading plugin file: {path}: {err}", source=str(path), error=err)
            return
        self.absorb(take_registrations(), str(path))


@dataclass(frozen=True, slots=True)
class _EntryPoint:
    """One ``[group] name = module:attr`` line of an installed distribution's ``entry_points.txt``."""

    group: str
    name: str
    value: str

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


_scanned: tuple[tuple[str, ...], dict[str, list[_EntryPoint]]] | None = None


def _entry_points(group: str) -> list[_EntryPoint]:
    """Entry points of ``group``, sorted so the load order does not depend on sys.path order.

    One pass over the ``*.dist-info``/``*.egg-info`` folders on ``sys.path`` for every group: importlib.metadata
    would cost ~20 ms of imports and one scan per group on every pod start; the file format is a simple INI.
    """
    global _scanned
    key = tuple(sys.path)
    if _scanned is None or _scanned[0] != key:  # scanned once per process unless sys.path changes
        _scanned = (key, _scan_entry_points())
    return sorted(_scanned[1].get(group, []), key=lambda ep: (ep.name, ep.value))


def _scan_entry_points() -> dict[str, list[_EntryPoint]]:
    found: dict[str, list[_EntryPoint]] = {}
    seen: set[str] = set()
    for entry in sys.path:
        base = Path(entry or ".")
        if not base.is_dir():
            continue
        try:
            names = sorted(os.listdir(base))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist = name.rsplit(".", 1)[0].split("-", 1)[0].lower().replace("_", "-")  # "<name>-<version>.dist-info"
            if dist in seen:
                continue  # the first distribution of a name on sys.path wins, as importlib.metadata does
            seen.add(dist)
            try:
                text = (base / name / "entry_points.txt").read_text(encoding="utf-8")
            except OSError:
                continue
            group = ""
            for raw in text.splitlines():
                line = raw.strip()
                if not line or line.startswith(("#", ";")):
                    continue
                if line.startswith("[") and line.endswith("]"):
                    group = line[1:-1].strip()
                elif "=" in line and group:
                    ep_name, _, value = line.partition("=")
                    found.setdefault(group, []).append(_EntryPoint(group, ep_name.strip(), value.strip()))
    return found


def _plugin_files(root: Path) -> Iterator[Path]:
    found: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        found.extend(Path(directory, f) for f in files if f.endswith(".py") and not f.startswith("_"))
    yield from sorted(found)


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _inside(path: str, roots: list[str]) -> bool:
    for root in roots:
        try:
            if os.path.commonpath([path, root]) == root:
                return True
        except ValueError:
            continue
    return False
