"""List, download and delete remote files; the list's entries travel to the next steps as ``RemoteFileMeta``."""

from __future__ import annotations

import fnmatch
from dataclasses import replace

from aetherflow.core.api import STEP_SKIPPED, STEP_SUCCESS, RemoteFileMeta, Step, StepResult, register_step


@register_step("sftp_list_files_custom")
class ListRemote(Step):
    required_inputs = {"resource", "remote_dir"}

    def run(self):
        self.validate()
        conn = self.ctx.connectors[self.inputs["resource"]]
        base = self.inputs["remote_dir"].rstrip("/")
        pattern = self.inputs.get("pattern", "*")
        found: list[RemoteFileMeta] = []

        def walk(directory: str) -> None:
            for entry in conn.listdir(directory):
                if entry.is_dir:
                    if self.inputs.get("recursive", False):
                        walk(entry.path)
                    continue
                if fnmatch.fnmatch(entry.name, pattern):
                    found.append(replace(entry, rel_path=entry.path[len(base) + 1 :]))

        walk(base)
        minimum = int(self.inputs.get("min_count", 1))
        if len(found) < minimum:
            return StepResult(
                status=STEP_SKIPPED, output={"count": len(found), "files": []}, reason=f"{len(found)} < {minimum}"
            )
        files = sorted(found, key=lambda m: m.rel_path)
        return StepResult(status=STEP_SUCCESS, output={"count": len(files), "files": files})


@register_step("sftp_download_files_custom")
class DownloadRemote(Step):
    required_inputs = {"resource", "files", "dest_dir"}

    def run(self):
        self.validate()
        conn = self.ctx.connectors[self.inputs["resource"]]
        dest = self.ctx.artifacts_dir(self.job_id) / self.inputs["dest_dir"]
        local = []
        for m in self.inputs["files"]:
            target = dest / m.rel_path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            conn.get(m.path, str(target))
            local.append(str(target.relative_to(dest)))
        return {"local_files": local, "sizes": [m["size"] for m in self.inputs["files"]]}


@register_step("sftp_delete_files_custom")
class DeleteRemote(Step):
    required_inputs = {"resource", "files"}

    def run(self):
        self.validate()
        conn = self.ctx.connectors[self.inputs["resource"]]
        for m in self.inputs["files"]:
            conn.delete(m.path)
        return {"deleted": len(self.inputs["files"])}
