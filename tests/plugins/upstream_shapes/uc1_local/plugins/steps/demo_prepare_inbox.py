"""Write a zip holding one CSV into ``out_dir`` (relative to the job's artifacts, or absolute)."""

from __future__ import annotations

import zipfile

from aetherflow.core.api import Step, register_step


@register_step("demo_prepare_inbox")
class PrepareInbox(Step):
    required_inputs = {"out_dir", "zip_name"}

    def run(self):
        self.validate()
        out_dir = self.ctx.artifacts_dir(self.job_id) / self.inputs["out_dir"]
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / self.inputs["zip_name"]
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("sample.csv", "col1,col2\n1,hello\n2,world\n")
        return {"demo_zip": str(target)}
