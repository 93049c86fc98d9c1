"""Phase 3 (flow-yaml.md §4): semantic rules 1-16, their messages, locs, lines and reporting order."""

from __future__ import annotations

from pathlib import Path

from aetherflow.api import Inputs, Step, StepContext, StepResult
from aetherflow.registry import Registry
from aetherflow.settings import Settings
from tests.unit.plan.helpers import Query, check, codes, make_registry, records

HEAD = "version: 1\nflow: {id: f}\n"


#: a step that uses the resource ``db`` (an unknown connector is an error only on a used resource)
_USES_DB = "    steps:\n      - {id: q, type: test_query, inputs: {resource: db, sql: SELECT 1}}"


def _job(job_id: str, *lines: str, steps: str = "    steps: []") -> str:
    return "\n".join([f"  - id: {job_id}", *lines, steps]) + "\n"


def test_enterprise_mode_rejects_archive_driver_outside_the_allow_list(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + "resources:\n  zipper: {kind: archive, driver: os}\njobs: []\n",
        settings=Settings(mode="enterprise"),
        registry=Registry(connectors={"archive:os": object, "archive:zipfile": object}),
    )

    assert records(report.errors) == [
        (
            "semantic:enterprise_archive_driver",
            "resources.zipper.driver",
            "Enterprise mode requires archive driver in [pyzipper, zipfile]; got 'os'",
            4,
        )
    ]


def test_enterprise_allow_list_can_be_given_by_the_manifest(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + "resources:\n  zipper: {kind: archive, driver: pyzipper}\njobs: []\n",
        settings=Settings(mode_enterprise=True),
        archive_drivers=["zipfile"],
    )

    assert codes(report.errors) == ["semantic:enterprise_archive_driver"]
    assert report.errors[0].msg == "Enterprise mode requires archive driver in [zipfile]; got 'pyzipper'"


def test_archive_driver_is_not_restricted_outside_enterprise_mode(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "resources:\n  zipper: {kind: archive, driver: pyzipper}\njobs: []\n")

    assert report.errors == []


def test_unknown_connector_lists_the_loaded_ones_sorted(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + "resources:\n  db:\n    kind: db\n    driver: oracle\njobs:\n" + _job("a", steps=_USES_DB),
        registry=Registry({"test_query": Query}, connectors={"db:sqlite3": object, "archive:zipfile": object}),
    )

    assert records(report.errors) == [
        (
            "semantic:unknown_connector",
            "resources.db.driver",
            "Unknown connector: db:oracle. Loaded: [archive:zipfile, db:sqlite3]",
            6,
        )
    ]


def test_connector_with_missing_optional_dependency_names_the_extra(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path, HEAD + "resources:\n  db: {kind: db, driver: fancy}\njobs:\n" + _job("a", steps=_USES_DB)
    )

    assert records(report.errors) == [
        (
            "semantic:missing_extra",
            "resources.db.driver",
            "Connector db:fancy needs the optional dependency 'aetherflow_definitely_missing_module' "
            "(install aetherflow[fancy])",
            4,
        )
    ]


def test_duplicate_job_ids_are_reported_once_each_sorted_at_jobs(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("b") + _job("a") + _job("b") + _job("a") + _job("b"))

    assert records(report.errors) == [
        ("semantic:duplicate_job_id", "jobs", "Duplicate job id: a", 3),
        ("semantic:duplicate_job_id", "jobs", "Duplicate job id: b", 3),
    ]


def test_duplicate_step_id_in_a_job(tmp_path: Path) -> None:
    step = "{id: s, type: check_items, inputs: {items: [a]}}"
    steps = f"    steps:\n      - {step}\n      - {step}"
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("load", steps=steps))

    assert records(report.errors) == [
        ("semantic:duplicate_step_id", "jobs[0].steps", "Duplicate step id in job 'load': s", 5)
    ]


def test_same_step_id_in_different_jobs_is_fine(tmp_path: Path) -> None:
    steps = "    steps:\n      - {id: s, type: check_items, inputs: {items: [1]}}"
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps) + _job("b", steps=steps))

    assert report.errors == []


def test_depends_on_unknown_job(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", "    depends_on: [ghost, ghost]"))

    assert records(report.errors) == [
        ("semantic:depends_on_unknown_job", "jobs[0].depends_on", "Job 'a' depends_on unknown job: ghost", 5)
    ]


def test_self_dependency_is_reported_by_rule_7_alone(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", "    depends_on: [a]"))

    assert records(report.errors) == [
        ("semantic:self_dependency", "jobs[0].depends_on", "Job 'a' depends_on itself", 5)
    ]


def test_two_job_cycle_is_reported_once_at_its_first_member(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path, HEAD + "jobs:\n" + _job("x") + _job("b", "    depends_on: [a]") + _job("a", "    depends_on: [b]")
    )

    assert records(report.errors) == [("semantic:cycle", "jobs[1].depends_on", "Dependency cycle: b -> a -> b", 7)]


def test_cycle_lists_members_in_declaration_order(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD
        + "jobs:\n"
        + _job("c", "    depends_on: [b]")
        + _job("a", "    depends_on: [c]")
        + _job("b", "    depends_on: [a]"),
    )

    assert [i.msg for i in report.errors] == ["Dependency cycle: c -> a -> b -> c"]
    assert report.errors[0].loc == "jobs[0].depends_on"


def test_separate_cycles_are_reported_separately_in_document_order(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD
        + "jobs:\n"
        + _job("p", "    depends_on: [q]")
        + _job("a", "    depends_on: [b]")
        + _job("b", "    depends_on: [a]")
        + _job("q", "    depends_on: [p]"),
    )

    assert [i.msg for i in report.errors] == ["Dependency cycle: p -> q -> p", "Dependency cycle: a -> b -> a"]


def test_self_loop_inside_a_cycle_does_not_change_the_cycle_message(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path, HEAD + "jobs:\n" + _job("a", "    depends_on: [a, b]") + _job("b", "    depends_on: [a]")
    )

    assert [(i.code, i.msg) for i in report.errors] == [
        ("semantic:self_dependency", "Job 'a' depends_on itself"),
        ("semantic:cycle", "Dependency cycle: a -> b -> a"),
    ]


def test_unknown_step_type_lists_registered_types(tmp_path: Path) -> None:
    steps = "    steps:\n      - {id: s, type: check_item}"
    registry = Registry(steps={"check_items": "aetherflow.steps.control:CheckItems", "with_lock": object})
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps), registry=registry)

    assert records(report.errors) == [
        (
            "semantic:unknown_step_type",
            "jobs[0].steps[0].type",
            "Unknown step type: check_item. Loaded: [check_items, with_lock]",
            6,
        )
    ]


def test_undeclared_step_input_is_extra_forbidden_with_did_you_mean(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: s\n        type: check_items\n        inputs:\n          items: [a]\n"
        "          min_cout: 1"
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].inputs.min_cout",
            "Extra inputs are not permitted (did you mean 'min_count'?)",
            10,
        )
    ]


def test_nested_step_input_keys_are_checked(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: s\n        type: external.process\n        inputs:\n          command: [/bin/true]\n"
        "          log: {stdout: capture, stdrr: capture}"
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].inputs.log.stdrr",
            "Extra inputs are not permitted (did you mean 'stderr'?)",
            10,
        )
    ]


def test_a_missing_required_input_of_a_typed_step_is_an_error(tmp_path: Path) -> None:
    steps = "    steps:\n      - id: q\n        type: test_query\n        inputs: {params: {}}"
    report, plan = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert plan is None
    assert report.warnings == []
    assert records(report.errors) == [
        ("semantic:missing_required_input", "jobs[0].steps[0].inputs", "Step q missing inputs: ['resource', 'sql']", 8)
    ]


def test_external_process_without_command(tmp_path: Path) -> None:
    steps = "    steps:\n      - id: p\n        type: external.process\n        inputs: {log: {stdout: bogus}}"
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert records(report.errors) == [
        (
            "semantic:external_process_missing_command",
            "jobs[0].steps[0].inputs.command",
            "external.process requires inputs.command",
            8,
        ),
        # the command rule stops at the missing command; the step's own model still names the bad log mode
        ("schema:value_error", "jobs[0].steps[0].inputs.log.stdout", "Value error, Unknown log mode: bogus", 8),
    ]


def test_external_process_command_of_the_wrong_type(tmp_path: Path) -> None:
    steps = "    steps:\n      - id: p\n        type: external.process\n        inputs: {command: 42}"
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert records(report.errors) == [
        (
            "semantic:external_process_command_type",
            "jobs[0].steps[0].inputs.command",
            "external.process inputs.command must be a string or list",
            8,
        )
    ]


def test_external_process_templated_command_is_accepted(tmp_path: Path) -> None:
    steps = (
        '    steps:\n      - id: p\n        type: external.process\n        inputs: {command: "{{env.CMD:/bin/true}}"}'
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert report.errors == []


def test_external_process_unknown_log_mode_and_missing_log_file(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: p\n        type: external.process\n        inputs:\n          command: [/bin/true]\n"
        "          log:\n            stdout: file\n            stderr: loud"
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert records(report.errors) == [
        ("semantic:external_process_log_mode", "jobs[0].steps[0].inputs.log.stderr", "Unknown log mode: loud", 12),
        (
            "semantic:external_process_log_file",
            "jobs[0].steps[0].inputs.log.file_path",
            "log.file_path is required when stdout/stderr mode is 'file'",
            10,
        ),
    ]


def test_external_process_every_log_mode_of_the_step_passes_static_validation(tmp_path: Path) -> None:
    from aetherflow.steps.process import LOG_MODES

    for mode in LOG_MODES:
        steps = (
            "    steps:\n      - id: p\n        type: external.process\n        inputs:\n"
            "          command: [/bin/true]\n"
            f"          log: {{stdout: {mode}, stderr: passthrough, file_path: out.log}}"
        )
        report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

        assert report.errors == [], mode


def test_external_process_atomic_dir_needs_both_dirs(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: p\n        type: external.process\n        inputs:\n          command: [/bin/true]\n"
        "          idempotency: {strategy: atomic_dir, temp_output_dir: tmp}"
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert records(report.errors) == [
        (
            "semantic:external_process_atomic_dir",
            "jobs[0].steps[0].inputs.idempotency",
            "atomic_dir requires temp_output_dir and final_output_dir",
            10,
        )
    ]


def test_with_lock_inner_step_type_must_exist(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: l\n        type: with_lock\n        inputs:\n          lock_key: k\n"
        "          step: {type: chek_items, inputs: {items: [1]}}"
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert [(i.code, i.loc, i.line) for i in report.errors] == [
        ("semantic:unknown_step_type", "jobs[0].steps[0].inputs.step.type", 10)
    ]
    assert report.errors[0].msg.startswith("Unknown step type: chek_items. Loaded: [")


def test_with_lock_inner_inputs_are_checked_against_the_inner_step(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: l\n        type: with_lock\n        inputs:\n          lock_key: k\n"
        "          step:\n            type: check_items\n            inputs: {items: [1], min_cnt: 2}"
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps))

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].inputs.step.inputs.min_cnt",
            "Extra inputs are not permitted (did you mean 'min_count'?)",
            12,
        )
    ]


def test_literal_resource_must_name_a_declared_resource(tmp_path: Path) -> None:
    steps = "    steps:\n      - id: q\n        type: test_query\n        inputs: {resource: wharehouse, sql: SELECT 1}"
    report, _ = check(
        tmp_path,
        HEAD
        + "resources:\n  warehouse: {kind: db, driver: sqlite3}\n  api: {kind: rest, driver: http}\njobs:\n"
        + _job("a", steps=steps),
    )

    assert records(report.errors) == [
        (
            "semantic:unknown_resource",
            "jobs[0].steps[0].inputs.resource",
            "Unknown resource: wharehouse. Known: [api, warehouse]",
            11,
        )
    ]


def test_templated_resource_is_not_checked(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: q\n        type: test_query\n"
        '        inputs: {resource: "{{env.DB:warehouse}}", sql: x}'
    )
    report, _ = check(
        tmp_path, HEAD + "resources:\n  warehouse: {kind: db, driver: sqlite3}\njobs:\n" + _job("a", steps=steps)
    )

    assert report.errors == []


def test_resource_of_the_wrong_kind(tmp_path: Path) -> None:
    steps = "    steps:\n      - id: q\n        type: test_query\n        inputs: {resource: api, sql: SELECT 1}"
    report, _ = check(
        tmp_path, HEAD + "resources:\n  api: {kind: rest, driver: http}\njobs:\n" + _job("a", steps=steps)
    )

    assert records(report.errors) == [
        (
            "semantic:resource_kind_mismatch",
            "jobs[0].steps[0].inputs.resource",
            "Resource 'api' is kind=rest, step test_query needs kind=db",
            10,
        )
    ]


def test_invalid_when_syntax(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", '    when: "jobs.x.status =="'))

    assert [(i.code, i.loc, i.line) for i in report.errors] == [("semantic:invalid_when", "jobs[0].when", 5)]
    assert report.errors[0].msg.startswith("Syntax error: ")


def test_when_with_an_unsupported_construct(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", '    when: "env == 1"'))

    assert records(report.errors) == [("semantic:invalid_when", "jobs[0].when", "Unsupported name: env", 5)]


def test_when_referencing_an_unknown_job(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", "    when: jobs.ghost.status == 'SUCCESS'"))

    assert records(report.errors) == [("semantic:when_unknown_job", "jobs[0].when", "Unknown job in when: ghost", 5)]


def test_when_reading_a_job_that_is_not_a_dependency_is_a_warning(tmp_path: Path) -> None:
    report, plan = check(
        tmp_path,
        HEAD
        + "jobs:\n"
        + _job("a")
        + _job("b", "    depends_on: [a]")
        + _job("d")
        + _job("c", "    depends_on: [b]", "    when: jobs.a.status == 'SUCCESS' and jobs.d.status == 'SUCCESS'"),
    )

    assert plan is not None
    assert records(report.warnings) == [
        ("semantic:not_a_dependency", "jobs[3].when", "Job 'c' reads jobs.d but does not depend on it", 13)
    ]


def test_when_reading_a_job_that_runs_later_is_an_unknown_reference(tmp_path: Path) -> None:
    report, plan = check(tmp_path, HEAD + "jobs:\n" + _job("c", "    when: jobs.d.status == 'SUCCESS'") + _job("d"))

    assert plan is None
    assert [(i.code, i.loc, i.line) for i in report.errors] == [("template:unknown_reference", "jobs[0].when", 5)]
    assert report.errors[0].msg.startswith("Job 'c' reads jobs.d, which runs after it")


def test_when_naming_an_unknown_job_says_which_job_was_meant(tmp_path: Path) -> None:
    flow = HEAD + "jobs:\n" + _job("extract") + _job("c", "    when: jobs.extrct.status == 'SUCCESS'")
    report, _ = check(tmp_path, flow)

    assert records(report.errors) == [
        ("semantic:when_unknown_job", "jobs[1].when", "Unknown job in when: extrct (did you mean 'extract'?)", 7)
    ]


def test_state_backend_file_is_a_warning(tmp_path: Path) -> None:
    report, plan = check(tmp_path, "flow:\n  id: f\n  state: {backend: file}\njobs: []\n")

    assert plan is not None
    assert records(report.warnings) == [
        (
            "semantic:state_backend_unsupported",
            "flow.state.backend",
            "state.backend 'file' is not supported; SQLite is used",
            3,
        )
    ]


def test_rules_are_reported_in_table_order_not_document_order(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD
        + "resources:\n  r: {kind: nope, driver: x}\njobs:\n"
        + _job(
            "a",
            "    when: jobs.zz.status == 1",
            steps="    steps:\n      - {id: s, type: bogus, inputs: {resource: r}}",
        )
        + _job("b", "    depends_on: [b, missing]")
        + _job("a"),
    )

    assert codes(report.errors) == [
        "semantic:unknown_connector",
        "semantic:duplicate_job_id",
        "semantic:depends_on_unknown_job",
        "semantic:self_dependency",
        "semantic:unknown_step_type",
        "semantic:when_unknown_job",
    ]


def test_a_step_module_that_cannot_be_imported_skips_input_key_checks(tmp_path: Path) -> None:
    registry = make_registry(ghost_step="aetherflow.steps.no_such_module:Ghost")
    steps = "    steps:\n      - {id: g, type: ghost_step, inputs: {anything: 1}}"
    report, plan = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps), registry=registry)

    assert report.errors == []
    assert plan is not None


class _Target(Inputs):
    host: str


class _FanOutInputs(Inputs):
    targets: dict[str, _Target]
    primary: _Target | None = None


class _FanOut(Step[_FanOutInputs]):
    inputs_model = _FanOutInputs

    def run(self, inputs: _FanOutInputs, ctx: StepContext) -> StepResult:
        return StepResult.success()


def test_keys_of_a_mapping_of_models_are_names_while_a_model_field_is_checked(tmp_path: Path) -> None:
    steps = (
        "    steps:\n      - id: f\n        type: fan_out\n        inputs:\n"
        "          targets: {eu: {host: a}, us: {host: b}}\n          primary: {hots: a}"
    )
    report, _ = check(tmp_path, HEAD + "jobs:\n" + _job("a", steps=steps), registry=make_registry(fan_out=_FanOut))

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].inputs.primary.hots",
            "Extra inputs are not permitted (did you mean 'host'?)",
            10,
        )
    ]
