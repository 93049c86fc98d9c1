"""Create an Excel template with two named anchors (openpyxl imported when the step runs)."""

from __future__ import annotations

from aetherflow.core.api import Step, register_step


@register_step("demo_prepare_excel_template")
class MakeTemplate(Step):
    required_inputs = {"template_path"}

    def run(self):
        self.validate()
        import openpyxl
        from openpyxl.workbook.defined_name import DefinedName

        target = self.ctx.artifacts_dir(self.job_id) / self.inputs["template_path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "Report"
        sheet["A1"], sheet["A10"] = "Sales", "Cost"
        workbook.defined_names["SALES_ANCHOR"] = DefinedName("SALES_ANCHOR", attr_text="Report!$A$2")
        workbook.defined_names["COST_ANCHOR"] = DefinedName("COST_ANCHOR", attr_text="Report!$A$11")
        workbook.save(target)
        return {"template_path": str(target)}
