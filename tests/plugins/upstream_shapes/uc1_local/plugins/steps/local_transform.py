"""Copy a directory tree, upper-casing the header line of every CSV file."""

from __future__ import annotations

from aetherflow.core.api import Step, register_step


@register_step("local_transform_csv")
class UpperHeaders(Step):
    required_inputs = {"src_dir", "dst_dir"}

    def run(self):
        self.validate()
        artifacts = self.ctx.artifacts_dir(self.job_id)
        src, dst = artifacts / self.inputs["src_dir"], artifacts / self.inputs["dst_dir"]
        changed = 0
        for path in sorted(p for p in src.rglob("*") if p.is_file()):
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() == ".csv":
                head, _, rest = path.read_text(encoding="utf-8").partition("\n")
                target.write_text(f"{head.upper()}\n{rest}", encoding="utf-8")
                changed += 1
            else:
                target.write_bytes(path.read_bytes())
        return {"dst_dir": str(dst), "csv_transformed": changed}
