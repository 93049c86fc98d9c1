"""The environment preflight decides which ``{{env.NAME}}`` reads an invocation needs: the flow block, the resources
its jobs use (and their profiles), and its jobs' steps; a name counts as missing when absent or empty."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.errors import SpecErrors
from aetherflow.plan import EnvCheck, build_plan
from aetherflow.settings import Settings
from tests.unit.plan.helpers import check, make_registry, write_flow

RESOURCES = """
version: 1
flow: {id: f}
resources:
  a: {kind: db, driver: sqlite3, config: {path: "{{env.A_DB}}"}}
  b: {kind: db, driver: sqlite3, config: {path: "{{env.B_DB}}"}}
  archive_default: {kind: archive, driver: zipfile, options: {cache: "{{env.ZIP_LEVEL}}"}}
jobs:
"""


def _names(tmp_path: Path, jobs: str, env: dict[str, str] | None = None, check_: EnvCheck | None = None) -> list[str]:
    report, _ = check(tmp_path, RESOURCES + jobs, env=env or {}, env_check=check_)
    assert [i for i in report.errors if not i.code.endswith("missing_env")] == []
    return [
        issue.msg.split(" ")[2] for issue in [*report.errors, *report.warnings] if issue.code.endswith("missing_env")
    ]


def test_a_literal_resource_input_needs_only_that_resources_env(tmp_path: Path) -> None:
    jobs = "  - id: j\n    steps:\n      - {id: q, type: db_extract, inputs: {resource: a, sql: SELECT 1, output: o}}\n"

    assert _names(tmp_path, jobs) == ["env.A_DB"]


def test_a_templated_resource_input_needs_every_resources_env(tmp_path: Path) -> None:
    jobs = (
        "  - id: j\n    steps:\n"
        '      - {id: q, type: db_extract, inputs: {resource: "{{env.WHICH:a}}", sql: SELECT 1, output: o}}\n'
    )

    assert _names(tmp_path, jobs) == ["env.A_DB", "env.B_DB", "env.ZIP_LEVEL"]


def test_zip_needs_the_archive_default_resources_env(tmp_path: Path) -> None:
    jobs = "  - id: j\n    steps:\n      - {id: z, type: zip, inputs: {items: [x], dest_path: x.zip}}\n"

    assert _names(tmp_path, jobs) == ["env.ZIP_LEVEL"]


def test_a_resource_named_inside_with_lock_is_used(tmp_path: Path) -> None:
    jobs = (
        "  - id: j\n    steps:\n      - id: l\n        type: with_lock\n        inputs:\n          lock_key: k\n"
        "          step: {type: db_extract, inputs: {resource: b, sql: SELECT 1, output: o}}\n"
    )

    assert _names(tmp_path, jobs) == ["env.B_DB"]


def test_a_with_lock_step_of_a_templated_type_needs_every_resources_env(tmp_path: Path) -> None:
    jobs = (
        "  - id: j\n    steps:\n      - id: l\n        type: with_lock\n        inputs:\n          lock_key: k\n"
        "          step: {type: '{{env.INNER:check_items}}', inputs: {items: [x]}}\n"
    )

    assert _names(tmp_path, jobs) == ["env.A_DB", "env.B_DB", "env.ZIP_LEVEL"]


def test_only_the_selected_jobs_steps_and_resources_count(tmp_path: Path) -> None:
    jobs = (
        "  - id: one\n    steps:\n      - {id: s, type: check_items, inputs: {items: '{{env.ONE}}'}}\n"
        "  - id: two\n    steps:\n"
        "      - {id: q, type: db_extract, inputs: {resource: a, sql: '{{env.TWO}}', output: o}}\n"
    )

    assert _names(tmp_path, jobs, check_=EnvCheck.for_run("one")) == ["env.ONE"]
    assert _names(tmp_path, jobs, check_=EnvCheck.for_run("two")) == ["env.A_DB", "env.TWO"]
    assert _names(tmp_path, jobs, check_=EnvCheck.for_run(None)) == ["env.A_DB", "env.ONE", "env.TWO"]


def test_a_run_check_reports_errors_and_validate_warnings(tmp_path: Path) -> None:
    jobs = "  - id: j\n    steps:\n      - {id: s, type: check_items, inputs: {items: '{{env.X}}'}}\n"

    run, run_plan = check(tmp_path, RESOURCES + jobs, env={}, env_check=EnvCheck.for_run(None))
    validate, plan = check(tmp_path, RESOURCES + jobs, env={})

    assert [i.code for i in run.errors] == ["semantic:missing_env"] and run_plan is None
    assert [i.code for i in validate.warnings] == ["semantic:missing_env"] and plan is not None


def test_a_path_below_an_env_value_is_missing_and_the_bare_env_root_is_not_an_env_read(tmp_path: Path) -> None:
    jobs = "  - id: j\n    steps:\n      - {id: s, type: check_items, inputs: {items: ['{{env.X.Y}}', '{{env}}']}}\n"

    assert _names(tmp_path, jobs, env={"X": "set"}) == ["env.X.Y"]


def test_the_plan_tells_which_resources_the_selected_jobs_use(tmp_path: Path) -> None:
    jobs = (
        "  - id: one\n    steps:\n      - {id: q, type: db_extract, inputs: {resource: a, sql: SELECT 1, output: o}}\n"
        "  - id: two\n    steps:\n      - {id: z, type: unzip, inputs: {archives: [x.zip], dest_dir: d}}\n"
    )
    env = {"A_DB": "a.db", "B_DB": "b.db", "ZIP_LEVEL": "5"}

    _, plan = check(tmp_path, RESOURCES + jobs, env=env)

    assert plan is not None
    assert plan.env_needs.used_resources() == {"a", "archive_default"}
    assert plan.env_needs.used_resources({"two"}) == {"archive_default"}


def test_building_a_plan_without_the_flow_blocks_env_names_only_those_names(tmp_path: Path) -> None:
    text = 'version: 1\nflow: {id: "{{env.FLOW_ID}}"}\njobs:\n  - id: j\n    steps:\n'
    text += "      - {id: s, type: check_items, inputs: {items: '{{env.ITEMS}}'}}\n"
    path = write_flow(tmp_path, text)

    with pytest.raises(SpecErrors) as raised:
        build_plan(str(path), settings=Settings(), env={}, registry=make_registry())

    assert [(i.code, i.loc) for i in raised.value.errors] == [("semantic:missing_env", "flow.id")]
    assert [i.loc for i in raised.value.warnings] == ["jobs[0].steps[0].inputs.items"]
