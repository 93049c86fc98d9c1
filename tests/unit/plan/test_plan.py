"""The Plan: rendered flow meta, execution order, steps as the runner needs them, and build_plan's error."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aetherflow.errors import SpecErrors
from aetherflow.plan import build_plan, execution_order
from aetherflow.settings import Settings
from tests.unit.plan.helpers import check, make_registry, records, write_flow

FULL = """
version: 1
flow:
  id: "{{env.FLOW_ID:nightly}}"
  description: "for {{env.TEAM:ops}}"
  workspace:
    root: "{{env.WORK:/srv/work}}"
    cleanup_policy: never
    layout: {artifacts: out, scratch: tmp/s, manifests: m}
  state: {path: "/state/{{env.FLOW_ID:nightly}}.db"}
  locks: {scope: job, ttl_seconds: 60}
resources:
  db: {kind: db, driver: sqlite3, config: {path: /x.db}, decode: {config_paths: [path]}}
jobs:
  - id: load
    depends_on: [extract, extract]
    when: jobs.extract.outputs.n > 0
    steps:
      - id: q
        type: test_query
        inputs: {resource: db, sql: "SELECT {{jobs.extract.outputs.n}}"}
        outputs: {rows: "{{result.rows}}"}
        on_no_data: skip_job
        retry: {max_attempts: 3, backoff_seconds: 2, factor: 2, max_delay_seconds: 30}
        timeout_seconds: 90
  - id: extract
    description: first
    steps:
      - {id: c, type: check_items, inputs: {items: [a]}, outputs: {n: "{{result.count}}"}}
"""


def test_flow_meta_is_rendered_with_env(tmp_path: Path) -> None:
    report, plan = check(tmp_path, FULL, env={"FLOW_ID": "sales", "TEAM": "data"})

    assert report.errors == []
    assert plan is not None
    meta = plan.meta
    assert (meta.flow_id, meta.description, meta.work_root, meta.cleanup_policy) == (
        "sales",
        "for data",
        "/srv/work",
        "never",
    )
    assert dict(meta.layout) == {"artifacts": "out", "scratch": "tmp/s", "manifests": "m"}
    assert (meta.state_backend, meta.state_path, meta.locks_scope, meta.locks_ttl_seconds) == (
        "sqlite",
        "/state/sales.db",
        "job",
        60,
    )


def test_flow_meta_defaults(tmp_path: Path) -> None:
    _, plan = check(tmp_path, "flow: {id: f}\njobs: []\n")

    assert plan is not None
    meta = plan.meta
    assert (meta.work_root, meta.cleanup_policy, meta.state_backend, meta.state_path) == (
        "/tmp/work",
        "on_success",
        "sqlite",
        "/tmp/state/aetherflow.sqlite",
    )
    assert dict(meta.layout) == {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}
    assert (meta.locks_scope, meta.locks_ttl_seconds) == ("none", 600)


def test_jobs_are_in_dependency_order_and_keep_their_declaration_index(tmp_path: Path) -> None:
    _, plan = check(tmp_path, FULL)

    assert plan is not None
    assert [(j.id, j.index) for j in plan.jobs] == [("extract", 1), ("load", 0)]
    assert plan.declared_job_ids == ("load", "extract")


def test_job_spec_carries_deduplicated_dependencies_and_the_parsed_when(tmp_path: Path) -> None:
    _, plan = check(tmp_path, FULL)

    assert plan is not None
    load = plan.job("load")
    assert load.depends_on == ("extract",)
    assert load.when_text == "jobs.extract.outputs.n > 0"
    assert load.when.job_refs() == {"extract"}
    assert load.when.evaluate({"extract": {"status": "SUCCESS", "outputs": {"n": 2}}}) is True
    assert plan.job("extract").when.always and plan.job("extract").description == "first"


def test_step_spec_keeps_raw_templates_and_maps_retry(tmp_path: Path) -> None:
    _, plan = check(tmp_path, FULL)

    assert plan is not None
    step = plan.job("load").steps[0]
    assert (step.id, step.type, step.index, step.on_no_data, step.timeout_seconds) == (
        "q",
        "test_query",
        0,
        "skip_job",
        90,
    )
    assert step.inputs == {"resource": "db", "sql": "SELECT {{jobs.extract.outputs.n}}"}
    assert step.outputs == {"rows": "{{result.rows}}"}
    assert step.retry is not None
    assert (step.retry.max_attempts, step.retry.backoff_seconds, step.retry.factor, step.retry.max_delay_seconds) == (
        3,
        2.0,
        2.0,
        30,
    )
    assert step.retry.retry_on_exceptions is None and step.retry.retry_on_exit_codes is None
    assert plan.job("extract").steps[0].retry is None


def test_plan_holds_resources_as_written_and_the_file_hash(tmp_path: Path) -> None:
    _, plan = check(tmp_path, FULL)

    assert plan is not None
    db = plan.resources["db"]
    assert (db.name, db.kind, db.driver, db.key, db.profile) == ("db", "db", "sqlite3", "db:sqlite3", None)
    assert db.config == {"path": "/x.db"} and db.decode.config_paths == ("path",)
    assert plan.flow_sha256 == hashlib.sha256((tmp_path / "flow.yaml").read_bytes()).hexdigest()


def test_rendered_flow_id_must_be_a_valid_id(tmp_path: Path) -> None:
    report, plan = check(tmp_path, 'flow:\n  id: "{{env.FLOW_ID}}"\njobs: []\n', env={"FLOW_ID": "a/b"})

    assert plan is None
    assert records(report.errors) == [
        (
            "schema:invalid_id",
            "flow.id",
            "Invalid id 'a/b': ids may not contain '/', '\\', whitespace or NUL, and may not be '.' or '..'",
            2,
        )
    ]


def test_a_missing_env_in_the_flow_block_is_only_the_missing_env_warning(tmp_path: Path) -> None:
    report, plan = check(tmp_path, 'flow:\n  id: "{{env.FLOW_ID}}"\njobs: []\n')

    assert plan is None  # nothing to render the flow id from
    assert report.errors == []
    assert [(i.code, i.loc, i.line) for i in report.warnings] == [("semantic:missing_env", "flow.id", 2)]


def test_rendered_layout_path_is_checked_again(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        'flow:\n  id: f\n  workspace:\n    layout: {artifacts: "{{env.ART}}", scratch: s, manifests: m}\njobs: []\n',
        env={"ART": "../escape"},
    )

    assert [(i.code, i.loc) for i in report.errors] == [("schema:value_error", "flow.workspace.layout.artifacts")]


def test_empty_jobs_list_is_a_valid_plan(tmp_path: Path) -> None:
    report, plan = check(tmp_path, "flow: {id: f}\njobs: []\n")

    assert report.ok and plan is not None and plan.jobs == ()


def test_build_plan_raises_spec_errors_with_every_error_and_warning(tmp_path: Path) -> None:
    path = write_flow(
        tmp_path,
        "flow: {id: f}\nresources:\n  r: {kind: db, driver: sqlite3, profile: p}\n"
        "jobs: [{id: a, steps: [], depends_on: [z]}]\n",
    )

    with pytest.raises(SpecErrors) as raised:
        build_plan(str(path), settings=Settings(), env={}, registry=make_registry())

    assert [i.code for i in raised.value.errors] == ["semantic:depends_on_unknown_job"]
    assert [i.code for i in raised.value.warnings] == ["semantic:unknown_profile"]
    assert raised.value.path == str(path)
    assert raised.value.exit_code == 2


def test_build_plan_returns_the_plan_with_its_warnings(tmp_path: Path) -> None:
    path = write_flow(tmp_path, "flow: {id: f, state: {backend: file}}\njobs: []\n")

    plan = build_plan(str(path), settings=Settings(), env={}, registry=make_registry())

    assert [w.code for w in plan.warnings] == ["semantic:state_backend_unsupported"]


def test_execution_order_without_dependencies_is_declaration_order() -> None:
    assert execution_order(["c", "a", "b"], {}) == ["c", "a", "b"]


def test_execution_order_prefers_the_earliest_declared_ready_job() -> None:
    deps = {"a": ["d"], "b": [], "c": ["b"], "d": []}

    assert execution_order(["a", "b", "c", "d"], deps) == ["b", "c", "d", "a"]


def test_execution_order_diamond() -> None:
    deps = {"join": ["left", "right"], "left": ["root"], "right": ["root"], "root": []}

    assert execution_order(["join", "right", "left", "root"], deps) == ["root", "right", "left", "join"]


def test_execution_order_keeps_jobs_of_a_cycle_in_declaration_order_at_the_end() -> None:
    assert execution_order(["x", "a", "b"], {"a": ["b"], "b": ["a"]}) == ["x", "a", "b"]
