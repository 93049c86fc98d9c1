"""A plugin step named like the built-in ``excel_validate_template`` (upstream's demo shipped one before the built-in
existed): it replaces the built-in, with a warning, and reports its own output keys."""

from __future__ import annotations

from pathlib import Path

from aetherflow.core.api import Step, register_step


@register_step("excel_validate_template")
class NamesPresent(Step):
    required_inputs = {"template_path", "required_names"}

    def run(self):
        self.validate()
        import openpyxl

        path = Path(str(self.inputs["template_path"]))
        if not path.is_absolute():
            path = self.ctx.artifacts_dir(self.job_id) / path
        defined = set(openpyxl.load_workbook(path).defined_names.keys())
        missing = [n for n in self.inputs["required_names"] if n not in defined]
        if missing:
            raise ValueError(f"Template missing named ranges: {missing}")
        return {"template_ok": True}
