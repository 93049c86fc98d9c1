"""Step and connector names -> classes: built-in catalogues plus plugins, resolved lazily on first use.

A fresh ``Registry`` is built per process (tests build their own); nothing registers at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aetherflow.api import Connector, ConnectorContext, ConnectorInit, Step
from aetherflow.connectors import BUILTIN_CONNECTORS, REQUIRES
from aetherflow.errors import AetherFlowError
from aetherflow.steps import BUILTIN_STEPS, STEP_REQUIRES

if TYPE_CHECKING:
    from aetherflow.redaction import Redactor

Target = str | type[Any]


class ResourceLike(Protocol):
    """What ``Registry.build_connector`` reads of a resolved resource (``aetherflow.spec.ResolvedResource``)."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def driver(self) -> str: ...

    @property
    def config(self) -> Mapping[str, Any]: ...

    @property
    def options(self) -> Mapping[str, Any]: ...

    @property
    def key(self) -> str: ...


class RunConnectorContext:
    """The ``ConnectorContext`` handed to connectors: env snapshot, events and redaction of the run."""

    def __init__(self, env: Mapping[str, str], emit: Callable[..., None], redactor: Redactor) -> None:
        self.env = env
        self._emit = emit
        self._redactor = redactor

    def emit(self, event: str, *, level: str = "INFO", **fields: Any) -> None:
        self._emit(event, level=level, **fields)

    def redact(self, text: str) -> str:
        return self._redactor.mask(text)


class DuplicateName(AetherFlowError):
    """A plugin registered a step type or connector name that already exists."""

    exit_code = 2


class Registry:
    """Names to ``module:Class`` targets (or classes); ``resolve`` imports a target on first use."""

    def __init__(
        self,
        steps: Mapping[str, Target] | None = None,
        connectors: Mapping[str, Target] | None = None,
        requires: Mapping[str, tuple[str, str]] | None = None,
        step_requires: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self._steps: dict[str, Target] = dict(steps or {})
        self._connectors: dict[str, Target] = dict(connectors or {})
        self._requires: dict[str, tuple[str, str]] = dict(requires or {})
        self._step_requires: dict[str, tuple[str, str]] = dict(step_requires or {})
        self._sources: dict[str, str] = {}
        self._loaded: dict[str, type[Any]] = {}

    @classmethod
    def builtin(cls) -> Registry:
        """A registry holding exactly the built-in steps and connectors."""
        return cls(BUILTIN_STEPS, BUILTIN_CONNECTORS, REQUIRES, STEP_REQUIRES)

    # -- registration (plugins) -------------------------------------------------------------------------------
    def add_step(self, name: str, target: Target, *, source: str = "plugin") -> None:
        """Register a step type; a name that exists already is an error naming both sources."""
        self._add(self._steps, "step", name, target, source)

    def override_step(self, name: str, target: Target, *, source: str) -> None:
        """Replace built-in step type ``name`` with a plugin's class (the caller decides whether that is allowed)."""
        if not self.is_builtin_step(name):
            first = self._sources.get(f"step:{name}", "nobody")
            raise DuplicateName(f"Step type '{name}' is not a built-in to override: registered by {first}")
        self._steps[name] = target
        self._sources[f"step:{name}"] = source
        self._loaded.pop(f"step:{name}", None)

    def add_connector(
        self, key: str, target: Target, *, source: str = "plugin", requires: tuple[str, str] | None = None
    ) -> None:
        """Register a connector under ``kind:driver``."""
        self._add(self._connectors, "connector", key, target, source)
        if requires:
            self._requires[key] = requires

    def _add(self, table: dict[str, Target], what: str, name: str, target: Target, source: str) -> None:
        if name in table:
            first = self._sources.get(f"{what}:{name}", "built-in")
            raise DuplicateName(f"Duplicate {what} name '{name}': registered by {first} and by {source}")
        table[name] = target
        self._sources[f"{what}:{name}"] = source

    # -- lookup ----------------------------------------------------------------------------------------------
    def step_names(self) -> list[str]:
        """Every registered step type, sorted."""
        return sorted(self._steps)

    def connector_names(self) -> list[str]:
        """Every registered ``kind:driver``, sorted."""
        return sorted(self._connectors)

    def has_step(self, name: str) -> bool:
        """True when ``name`` is a registered step type."""
        return name in self._steps

    def is_builtin_step(self, name: str) -> bool:
        """True when ``name`` is a built-in step type (not registered by a plugin)."""
        return name in BUILTIN_STEPS and f"step:{name}" not in self._sources

    def has_connector(self, key: str) -> bool:
        """True when ``kind:driver`` is registered."""
        return key in self._connectors

    def step_class(self, name: str) -> type[Step[Any]]:
        """The step class for ``name`` (imports its module on first use)."""
        return self._resolve("step", self._steps, name)

    def connector_class(self, key: str) -> type[Connector]:
        """The connector class for ``kind:driver`` (imports its module, never its heavy library)."""
        return self._resolve("connector", self._connectors, key)

    def build_connector(self, resource: ResourceLike, ctx: ConnectorContext) -> Connector:
        """A new connector for ``resource`` (its class found by ``kind:driver``), seeing the run through ``ctx``."""
        cls = self.connector_class(resource.key)
        return cls(ConnectorInit(resource.name, resource.kind, resource.driver, resource.config, resource.options, ctx))

    def missing_extra(self, key: str) -> tuple[str, str] | None:
        """``(module, extra)`` when the connector's optional library is not installed, else None."""
        return _missing(self._requires.get(key))

    def missing_step_extra(self, name: str) -> tuple[str, str] | None:
        """``(module, extra)`` when a built-in step's optional library is not installed, else None."""
        return _missing(self._step_requires.get(name)) if self.is_builtin_step(name) else None

    def _resolve(self, what: str, table: Mapping[str, Target], name: str) -> type[Any]:
        cache_key = f"{what}:{name}"
        cls = self._loaded.get(cache_key)
        if cls is None:
            target = table[name]
            if isinstance(target, str):
                module, _, attr = target.partition(":")
                cls = getattr(importlib.import_module(module), attr)
            else:
                cls = target
            self._loaded[cache_key] = cls
        return cls


def _missing(need: tuple[str, str] | None) -> tuple[str, str] | None:
    """``need`` when its module cannot be found (without importing it), else None."""
    if need is None:
        return None
    try:
        found = importlib.util.find_spec(need[0]) is not None
    except (ImportError, ValueError):
        found = False
    return None if found else need
