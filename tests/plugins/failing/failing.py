"""A plugin step that fails loudly: a library record with a traceback and a multi-line error of its own."""

import logging

from aetherflow.api import Inputs, Step, StepContext, StepResult, register_step

log = logging.getLogger("failing_plugin.deep")


class FailingInputs(Inputs):
    message: str = "first line\nsecond line"


@register_step("failing_loudly")
class FailingLoudly(Step[FailingInputs]):
    """Log a warning carrying a caught exception's traceback, then raise an error whose text spans lines."""

    inputs_model = FailingInputs

    def run(self, inputs: FailingInputs, ctx: StepContext) -> StepResult:
        try:
            {}["missing"]  # a real traceback for the library record
        except KeyError:
            log.warning("lookup failed\nwhile preparing", exc_info=True)
        raise ValueError(inputs.message)
