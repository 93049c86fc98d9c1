"""A typed plugin step: ``greet`` writes a greeting to a file in the artifacts dir."""

from aetherflow.api import Inputs, Step, StepContext, StepResult, register_step


class GreetInputs(Inputs):
    name: str
    path: str = "greeting.txt"


@register_step("greet")
class Greet(Step[GreetInputs]):
    """Write ``Hello, <name>!`` to ``path``."""

    inputs_model = GreetInputs

    def run(self, inputs: GreetInputs, ctx: StepContext) -> StepResult:
        target = ctx.resolve_path(inputs.path)
        text = f"Hello, {inputs.name}!"
        target.write_text(text)
        return StepResult.success(text=text, path=str(target))
