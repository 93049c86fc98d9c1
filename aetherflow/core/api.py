"""The aetherflow-core 0.0.14 plugin API: plugins written for it load and run unchanged
(docs/reference/plugins-and-bundles.md).

``__all__`` is upstream's list, in upstream's order. The step and connector contract below is loaded with the module;
the registry look-ups and ``require`` helpers (``aetherflow.core.lookup``) and the pydantic settings and flow models
(``aetherflow.core.models``) load on first access (PEP 562), so a plugin's import stays cheap.

A legacy step is a class built with ``(step_id, inputs, ctx, job_id)`` whose ``run()`` takes no argument and returns
a dict or a ``StepResult``; a legacy connector takes a ``ConnectorInit`` or ``(config, options)``. The decorators
here register *adapters* with the typed registry (``aetherflow.api.register_step``/``register_connector``):

* ``register_step`` wraps the class in a typed ``Step`` whose inputs model accepts any key (legacy steps declare no
  model) and declares ``required_inputs`` as required fields, so validation warns about missing ones
  (``semantic:missing_required_input``) and the runner reports them with the legacy message
  ``Step <id> missing inputs: ['a', 'b']``. ``run`` builds the legacy context (``env``, ``run_id``, ``flow_id``,
  ``settings.work_root``, ``job_dir``/``artifacts_dir``/``scratch_dir``/``manifests_dir``, ``connectors``, ``log``,
  ``acquire_lock``/``release_lock``) on top of the typed one and converts the result. Locks still held when the step
  returns are released then (the typed context holds locks only for a block, with a heartbeat).
* ``register_connector`` registers a subclass of the legacy class (``isinstance`` keeps working) that accepts the
  runner's ``ConnectorInit``, hands the legacy class plain dicts and a context with upstream's ``log``, and adds
  ``default_retry``/``close`` if missing.
* Inputs reach a legacy step with every ``RemoteFileMeta`` (object, or mapping restored from state) as a
  ``FileMetaView``: ``m.rel_path`` and ``m["rel_path"]`` both work, on a fresh run and after a resume.

Import-light on purpose: only the standard library and ``aetherflow.api``.
"""

from __future__ import annotations

import abc
import functools
import inspect
import keyword
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from aetherflow import api
from aetherflow.core.context import LegacyRunContext
from aetherflow.core.views import LegacyConnectorContext, legacy_inputs
from aetherflow.errors import ConnectorError, StepFailed

if TYPE_CHECKING:  # loaded on first access at run time (``__getattr__`` below)
    from aetherflow.core.lookup import get_connector, get_step, new_run_id, require, require_attr
    from aetherflow.core.models import (
        CleanupPolicy,
        FlowMetaSpec,
        FlowSpec,
        JobSpec,
        LockScope,
        LocksSpec,
        ResourceSpec,
        Settings,
        StateSpec,
        StepSpec,
        WorkspaceSpec,
    )

__all__ = [  # noqa: RUF022 (upstream's order: plugins and upstream's own contract test compare the list itself)
    # steps
    "Step",
    "StepResult",
    "STEP_SUCCESS",
    "STEP_SKIPPED",
    # context
    "RunContext",
    "new_run_id",
    # settings
    "Settings",
    # spec
    "FlowSpec",
    "FlowMetaSpec",
    "JobSpec",
    "StepSpec",
    "ResourceSpec",
    "WorkspaceSpec",
    "StateSpec",
    "LocksSpec",
    "CleanupPolicy",
    "LockScope",
    "RemoteFileMeta",
    # connectors
    "ConnectorBase",
    "ConnectorInit",
    "ConnectorError",
    # registries
    "register_step",
    "get_step",
    "list_steps",
    "register_connector",
    "get_connector",
    "list_connectors",
    "require",
    "require_attr",
]

#: names loaded on first access (PEP 562), so importing this module for ``Step`` does not load pydantic or the
#: registry: name -> module defining it
_LAZY = {
    **dict.fromkeys(("new_run_id", "get_step", "get_connector", "require", "require_attr"), "aetherflow.core.lookup"),
    **dict.fromkeys(
        (
            "Settings",
            "FlowSpec",
            "FlowMetaSpec",
            "JobSpec",
            "StepSpec",
            "ResourceSpec",
            "WorkspaceSpec",
            "StateSpec",
            "LocksSpec",
            "CleanupPolicy",
            "LockScope",
        ),
        "aetherflow.core.models",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this hook
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


STEP_SUCCESS = "SUCCESS"
STEP_SKIPPED = "SKIPPED"

_TypeT = TypeVar("_TypeT", bound=type)


# -- the legacy contract ----------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """A legacy step outcome; ``reason`` is added to the output as ``reason``."""

    status: str = STEP_SUCCESS
    output: dict[str, Any] | None = None
    reason: str | None = None

    def as_output(self) -> dict[str, Any]:
        """The output mapping with ``reason`` added (when set and not already present)."""
        out = dict(self.output or {})
        if self.reason:
            out.setdefault("reason", self.reason)
        return out


class Step(abc.ABC):
    """Base of legacy steps: ``self.id``, ``self.inputs`` (rendered dict), ``self.ctx``, ``self.job_id``."""

    required_inputs: ClassVar[set[str]] = set()

    def __init__(self, step_id: str, inputs: dict[str, Any], ctx: Any, job_id: str) -> None:
        self.id = step_id
        self.inputs = inputs
        self.ctx = ctx
        self.job_id = job_id

    def validate(self) -> None:
        """Raise ``ValueError("Step <id> missing inputs: [...]")`` naming the absent required inputs, sorted."""
        missing = sorted(k for k in self.required_inputs if k not in self.inputs)
        if missing:
            raise ValueError(f"Step {self.id} missing inputs: {missing}")

    @abc.abstractmethod
    def run(self) -> dict[str, Any] | StepResult:
        """Do the work; return the output dict (SUCCESS) or a ``StepResult``."""


@dataclass
class ConnectorInit:
    """What a legacy connector is built from (plain dicts, the connector context of the run)."""

    name: str
    kind: str
    driver: str
    config: dict[str, Any]
    options: dict[str, Any]
    ctx: Any | None = None


class ConnectorBase:
    """Optional base of legacy connectors: stores the init fields; ``close()`` does nothing unless overridden."""

    def __init__(self, init: ConnectorInit) -> None:
        self.name = init.name
        self.kind = init.kind
        self.driver = init.driver
        self.config = init.config
        self.options = init.options
        self.ctx = init.ctx

    def close(self) -> None:
        """Release resources (nothing by default)."""
        return None

    def __enter__(self) -> ConnectorBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


RemoteFileMeta = api.RemoteFileMeta  # defined there so built-in connectors can return it too


# -- registration -----------------------------------------------------------------------------------------------------


def register_step(name: str) -> Callable[[_TypeT], _TypeT]:
    """Class decorator registering a legacy step (or a typed ``aetherflow.api.Step``) as step type ``name``."""

    def decorate(cls: _TypeT) -> _TypeT:
        target = cls if issubclass(cls, api.Step) else legacy_step_adapter(cls)
        api.register_step(name)(target)
        return cls

    return decorate


def register_connector(kind: str, driver: str) -> Callable[[_TypeT], _TypeT]:
    """Class decorator registering a legacy connector (or a typed ``aetherflow.api.Connector``) as ``kind:driver``."""

    def decorate(cls: _TypeT) -> _TypeT:
        api.register_connector(kind, driver)(legacy_connector_adapter(cls))
        return cls

    return decorate


def list_steps() -> list[str]:
    """Step types of this process's registry (built-ins plus loaded plugins), sorted."""
    from aetherflow.plugins import active_registry
    from aetherflow.steps import BUILTIN_STEPS

    registry = active_registry()
    return registry.step_names() if registry is not None else sorted(BUILTIN_STEPS)


def list_connectors() -> list[str]:
    """``kind:driver`` names of this process's registry (built-ins plus loaded plugins), sorted."""
    from aetherflow.connectors import BUILTIN_CONNECTORS
    from aetherflow.plugins import active_registry

    registry = active_registry()
    return registry.connector_names() if registry is not None else sorted(BUILTIN_CONNECTORS)


# -- step adapter -----------------------------------------------------------------------------------------------------


class _LazyInputsModel:
    """``inputs_model`` of a legacy adapter, built on first access: pydantic loads only when a flow uses the step."""

    def __init__(self, legacy_class: type[Any]) -> None:
        self.legacy_class = legacy_class
        self.model: type[Any] | None = None

    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any:
        if self.model is None:
            self.model = _legacy_inputs_model(self.legacy_class)
        return self.model


class LegacyStepAdapter(api.Step[Any]):
    """A typed step running a legacy step class."""

    legacy_class: ClassVar[type[Any]]

    def run(self, inputs: Any, ctx: api.StepContext) -> api.StepResult:
        """Build the legacy step with a legacy context, run it, convert what it returns."""
        legacy_ctx = LegacyRunContext(ctx)
        try:
            values = legacy_inputs(inputs.model_dump())
            step = self.legacy_class(ctx.step_id, values, legacy_ctx, ctx.job_id)
            return to_step_result(step.run(), ctx.step_id)
        finally:
            legacy_ctx.release_all_locks()


def legacy_step_adapter(cls: type[Any]) -> type[LegacyStepAdapter]:
    """The typed adapter class of legacy step class ``cls``."""
    namespace = {
        "legacy_class": cls,
        "inputs_model": _LazyInputsModel(cls),
        "__module__": cls.__module__,
        "__qualname__": f"{cls.__qualname__}Adapter",
        "__doc__": cls.__doc__ or f"Legacy step {cls.__qualname__}.",
    }
    adapter: type[LegacyStepAdapter] = type(f"{cls.__name__}Adapter", (LegacyStepAdapter,), namespace)
    return adapter


@functools.cache
def _legacy_inputs_base() -> type[Any]:
    from pydantic import ConfigDict

    class LegacyInputs(api.Inputs):
        """Inputs of a legacy step: any key is accepted (legacy steps declare no model)."""

        model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True, arbitrary_types_allowed=True)

    return LegacyInputs


def _legacy_inputs_model(cls: type[Any]) -> type[Any]:
    """Any key accepted; ``required_inputs`` declared as required fields, sorted (the legacy message's order)."""
    from pydantic import create_model

    required = sorted(str(n) for n in (getattr(cls, "required_inputs", None) or ()))
    fields: dict[str, Any] = {name: (Any, ...) for name in required if _usable_field_name(name)}
    model: type[Any] = create_model(  # type: ignore[call-overload]
        f"{cls.__name__}Inputs", __base__=_legacy_inputs_base(), __module__=cls.__module__, **fields
    )
    return model


def _usable_field_name(name: str) -> bool:
    # Names pydantic cannot take as fields stay unchecked until the legacy step calls validate().
    from pydantic import BaseModel

    return (
        name.isidentifier()
        and not keyword.iskeyword(name)
        and not name.startswith("_")
        and not name.startswith("model_")
        and not hasattr(BaseModel, name)
    )


def to_step_result(value: Any, step_id: str) -> api.StepResult:
    """A legacy return value (dict, ``StepResult``-like, None) as a typed ``StepResult``."""
    if isinstance(value, api.StepResult):
        return value
    if value is None:
        return api.StepResult.success()
    if isinstance(value, Mapping):
        return api.StepResult.success(dict(value))
    status = getattr(value, "status", None)
    if status is not None and hasattr(value, "output"):
        out = dict(getattr(value, "output", None) or {})
        reason = getattr(value, "reason", None)
        if reason:
            out.setdefault("reason", reason)
        text = str(getattr(status, "value", status)).upper()
        if text == STEP_SUCCESS:
            return api.StepResult(api.Status.SUCCESS, out, reason)
        if text == STEP_SKIPPED:
            return api.StepResult(api.Status.SKIPPED, out, reason)
        raise StepFailed(f"Step {step_id} returned status {status!r}; a step result is SUCCESS or SKIPPED")
    raise StepFailed(f"Step {step_id} returned a {type(value).__name__}; a legacy step returns a dict or a StepResult")


# -- connector adapter ------------------------------------------------------------------------------------------------


def legacy_connector_adapter(cls: type[Any]) -> type[Any]:
    """``cls`` itself for a typed connector, else a subclass the runner's connector pool can build."""
    if issubclass(cls, api.Connector):
        return cls
    takes_pair = _takes_config_and_options(cls)
    base_init = cls.__init__

    def __init__(self: Any, init: Any) -> None:
        if isinstance(init, api.ConnectorInit):
            ctx = LegacyConnectorContext(init.ctx, init.kind, init.driver) if init.ctx is not None else None
            init = ConnectorInit(init.name, init.kind, init.driver, _plain(init.config), _plain(init.options), ctx)
        if takes_pair:
            base_init(self, init.config, init.options)
        else:
            base_init(self, init)
        for attr in ("name", "kind", "driver", "config", "options"):
            if not hasattr(self, attr):
                setattr(self, attr, getattr(init, attr))

    def default_retry(self: Any) -> api.RetryPolicy | None:
        return None

    def close(self: Any) -> None:
        return None

    def body(ns: dict[str, Any]) -> None:
        ns.update(
            {
                "__init__": __init__,
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
                "__doc__": cls.__doc__,
                "legacy_class": cls,
            }
        )
        if not callable(getattr(cls, "default_retry", None)):
            ns["default_retry"] = default_retry
        if not callable(getattr(cls, "close", None)):
            ns["close"] = close

    return types.new_class(cls.__name__, (cls,), exec_body=body)


def _takes_config_and_options(cls: type[Any]) -> bool:
    """True for the legacy ``(config, options)`` constructor, False for ``(init)``."""
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    return len(required) >= 2 or (len(positional) >= 2 and positional[0].name == "config")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


RunContext = LegacyRunContext  # what a legacy step receives as ``self.ctx``
