"""Write aetherflow/steps/shapes.json: the input shapes of the built-in steps, read by validation.

Validation checks step input keys without importing the step modules (and pydantic) through this file; a unit
test fails when it drifts from the models. Run after changing a built-in step's inputs:

    python scripts/gen_step_shapes.py
"""

from __future__ import annotations

import json

from aetherflow.plan import STEP_SHAPES_FILE, builtin_step_shapes
from aetherflow.registry import Registry


def render() -> str:
    """The file's content for the current step models."""
    return json.dumps(builtin_step_shapes(Registry.builtin()), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    STEP_SHAPES_FILE.write_text(render(), encoding="utf-8")
    print(f"wrote {STEP_SHAPES_FILE}")
