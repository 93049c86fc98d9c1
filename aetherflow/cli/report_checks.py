"""``doctor``'s check of Excel report regions: a ``report_region`` target allowed more than 50000 rows is a warning.

A report region inserts every row into a formatted sheet; past that size the workbook gets slow and large, and a
``data_sheet`` target is the better fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aetherflow.errors import Issue
    from aetherflow.plan import Plan

REPORT_REGION_CODE = "doctor:report_region_threshold"
SAFE_REGION_ROWS = 50_000
_STEP = "excel_fill_from_file"


def _number(value: Any) -> int | None:
    """An integer written as a number or as text; None for a template or anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def report_region_warnings(plan: Plan) -> list[Issue]:
    """One warning per ``report_region`` target whose effective ``rows_threshold`` is over 50000."""
    from aetherflow.errors import Issue

    found: list[Issue] = []
    for job in plan.jobs:
        for step in job.steps:
            if step.type != _STEP or not isinstance(step.inputs.get("targets"), list):
                continue
            default = _number(step.inputs.get("rows_threshold", SAFE_REGION_ROWS))
            for i, target in enumerate(step.inputs["targets"]):
                if not isinstance(target, Mapping) or str(target.get("mode", "")).strip().lower() != "report_region":
                    continue
                limit = _number(target["rows_threshold"]) if "rows_threshold" in target else default
                if limit is not None and limit > SAFE_REGION_ROWS:
                    loc = f"jobs[{job.index}].steps[{step.index}].inputs.targets[{i}]"
                    msg = (
                        f"Step {step.id} target {target.get('name', 'target')} fills a report region with up to "
                        f"{limit} rows (rows_threshold > {SAFE_REGION_ROWS}); use mode: data_sheet for large data"
                    )
                    found.append(Issue(REPORT_REGION_CODE, loc, msg))
    return found
