"""Inputs that take one of a few words: the step's input model refuses any other, so validation sees it too.

The words are declared once, in ``input_help.ALLOWED`` (also what the docs and the JSON Schema offer); the check
ignores case and surrounding spaces, as the steps do when they read the value. It runs only when the flow is
validated (a literal value, see ``aetherflow.static_check``): at run time a rendered value reaches the step, which
refuses it with the message docs/reference/steps names (``Unsupported format: xml``), as upstream does.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationInfo, field_validator

from aetherflow.static_check import is_static_check
from aetherflow.steps.input_help import ALLOWED


def one_of(step_type: str, name: str) -> Any:
    """A field validator for input ``name`` of ``step_type`` accepting only its ``ALLOWED`` words."""
    words = ALLOWED[step_type][name]
    accepted = {word.lower() for word in words}

    def check(cls: type[Any], value: Any, info: ValidationInfo) -> Any:
        if is_static_check(info.context) and isinstance(value, str) and value.strip().lower() not in accepted:
            raise ValueError(f"unsupported {name}: {value} (use one of: {', '.join(words)})")
        return value

    return field_validator(name)(classmethod(check))  # type: ignore[arg-type]
