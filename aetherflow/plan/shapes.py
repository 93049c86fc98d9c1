"""Step shapes: which input keys a step type accepts, which it requires, and whether it takes a resource.

Built-in steps are described by a JSON catalogue kept next to them (``aetherflow/steps/shapes.json``, written by
``scripts/gen_step_shapes.py``), so validating a flow imports neither their modules nor their pydantic models;
a plugin step's shape is read from its ``inputs_model``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from aetherflow.plan.findings import Finding
from aetherflow.registry import Registry
from aetherflow.spec.load import did_you_mean

#: where the input shapes of the built-in steps are kept, so validation need not import them (nor pydantic)
STEP_SHAPES_FILE: Final = Path(__file__).parent.parent / "steps" / "shapes.json"
#: how deep nested inputs (and ``with_lock`` inner steps) are followed
MAX_INNER_DEPTH: Final = 8


@dataclass(frozen=True)
class StepShape:
    """A step class's declared inputs, as far as validation needs them."""

    keys: frozenset[str] | None  # None: keys not checked (no model, or extra keys allowed)
    required: tuple[tuple[str, frozenset[str]], ...]  # (display name, accepted names) per required input
    nested: Mapping[str, StepShape]  # input name -> the shape of a nested model whose keys are checked too
    resource_kind: str | None
    takes_resource: bool
    #: the keys of the step's output mapping, when the class declares them (``Step.result_keys``)
    result_keys: frozenset[str] | None = None

    def as_json(self) -> dict[str, Any]:
        """The shape as plain JSON data (the built-in catalogue ``aetherflow/steps/shapes.json``)."""
        return {
            "keys": None if self.keys is None else sorted(self.keys),
            "required": [[name, sorted(accepted)] for name, accepted in self.required],
            "nested": {key: sub.as_json() for key, sub in sorted(self.nested.items())},
            "resource_kind": self.resource_kind,
            "takes_resource": self.takes_resource,
            "result_keys": None if self.result_keys is None else sorted(self.result_keys),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepShape:
        """The inverse of ``as_json``."""
        return cls(
            None if data["keys"] is None else frozenset(data["keys"]),
            tuple((name, frozenset(accepted)) for name, accepted in data["required"]),
            {key: cls.from_json(sub) for key, sub in data["nested"].items()},
            data["resource_kind"],
            data["takes_resource"],
            None if data.get("result_keys") is None else frozenset(data["result_keys"]),
        )

    def extra_keys(self, inputs: Mapping[Any, Any], loc: str, path: tuple[Any, ...]) -> Iterator[Finding]:
        """``schema:extra_forbidden`` for every key of ``inputs`` (and of checked nested models) not declared."""
        if self.keys is None:
            return
        yield from _extra_keys(self.keys, nested=self.nested, value=inputs, loc=loc, path=path, depth=0)


def step_info(cls: Any) -> StepShape:
    """The declared inputs of a step class, read from its ``inputs_model``."""
    model = getattr(cls, "inputs_model", None)
    kind = getattr(cls, "resource_kind", None)
    declared = getattr(cls, "result_keys", None)
    result_keys = frozenset(declared) if isinstance(declared, frozenset | set | tuple | list) else None
    if model is None or not hasattr(model, "model_fields"):
        return StepShape(None, (), {}, kind, kind is not None, result_keys)
    info = _model_info(model)
    takes = kind is not None or "resource" in model.model_fields
    return dataclasses.replace(info, resource_kind=kind, takes_resource=takes, result_keys=result_keys)


def builtin_step_shapes(registry: Registry) -> dict[str, Any]:
    """The JSON catalogue of every built-in step's input shape (written to STEP_SHAPES_FILE)."""
    return {name: step_info(registry.step_class(name)).as_json() for name in registry.step_names()}


class ShapeLookup:
    """The shapes of the step types one flow uses, each looked up once (a plugin's class is imported once)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._shapes: dict[str, StepShape | None] = {}

    def get(self, step_type: str) -> StepShape | None:
        """The shape of ``step_type``; None when its class cannot be imported (that fails when the step runs)."""
        if step_type not in self._shapes:
            self._shapes[step_type] = self._load(step_type)
        return self._shapes[step_type]

    def result_keys(self, step_type: str) -> frozenset[str] | None:
        """The output keys of a built-in step type; None for a plugin's (also one replacing a built-in)."""
        if not self.registry.is_builtin_step(step_type):
            return None
        shape = self.get(step_type)
        return None if shape is None else shape.result_keys

    def is_legacy(self, step_type: str) -> bool:
        """Whether ``step_type`` is a legacy plugin step: it declares input names only, checked when it runs."""
        if self.registry.is_builtin_step(step_type) or not self.registry.has_step(step_type):
            return False
        try:
            cls = self.registry.step_class(step_type)
        except (ImportError, AttributeError):
            return True  # cannot tell before it runs: stay lenient
        return hasattr(cls, "legacy_class")

    def _load(self, step_type: str) -> StepShape | None:
        if self.registry.is_builtin_step(step_type):
            shape = _builtin_shape(step_type)
            if shape is not None:
                return shape
        try:
            cls = self.registry.step_class(step_type)
        except (ImportError, AttributeError):
            return None  # a step module that cannot be imported fails when the step runs, not here
        return step_info(cls)


_CATALOGUE: dict[str, Any] | None = None


def _builtin_shape(step_type: str) -> StepShape | None:
    global _CATALOGUE  # read once per process: one small JSON file
    if _CATALOGUE is None:
        try:
            _CATALOGUE = json.loads(STEP_SHAPES_FILE.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            _CATALOGUE = {}
    data = _CATALOGUE.get(step_type)
    return StepShape.from_json(data) if data is not None else None


def _model_info(model: Any) -> StepShape:
    """Accepted input names (field names and aliases), required inputs, and nested closed models per input."""
    names: set[str] = set()
    required: list[tuple[str, frozenset[str]]] = []
    nested: dict[str, StepShape] = {}
    for name, info in model.model_fields.items():
        accepted = {name}
        if isinstance(info.alias, str):
            accepted.add(info.alias)
        accepted.update(_alias_names(info.validation_alias))
        names.update(accepted)
        if info.is_required():
            required.append((info.alias if isinstance(info.alias, str) else name, frozenset(accepted)))
        sub = _nested_model(info.annotation)
        if sub is not None:
            for key in accepted:
                nested[key] = _model_info(sub)
    # unknown keys are rejected for every step unless its model explicitly accepts extra keys
    # (docs/reference/steps/README.md)
    config = getattr(model, "model_config", {})
    keys = None if config.get("extra") == "allow" else frozenset(names)
    return StepShape(keys, tuple(required), nested, None, False)


def _alias_names(alias: Any) -> set[str]:
    if alias is None:
        return set()
    if isinstance(alias, str):
        return {alias}
    choices = getattr(alias, "choices", None)
    if choices is not None:
        out: set[str] = set()
        for choice in choices:
            out |= _alias_names(choice)
        return out
    path = getattr(alias, "path", None)
    if path and isinstance(path[0], str):
        return {path[0]}
    return set()


def _nested_model(annotation: Any) -> Any:
    """The single pydantic model ``annotation`` is (``M``, ``M | None``, ``Annotated[M, ...]``), else None.

    A ``list[M]`` is looked into (each entry is checked); a ``dict[str, M]`` is not: its keys are names, not fields.
    """
    found: list[Any] = []
    todo = [annotation]
    while todo:
        current = todo.pop()
        if isinstance(current, type) and hasattr(current, "model_fields"):
            found.append(current)
            continue
        origin = typing.get_origin(current)
        if origin is typing.Annotated:
            todo.append(typing.get_args(current)[0])
        elif origin is typing.Union or origin is types.UnionType or origin is list:
            todo.extend(typing.get_args(current))
    return found[0] if len(found) == 1 else None


def _extra_keys(
    keys: frozenset[str],
    *,
    nested: Mapping[str, StepShape],
    value: Mapping[Any, Any],
    loc: str,
    path: tuple[Any, ...],
    depth: int,
) -> Iterator[Finding]:
    for key, item in value.items():
        if key not in keys:
            msg = f"Extra inputs are not permitted{did_you_mean(key, sorted(keys))}"
            yield Finding("schema:extra_forbidden", f"{loc}.{key}", msg, (*path, key))
            continue
        sub = nested.get(key)
        if sub is None or depth >= MAX_INNER_DEPTH or sub.keys is None:
            continue
        entries = enumerate(item) if isinstance(item, list) else [(None, item)]
        for i, entry in entries:
            if isinstance(entry, dict):
                where, at = (f"{loc}.{key}", (*path, key)) if i is None else (f"{loc}.{key}[{i}]", (*path, key, i))
                yield from _extra_keys(sub.keys, nested=sub.nested, value=entry, loc=where, path=at, depth=depth + 1)
