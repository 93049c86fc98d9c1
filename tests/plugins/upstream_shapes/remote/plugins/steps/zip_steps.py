"""Find zip files under a directory of the job's artifacts."""

from __future__ import annotations

from pathlib import Path

from aetherflow.core.api import Step, register_step


@register_step("fs_find_zipfiles")
class FindZipFiles(Step):
    required_inputs = {"src_dir"}

    def run(self):
        self.validate()
        base = Path(str(self.inputs["src_dir"]))
        if not base.is_absolute():
            base = self.ctx.artifacts_dir(self.job_id) / base
        found = sorted(str(p.relative_to(base)) for p in base.rglob("*.zip"))
        return {"zip_files": found, "count": len(found)}
