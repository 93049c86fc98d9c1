"""Plugin version of the built-in ``smb_upload_files``: hands each local file to the connector's ``put_file``."""

from __future__ import annotations

from aetherflow.core.api import Step, register_step


@register_step("smb_upload_files")
class PutFiles(Step):
    required_inputs = {"resource", "local_files", "remote_dir"}

    def run(self):
        self.validate()
        share = self.ctx.connectors[self.inputs["resource"]]
        for local in self.inputs["local_files"]:
            share.put_file(local, self.inputs["remote_dir"])
        return {"uploaded": list(self.inputs["local_files"]), "remote_dir": self.inputs["remote_dir"]}
