"""Write a CSV (header and rows given as inputs) under the job's artifacts."""

from __future__ import annotations

import csv

from aetherflow.core.api import Step, register_step


@register_step("demo_generate_csv")
class WriteCsv(Step):
    required_inputs = {"output", "header", "rows"}

    def run(self):
        self.validate()
        target = self.ctx.artifacts_dir(self.job_id) / self.inputs["output"]
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.inputs["header"])
            writer.writerows(self.inputs["rows"])
        return {"path": str(target), "rows": len(self.inputs["rows"])}
