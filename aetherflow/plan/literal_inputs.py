"""Literal step inputs checked by the step's own input model before anything runs.

Each step's inputs are validated with its type's ``inputs_model`` (the same lax model the step runs with: ``"3"``
is the integer 3), and only what the flow states literally is reported: an error at a templated string, or at a
value holding one, is dropped because the rendered value is checked again when the step runs. Unknown keys and
missing required inputs are the semantic rules' (one record each); so is any place those rules already reported.
Legacy plugin steps (names only) and steps whose class or optional library cannot be loaded are not checked here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final

from aetherflow.errors import Issue
from aetherflow.plan.findings import Recorder
from aetherflow.plan.shapes import ShapeLookup
from aetherflow.spec.load import schema_issues
from aetherflow.static_check import STATIC_CHECK
from aetherflow.templating import has_template

#: pydantic error types the semantic rules report already (rule 10 and the missing-required-input rule)
_REPORTED_BY_RULES: Final = frozenset({"extra_forbidden", "missing"})


def check_literal_inputs(rec: Recorder, shapes: ShapeLookup, jobs: list[dict[str, Any]]) -> None:
    """Record a ``schema:*`` error for every literal step input its step's model rejects."""
    # a missing required input is reported at ``...inputs``: it does not hide the other inputs' problems
    earlier = [issue.loc for issue in rec.errors if issue.code != "semantic:missing_required_input"]
    for i, job in enumerate(jobs):
        for j, step in enumerate(job["steps"]):
            model = _model(shapes, step["type"])
            inputs = step["inputs"]
            if model is None or not isinstance(inputs, dict):
                continue
            head, at = f"jobs[{i}].steps[{j}].inputs", ("jobs", i, "steps", j, "inputs")
            for issue in _issues(rec, model, inputs, head, at):
                if not any(_related(issue.loc, loc) for loc in earlier):
                    rec.add(True, issue)


def _model(shapes: ShapeLookup, step_type: Any) -> Any:
    """The input model of ``step_type``; None when it is not checked statically."""
    registry = shapes.registry
    if not isinstance(step_type, str) or not registry.has_step(step_type) or shapes.is_legacy(step_type):
        return None
    if registry.missing_step_extra(step_type) is not None:
        return None  # reported by rule 9; importing the step would fail
    try:
        cls = registry.step_class(step_type)
    except (ImportError, AttributeError):
        return None  # a step module that cannot be imported fails when the step runs
    model = getattr(cls, "inputs_model", None)
    return model if hasattr(model, "model_validate") else None


def _issues(rec: Recorder, model: Any, inputs: Mapping[str, Any], head: str, at: tuple[Any, ...]) -> list[Issue]:
    from pydantic import ValidationError  # loaded with the step module already

    try:
        model.model_validate(inputs, context=STATIC_CHECK)
    except ValidationError as exc:
        errors = list(_literal_errors(exc.errors(), inputs))
    else:
        return []
    return schema_issues(errors, rec.doc, {}, at=at, loc_head=head)


def _literal_errors(errors: list[Any], inputs: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The errors about literal values, each loc cut to where the value is (one error per place)."""
    seen: set[tuple[Any, ...]] = set()
    for err in errors:
        if err["type"] in _REPORTED_BY_RULES:
            continue
        loc, value, templated = _walk(inputs, tuple(err["loc"]))
        if templated or _holds_template(value) or (not loc and any(_holds_template(v) for v in inputs.values())):
            continue
        if loc in seen:
            continue  # a union reports each member's complaint at the same value
        seen.add(loc)
        yield {**err, "loc": loc}


def _walk(inputs: Mapping[str, Any], loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any, bool]:
    """The longest prefix of ``loc`` that names a value, that value, and whether a template lies on the way."""
    current: Any = inputs
    taken: list[Any] = []
    for seg in loc:
        if isinstance(current, str) and has_template(current):
            return tuple(taken), current, True
        if not _has(current, seg):
            break  # a union member's tag, a model's ``[key]``: the value is where we are
        current = current[seg]
        taken.append(seg)
    return tuple(taken), current, False


def _has(value: Any, seg: Any) -> bool:
    if isinstance(value, dict):
        return seg in value
    return isinstance(value, list) and isinstance(seg, int) and -len(value) <= seg < len(value)


def _holds_template(value: Any) -> bool:
    if isinstance(value, str):
        return has_template(value)
    if isinstance(value, dict):
        return any(_holds_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_template(v) for v in value)
    return False


def _related(loc: str, other: str) -> bool:
    """Whether two locs name the same place or one lies inside the other."""
    return loc == other or loc.startswith((f"{other}.", f"{other}[")) or other.startswith((f"{loc}.", f"{loc}["))
