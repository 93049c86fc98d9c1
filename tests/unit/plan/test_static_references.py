"""What step templates read of steps and jobs, literal step inputs and connector config keys, checked statically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aetherflow.api import Connector, Inputs, Step, StepContext, StepResult
from aetherflow.connectors import BUILTIN_CONNECTORS
from aetherflow.registry import Registry
from tests.unit.plan.helpers import check, codes, make_registry

HEAD = "version: 1\nflow: {id: f}\n"


def _job(job_id: str, *steps: str, extra: str = "") -> str:
    body = "".join(f"      - {step}\n" for step in steps)
    return f"  - id: {job_id}\n{extra}    steps:\n{body}"


def _flow(*jobs: str, resources: str = "") -> str:
    return HEAD + resources + "jobs:\n" + "".join(jobs)


ITEMS = "{id: first, type: check_items, inputs: {items: [a]}, outputs: {n: '{{result.count}}'}}"


def _errors(tmp_path: Path, text: str, registry: Registry | None = None) -> list[tuple[str, str, str]]:
    report, _ = check(tmp_path, text, registry=registry)
    return [(i.code, i.loc, i.msg) for i in report.errors]


class AnyInputs(Inputs):
    items: Any = None


class PluginStep(Step[AnyInputs]):
    """A typed plugin step: its output keys are not declared."""

    inputs_model = AnyInputs

    def run(self, inputs: AnyInputs, ctx: StepContext) -> StepResult:
        return StepResult.success(anything=1)


def test_a_later_step_of_the_same_job_is_an_unknown_reference(tmp_path: Path) -> None:
    early = "{id: early, type: check_items, inputs: {items: '{{steps.late.count}}'}}"
    late = "{id: late, type: check_items, inputs: {items: [a]}}"

    errors = _errors(tmp_path, _flow(_job("j", early, late)))

    assert [(c, loc) for c, loc, _ in errors] == [("template:unknown_reference", "jobs[0].steps[0].inputs.items")]
    assert "step 'late', which runs after it" in errors[0][2]


def test_a_step_of_another_job_is_named_with_the_way_to_read_it(tmp_path: Path) -> None:
    reader = "{id: r, type: check_items, inputs: {items: '{{steps.first.count}}'}}"

    errors = _errors(tmp_path, _flow(_job("a", ITEMS), _job("b", reader, extra="    depends_on: [a]\n")))

    assert errors == [
        (
            "template:unknown_reference",
            "jobs[1].steps[0].inputs.items",
            "Unknown step in template: steps.first; job 'b' has no step 'first' (it is a step of job 'a': "
            "promote its output and read jobs.a.outputs.<key>)",
        )
    ]


def test_a_job_output_no_earlier_step_promotes_is_an_unknown_output(tmp_path: Path) -> None:
    reader = "{id: r, type: check_items, inputs: {items: '{{job.outputs.m}}'}}"

    errors = _errors(tmp_path, _flow(_job("a", ITEMS, reader)))

    assert [(c, loc) for c, loc, _ in errors] == [("template:unknown_output", "jobs[0].steps[1].inputs.items")]
    assert errors[0][2].endswith("has no output 'm'; it has: [n]")


def test_an_output_another_job_does_not_promote_is_an_unknown_output_with_did_you_mean(tmp_path: Path) -> None:
    reader = "{id: r, type: check_items, inputs: {items: '{{jobs.a.outputs.nn}}'}}"

    errors = _errors(tmp_path, _flow(_job("a", ITEMS), _job("b", reader, extra="    depends_on: [a]\n")))

    assert [(c, loc) for c, loc, _ in errors] == [("template:unknown_output", "jobs[1].steps[0].inputs.items")]
    assert "has no output 'nn' (did you mean 'n'?)" in errors[0][2]


def test_an_earlier_job_that_is_not_a_dependency_stays_a_warning(tmp_path: Path) -> None:
    reader = "{id: r, type: check_items, inputs: {items: '{{jobs.a.outputs.n}}'}}"

    report, plan = check(tmp_path, _flow(_job("a", ITEMS), _job("b", reader)))

    assert plan is not None
    assert codes(report.warnings) == ["semantic:not_a_dependency"]


def test_skipped_and_reason_can_be_read_of_any_built_in_step(tmp_path: Path) -> None:
    reader = "{id: r, type: check_items, inputs: {items: '{{steps.first.skipped}} {{steps.first.reason}}'}}"

    assert _errors(tmp_path, _flow(_job("a", ITEMS, reader))) == []


def test_the_outputs_of_a_plugin_step_are_not_checked(tmp_path: Path) -> None:
    plugin = "{id: p, type: plugin_step, inputs: {}}"
    reader = "{id: r, type: check_items, inputs: {items: '{{steps.p.whatever}}'}}"

    assert _errors(tmp_path, _flow(_job("a", plugin, reader)), make_registry(plugin_step=PluginStep)) == []


def test_the_outputs_of_a_built_in_replaced_by_a_plugin_are_not_checked(tmp_path: Path) -> None:
    registry = make_registry()
    registry.override_step("check_items", PluginStep, source="plugin folder")
    reader = "{id: r, type: external.process, inputs: {command: ['/bin/echo', '{{steps.first.anything}}']}}"

    assert _errors(tmp_path, _flow(_job("a", ITEMS, reader)), registry) == []


def test_external_process_outputs_are_checked_with_the_keys_it_declares(tmp_path: Path) -> None:
    proc = "{id: p, type: external.process, inputs: {command: [/bin/true], outputs: {path: /x}}}"
    good = "{id: g, type: check_items, inputs: {items: '{{steps.p.path}} {{steps.p.exit_code}}'}}"
    bad = "{id: b, type: check_items, inputs: {items: '{{steps.p.pth}}'}}"

    errors = _errors(tmp_path, _flow(_job("a", proc, good, bad)))

    assert [(c, loc) for c, loc, _ in errors] == [("template:unknown_output", "jobs[0].steps[2].inputs.items")]


def test_external_process_with_templated_outputs_is_not_checked(tmp_path: Path) -> None:
    proc = "{id: p, type: external.process, inputs: {command: [/bin/true], outputs: '{{steps.first.count}}'}}"
    reader = "{id: r, type: check_items, inputs: {items: '{{steps.p.anything}}'}}"

    errors = _errors(tmp_path, _flow(_job("a", ITEMS, proc, reader)))

    assert "template:unknown_output" not in [c for c, _, _ in errors]


def test_with_lock_reads_the_inner_step_outputs_and_a_templated_inner_type_is_not_checked(tmp_path: Path) -> None:
    lock = "{id: l, type: with_lock, inputs: {lock_key: k, step: {type: check_items, inputs: {items: [a]}}}}"
    wild = "{id: w, type: with_lock, inputs: {lock_key: k, step: {type: '{{steps.l.count}}'}}}"
    reader = "{id: r, type: check_items, inputs: {items: '{{steps.l.count}} {{steps.w.anything}} {{steps.l.cnt}}'}}"

    errors = _errors(tmp_path, _flow(_job("a", lock, wild, reader)))

    assert [(c, loc) for c, loc, _ in errors] == [("template:unknown_output", "jobs[0].steps[2].inputs.items")]
    assert "'cnt' (did you mean 'count'?)" in errors[0][2]


def test_a_literal_input_is_coerced_as_the_step_does_and_a_templated_one_is_left_to_run_time(tmp_path: Path) -> None:
    step = "{id: s, type: check_items, inputs: {items: [a], min_count: '3'}}"
    templated = "{id: t, type: check_items, inputs: {items: [a], min_count: 'x{{steps.s.count}}'}}"

    assert _errors(tmp_path, _flow(_job("a", step, templated))) == []


def test_a_literal_input_of_the_wrong_type_is_a_schema_error_at_the_input(tmp_path: Path) -> None:
    step = "{id: s, type: check_items, inputs: {items: [a], min_count: many}}"

    errors = _errors(tmp_path, _flow(_job("a", step)))

    assert [(c, loc) for c, loc, _ in errors] == [("schema:int_parsing", "jobs[0].steps[0].inputs.min_count")]


def test_a_connector_that_declares_no_keys_is_not_checked(tmp_path: Path) -> None:
    class Loose(Connector):
        pass

    registry = Registry(make_registry()._steps, {**BUILTIN_CONNECTORS, "db:loose": Loose})
    resources = "resources:\n  wh: {kind: db, driver: loose, config: {anything: 1}}\n"

    assert _errors(tmp_path, _flow(_job("a", ITEMS), resources=resources), registry) == []


def test_hostile_names_stay_one_line_and_are_quoted_as_written(tmp_path: Path) -> None:
    long_name = "ß" * 120
    reader = f"{{id: r, type: check_items, inputs: {{items: '{{{{steps.{long_name}.x}}}}'}}}}"
    resources = 'resources:\n  wh: {kind: db, driver: sqlite3, config: {path: x.db, "pa\'th\\n\\"x": 1}}\n'

    errors = _errors(tmp_path, _flow(_job("a", reader), resources=resources))

    assert [(c, loc) for c, loc, _ in errors] == [
        ("schema:extra_forbidden", "resources.wh.config.pa'th\\n\"x"),
        ("template:unknown_reference", "jobs[0].steps[0].inputs.items"),
    ]
    assert long_name in errors[1][2]
    assert all("\n" not in loc + msg for _, loc, msg in errors)
