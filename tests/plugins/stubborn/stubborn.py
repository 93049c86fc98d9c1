"""A plugin step that ignores stop requests: it sleeps without checking ``ctx.cancelled``."""

import time

from aetherflow.api import Inputs, Step, StepContext, StepResult, register_step


class StubbornInputs(Inputs):
    seconds: float = 60.0
    marker: str


@register_step("stubborn_sleep")
class StubbornSleep(Step[StubbornInputs]):
    """Touch ``marker``, then sleep ``seconds`` (a step that cannot be interrupted)."""

    inputs_model = StubbornInputs

    def run(self, inputs: StubbornInputs, ctx: StepContext) -> StepResult:
        open(inputs.marker, "w").close()  # noqa: SIM115 (an empty marker file)
        time.sleep(inputs.seconds)
        return StepResult.success(slept=inputs.seconds)
