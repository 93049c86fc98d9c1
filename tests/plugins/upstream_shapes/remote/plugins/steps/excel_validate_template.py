"""Check that an Excel template defines the required names; openpyxl comes through ``require``."""

from __future__ import annotations

from pathlib import Path

from aetherflow.core.api import Step, register_step, require


@register_step("excel_validate_template_custom")
class CheckTemplateNames(Step):
    required_inputs = {"template_path", "required_names"}

    def run(self):
        self.validate()
        openpyxl = require("openpyxl")
        path = Path(str(self.inputs["template_path"]))
        if not path.is_absolute():
            path = self.ctx.artifacts_dir(self.job_id) / path
        workbook = openpyxl.load_workbook(path)
        defined = set(workbook.defined_names.keys())
        missing = [n for n in self.inputs["required_names"] if n not in defined]
        if missing:
            raise ValueError(f"Template {path.name} misses names: {missing}")
        return {"ok": True, "checked": len(self.inputs["required_names"])}
