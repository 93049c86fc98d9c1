"""Legacy connectors: one built from ``(config, options)``, one from ``ConnectorInit`` via ``ConnectorBase``."""

from aetherflow.core.api import ConnectorBase, Step, register_connector, register_step


@register_connector("greeter", "pair")
class PairGreeter:
    def __init__(self, config, options):
        self.config = config
        self.options = options

    def greet(self, who):
        return f"{self.config['greeting']}, {who}{self.options.get('punctuation', '')}"


@register_connector("greeter", "init")
class InitGreeter(ConnectorBase):
    def greet(self, who):
        return f"{self.config['greeting']}, {who} (from {self.name})"


@register_step("demo.greet")
class DemoGreet(Step):
    required_inputs = {"resource", "who"}

    def run(self):
        self.validate()
        by_name = self.ctx.connectors[self.inputs["resource"]]
        by_kind = self.ctx.connectors.get(kind="greeter", name=self.inputs["resource"])
        return {"text": by_name.greet(self.inputs["who"]), "same": by_name is by_kind}
