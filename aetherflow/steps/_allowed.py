"""Inputs that take one of a few words: the step's input model refuses any other, so validation sees it too.

The words are declared once, in ``input_help.ALLOWED`` (also what the docs and the JSON Schema offer); the check
ignores case and surrounding spaces, as the steps do when they read the value.
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from aetherflow.steps.input_help import ALLOWED


def one_of(step_type: str, name: str) -> Any:
    """A field validator for input ``name`` of ``step_type`` accepting only its ``ALLOWED`` words."""
    words = ALLOWED[step_type][name]
    accepted = {word.lower() for word in words}

    def check(cls: type[Any], value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() not in accepted:
            raise ValueError(f"unsupported {name}: {value} (use one of: {', '.join(words)})")
        return value

    return field_validator(name)(classmethod(check))  # type: ignore[arg-type]
