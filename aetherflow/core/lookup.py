"""Upstream's registry look-ups and optional-dependency helpers, for plugins written against aetherflow-core 0.0.14.

Loaded on first use of one of its names from ``aetherflow.core.api`` (standard library only at import).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["get_connector", "get_step", "new_run_id", "require", "require_attr"]


def require(spec: str) -> Any:
    """Import an optional dependency: ``"a.b"`` is module ``a.b``, ``"a.b:c"`` is attribute ``c`` of module ``a.b``.

    Any failure is a ``RuntimeError`` naming what is missing (the plugin's install hint), chained to the cause.
    """
    module_name, sep, attr = spec.partition(":")
    if sep:
        return require_attr(module_name, attr)
    try:
        return importlib.import_module(spec)
    except Exception as exc:
        raise RuntimeError(
            f"Optional dependency missing: Module {spec}. Install it to use this connector/step."
        ) from exc


def require_attr(module_name: str, attr_name: str) -> Any:
    """``getattr(import_module(module_name), attr_name)``; any failure is a ``RuntimeError`` naming both."""
    try:
        return getattr(importlib.import_module(module_name), attr_name)
    except Exception as exc:
        raise RuntimeError(
            f"Optional dependency missing: Module {module_name} Attribute {attr_name}. "
            "Install it to use this connector/step."
        ) from exc


def _registry() -> Any:
    from aetherflow.plugins import active_registry
    from aetherflow.registry import Registry

    return active_registry() or Registry.builtin()


def get_step(name: str) -> type[Any]:
    """The class registered as step type ``name`` (a legacy plugin's own class); ``KeyError`` listing the loaded."""
    registry = _registry()
    if not registry.has_step(name):
        raise KeyError(f"Unknown step type: {name}. Loaded: {registry.step_names()}")
    cls: type[Any] = registry.step_class(name)
    return getattr(cls, "legacy_class", cls)


def get_connector(kind: str, driver: str) -> type[Any]:
    """The connector class registered as ``kind:driver``; ``KeyError`` listing the loaded ones."""
    registry = _registry()
    key = f"{kind}:{driver}"
    if not registry.has_connector(key):
        raise KeyError(f"Unknown connector: {key}. Loaded: {registry.connector_names()}")
    cls: type[Any] = registry.connector_class(key)
    return cls


def new_run_id() -> str:
    """A fresh run id, in the form the runner gives runs that have none."""
    from aetherflow.edge.podinfo import generate_run_id

    return generate_run_id()
