"""``emit_values``: a step whose outputs are values a JSON encoder trips on (Decimal, NaN, Infinity, cycles, bulk)."""

from decimal import Decimal
from typing import Any

from aetherflow.api import Inputs, Step, StepContext, StepResult, register_step


class EmitInputs(Inputs):
    kind: str
    size: int = 0


def _numbers() -> dict[str, Any]:
    return {
        "f_nan": float("nan"),
        "f_inf": float("inf"),
        "f_ninf": float("-inf"),
        "d_nan": Decimal("NaN"),
        "d_inf": Decimal("Infinity"),
        "d_ninf": Decimal("-Infinity"),
        "d_int": Decimal("42"),
        "d_short": Decimal("0.1"),
        "d_long": Decimal("1.000000000000000000000000001"),
        "d_big": Decimal("123456789012345678901234567890.5"),
        "nested": [Decimal("2.5"), {"x": float("nan")}],
    }


def _cycle() -> dict[str, Any]:
    out: dict[str, Any] = {"name": "loop"}
    out["self"] = out
    return out


@register_step("emit_values")
class EmitValues(Step[EmitInputs]):
    """Return the outputs named by ``kind``: ``numbers``, ``big`` (``size`` bytes of text) or ``cycle``."""

    inputs_model = EmitInputs

    def run(self, inputs: EmitInputs, ctx: StepContext) -> StepResult:
        if inputs.kind == "numbers":
            return StepResult.success(**_numbers())
        if inputs.kind == "big":
            return StepResult.success(text="x" * inputs.size)
        return StepResult.success(**_cycle())
