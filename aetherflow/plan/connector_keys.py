"""Unknown keys in a resource's ``config``/``options``, checked against what its connector class declares.

A connector declares the keys it reads (``Connector.config_keys`` / ``options_keys``, next to the code reading them);
a key it does not declare is a typo the connector would silently ignore, so it is ``schema:extra_forbidden`` with a
"did you mean". Connectors that declare nothing (None), unknown connectors and ones whose optional library is
missing (reported by the semantic rules) are not checked. Only the keys written in the flow are checked here; a
profile's keys are checked when the profile is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aetherflow.plan.findings import Recorder
from aetherflow.registry import Registry
from aetherflow.spec.load import did_you_mean


def check_connector_keys(rec: Recorder, registry: Registry, resources: Mapping[str, Any]) -> None:
    """Record ``schema:extra_forbidden`` for every undeclared key of a resource's ``config`` and ``options``."""
    for name, res in resources.items():
        declared = _declared(registry, f"{res['kind']}:{res['driver']}")
        if declared is None:
            continue
        for section, keys in zip(("config", "options"), declared, strict=True):
            values = res.get(section)
            if keys is None or not isinstance(values, dict):
                continue
            for key in values:
                if key not in keys:
                    rec.error(
                        "schema:extra_forbidden",
                        f"resources.{name}.{section}.{key}",
                        f"Extra inputs are not permitted{did_you_mean(key, sorted(keys))}",
                        ("resources", name, section, key),
                    )


def _declared(registry: Registry, key: str) -> tuple[frozenset[str] | None, frozenset[str] | None] | None:
    """The declared ``(config, options)`` keys of connector ``key``; None when it cannot be checked."""
    if not registry.has_connector(key) or registry.missing_extra(key) is not None:
        return None
    try:
        cls = registry.connector_class(key)
    except (ImportError, AttributeError):
        return None  # fails when a step uses it, with the import error
    config, options = getattr(cls, "config_keys", None), getattr(cls, "options_keys", None)
    return (
        frozenset(config) if isinstance(config, frozenset | set) else None,
        frozenset(options) if isinstance(options, frozenset | set) else None,
    )
