"""A plugin step that ignores stop requests: it sleeps without checking ``ctx.cancelled``."""

import time
from pathlib import Path

from aetherflow.api import Inputs, Step, StepContext, StepResult, register_step


class StubbornInputs(Inputs):
    seconds: float = 60.0
    marker: str


@register_step("stubborn_sleep")
class StubbornSleep(Step[StubbornInputs]):
    """Touch ``marker``, then sleep ``seconds`` (a step that cannot be interrupted)."""

    inputs_model = StubbornInputs

    def run(self, inputs: StubbornInputs, ctx: StepContext) -> StepResult:
        Path(inputs.marker).touch()
        time.sleep(inputs.seconds)
        return StepResult.success(slept=inputs.seconds)
