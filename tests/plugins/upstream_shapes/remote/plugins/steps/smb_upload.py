"""Upload local files (relative to the job's artifacts) through an SMB connector's ``put_file``."""

from __future__ import annotations

from pathlib import Path

from aetherflow.core.api import Step, register_step


@register_step("smb_upload_files_custom")
class UploadToShare(Step):
    required_inputs = {"resource", "local_files", "remote_dir"}

    def run(self):
        self.validate()
        share = self.ctx.connectors[self.inputs["resource"]]
        uploaded = []
        for name in self.inputs["local_files"]:
            path = Path(name)
            if not path.is_absolute():
                path = self.ctx.artifacts_dir(self.job_id) / path
            uploaded.append(share.put_file(str(path), f"{self.inputs['remote_dir'].rstrip('/')}/{path.name}"))
        return {"uploaded": uploaded}
