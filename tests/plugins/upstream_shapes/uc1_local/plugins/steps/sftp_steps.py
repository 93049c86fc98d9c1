"""Plugin versions of two built-in step types: list names through ``listdir``, download them with ``get``."""

from __future__ import annotations

import fnmatch
from pathlib import PurePosixPath

from aetherflow.core.api import Step, register_step


@register_step("sftp_list_files")
class ListNames(Step):
    required_inputs = {"resource", "remote_dir"}

    def run(self):
        self.validate()
        conn = self.ctx.connectors[self.inputs["resource"]]
        base = self.inputs["remote_dir"].rstrip("/")
        pattern = self.inputs.get("pattern", "*")
        return {"files": [f"{base}/{n}" for n in conn.listdir(base) if fnmatch.fnmatch(n, pattern)]}


@register_step("sftp_download_files")
class DownloadNames(Step):
    required_inputs = {"resource", "files", "dest_dir"}

    def run(self):
        self.validate()
        conn = self.ctx.connectors[self.inputs["resource"]]
        dest = self.ctx.artifacts_dir(self.job_id) / self.inputs["dest_dir"]
        dest.mkdir(parents=True, exist_ok=True)
        local = []
        for remote in self.inputs.get("files") or []:
            target = dest / PurePosixPath(remote).name
            conn.get(remote, str(target))
            local.append(str(target))
        return {"local_files": local, "dest_dir": str(dest)}
