"""Send a plain-text mail through a ``mail`` connector offering ``send_plaintext``."""

from __future__ import annotations

from aetherflow.core.api import Step, register_step


@register_step("mail_send_dummy")
class SendDummyMail(Step):
    required_inputs = {"resource", "to", "subject", "body"}

    def run(self):
        self.validate()
        mail = self.ctx.connectors[self.inputs["resource"]]
        mail.send_plaintext(to=self.inputs["to"], subject=str(self.inputs["subject"]), body=str(self.inputs["body"]))
        self.ctx.log.info("mail step done")
        return {"sent": True}
