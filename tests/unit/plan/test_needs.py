"""Which jobs a job needs (its dependencies and the jobs its `when` and templates read), and who is re-run with it."""

from __future__ import annotations

from pathlib import Path

from aetherflow.plan.model import Plan
from aetherflow.plan.needs import job_needs, needed_by, with_dependents
from tests.unit.plan.helpers import check

FLOW = """
version: 1
flow: {id: needs}
jobs:
  - id: extract
    steps: [{id: c, type: check_items, inputs: {items: [a]}, outputs: {n: "{{result.count}}"}}]
  - id: zip
    depends_on: [extract]
    steps: [{id: z, type: check_items, inputs: {items: [b]}}]
  - id: mail
    depends_on: [zip]
    steps: [{id: m, type: check_items, inputs: {items: ["{{jobs.extract.outputs.n}}"]}}]
  - id: audit
    depends_on: [zip]
    when: "jobs.extract.status == 'SUCCESS'"
    steps: [{id: a, type: check_items, inputs: {items: [c]}}]
  - id: other
    steps: [{id: o, type: check_items, inputs: {items: [d]}}]
"""


def _plan(tmp_path: Path) -> Plan:
    report, plan = check(tmp_path, FLOW)
    assert report.errors == [] and plan is not None
    return plan


def test_a_job_needs_its_dependencies_and_the_jobs_its_templates_and_when_read(tmp_path: Path) -> None:
    needs = job_needs(_plan(tmp_path))

    assert needs == {
        "extract": set(),
        "zip": {"extract"},
        "mail": {"zip", "extract"},
        "audit": {"zip", "extract"},
        "other": set(),
    }
    assert needed_by(needs)["extract"] == {"zip", "mail", "audit"}


def test_re_running_a_job_takes_every_job_that_needs_it_transitively_in_execution_order(tmp_path: Path) -> None:
    plan = _plan(tmp_path)

    assert with_dependents(plan, ["zip"]) == ["zip", "mail", "audit"]
    assert with_dependents(plan, ["mail", "extract"]) == ["extract", "zip", "mail", "audit"]
    assert with_dependents(plan, ["other"]) == ["other"]
