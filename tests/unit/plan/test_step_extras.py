"""A built-in step whose optional library is not installed is a validation error naming the extra."""

from __future__ import annotations

from pathlib import Path

from aetherflow.connectors import BUILTIN_CONNECTORS, REQUIRES
from aetherflow.registry import Registry
from aetherflow.steps import BUILTIN_STEPS
from tests.unit.plan.helpers import check, records

FLOW = """
version: 1
flow: {id: f}
jobs:
  - id: report
    steps:
      - id: fill
        type: excel_fill_small
        inputs: {template_path: t.xlsx, output: o.xlsx, targets: []}
"""


def _registry(module: str) -> Registry:
    step_requires = {"excel_fill_small": (module, "excel")}
    return Registry(BUILTIN_STEPS, BUILTIN_CONNECTORS, REQUIRES, step_requires)


def test_a_step_needing_a_missing_library_names_the_extra_to_install(tmp_path: Path) -> None:
    report, plan = check(tmp_path, FLOW, registry=_registry("aetherflow_absent_excel_module"))

    assert plan is None
    assert records(report.errors) == [
        (
            "semantic:missing_extra",
            "jobs[0].steps[0].type",
            "Step excel_fill_small needs the optional dependency 'aetherflow_absent_excel_module' "
            "(install aetherflow[excel])",
            7,
        )
    ]


def test_a_step_whose_library_is_installed_validates(tmp_path: Path) -> None:
    report, plan = check(tmp_path, FLOW, registry=_registry("json"))

    assert report.errors == [] and plan is not None
