"""Stored output documents: snapshots at promotion, a size limit that fails loudly, standard JSON for any value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugins import VALUES_DIR
from tests.support.cli import FlowRun, make_flow

PLUGINS = {"AETHERFLOW_PLUGIN_PATHS": str(VALUES_DIR)}


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"non-standard JSON constant {name} in {text[:200]}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{job.outputs}}", {"n": 1}),
        ("{{job}}", {"id": "a", "outputs": {"n": 1}}),
        ("{{jobs}}", {"a": {"status": "RUNNING", "outputs": {"n": 1}}}),
        ("{{steps}}", {"one": {"has_data": True, "count": 1}, "two": {"has_data": True, "count": 1}}),
    ],
)
def test_outputs_that_name_the_job_or_its_steps_store_a_copy_taken_at_promotion(
    tmp_path: Path, template: str, expected: Any
) -> None:
    flow = make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: snap}}
        jobs:
          - id: a
            steps:
              - {{id: one, type: check_items, inputs: {{items: "x"}}, outputs: {{n: "{{{{result.count}}}}"}}}}
              - {{id: two, type: check_items, inputs: {{items: "x"}}, outputs: {{all: "{template}"}}}}
              - {{id: three, type: check_items, inputs: {{items: "x"}}, outputs: {{n: 2}}}}
          - id: b
            steps: [{{id: s, type: check_items, inputs: {{items: "y"}}}}]
    """,
    )

    first = flow.run()
    again = flow.run()
    shown = flow.show()

    assert first.code == 0, first.stderr
    assert again.code == 0, again.stderr
    assert shown["jobs"]["a"]["outputs"]["all"] == expected
    assert shown["jobs"]["a"]["outputs"]["n"] == 2
    assert shown["jobs"]["b"]["status"] == "SUCCESS"


def test_jobs_outputs_of_a_later_job_copy_the_earlier_jobs_without_their_future_changes(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: snapjobs}
        jobs:
          - id: a
            steps: [{id: one, type: check_items, inputs: {items: "x"}, outputs: {n: "{{result.count}}"}}]
          - id: b
            depends_on: [a]
            steps:
              - {id: s, type: check_items, inputs: {items: "y"}, outputs: {seen: "{{jobs}}"}}
              - {id: t, type: check_items, inputs: {items: "y"}, outputs: {again: "{{jobs}}"}}
    """,
    )

    result = flow.run()
    shown = flow.show()

    assert result.code == 0, result.stderr
    assert shown["jobs"]["b"]["outputs"]["seen"] == {
        "a": {"status": "SUCCESS", "outputs": {"n": 1}},
        "b": {"status": "RUNNING", "outputs": {}},
    }


def _values_flow(tmp_path: Path, kind: str, size: int = 0, outputs: str = "") -> FlowRun:
    return make_flow(
        tmp_path,
        f"""
        version: 1
        flow: {{id: values}}
        jobs:
          - id: a
            steps: [{{id: s, type: emit_values, inputs: {{kind: {kind}, size: {size}}}{outputs}}}]
          - id: b
            steps: [{{id: s, type: check_items, inputs: {{items: "y"}}}}]
          - id: c
            depends_on: [a]
            steps: [{{id: s, type: check_items, inputs: {{items: "y"}}}}]
    """,
    )


def test_a_step_output_that_contains_itself_fails_that_step_and_independent_jobs_still_run(tmp_path: Path) -> None:
    flow = _values_flow(tmp_path, "cycle")

    first = flow.run(env=PLUGINS)
    again = flow.run(env=PLUGINS)
    shown = flow.show(env=PLUGINS)

    assert first.code in (1, 3), first.stderr
    assert again.code == first.code, again.stderr
    assert "Traceback" not in first.stderr + again.stderr
    error = shown["jobs"]["a"]["steps"]["s"]["error"]
    assert "outputs of step a/s" in error and "contains itself" in error
    assert shown["jobs"]["b"]["status"] == "SUCCESS"
    assert shown["jobs"]["c"]["status"] == "BLOCKED"


def test_a_step_output_over_the_limit_fails_the_step_naming_the_document_its_size_and_the_limit(
    tmp_path: Path,
) -> None:
    flow = _values_flow(tmp_path, "big", 5000)
    env = {**PLUGINS, "AETHERFLOW_STATE_MAX_OUTPUT_BYTES": "1000"}

    first = flow.run(env=env)
    again = flow.run(env=env)
    shown = flow.show(env=env)

    size = len(json.dumps({"text": "x" * 5000}).encode())
    assert first.code in (1, 3), first.stderr
    assert again.code == first.code
    step = shown["jobs"]["a"]["steps"]["s"]
    assert step["status"] == "FAILED" and step["outputs"] is None
    assert step["error"] == (
        f"OutputTooLarge: outputs of step a/s are {size} bytes, over AETHERFLOW_STATE_MAX_OUTPUT_BYTES=1000"
    )
    assert shown["jobs"]["a"]["status"] == "FAILED"
    assert shown["jobs"]["c"]["status"] == "BLOCKED"
    assert shown["jobs"]["b"]["status"] == "SUCCESS"
    assert flow.query("SELECT COUNT(*) FROM step_runs WHERE outputs_truncated != 0") == [(0,)]


def test_promoted_job_outputs_over_the_limit_fail_the_job_though_each_step_fits(tmp_path: Path) -> None:
    flow = make_flow(
        tmp_path,
        """
        version: 1
        flow: {id: jobbig}
        jobs:
          - id: a
            steps:
              - {id: s1, type: emit_values, inputs: {kind: big, size: 600}, outputs: {t1: "{{result.text}}"}}
              - {id: s2, type: emit_values, inputs: {kind: big, size: 600}, outputs: {t2: "{{result.text}}"}}
          - id: c
            depends_on: [a]
            steps: [{id: s, type: check_items, inputs: {items: "{{jobs.a.outputs.t1}}"}}]
    """,
    )
    env = {**PLUGINS, "AETHERFLOW_STATE_MAX_OUTPUT_BYTES": "1000"}

    first = flow.run(env=env)
    shown = flow.show(env=env)

    size = len(json.dumps({"t1": "x" * 600, "t2": "x" * 600}).encode())
    assert first.code in (1, 3), first.stderr
    assert shown["jobs"]["a"]["status"] == "FAILED"
    assert shown["jobs"]["a"]["error"] == (
        f"OutputTooLarge: outputs of job a are {size} bytes, over AETHERFLOW_STATE_MAX_OUTPUT_BYTES=1000"
    )
    assert shown["jobs"]["c"]["status"] == "BLOCKED"
    assert "Missing template key" not in first.stderr


def test_decimal_nan_and_infinity_are_stored_as_standard_json_without_losing_digits(tmp_path: Path) -> None:
    flow = _values_flow(tmp_path, "numbers")

    result = flow.run(env=PLUGINS)
    [(raw,)] = flow.query("SELECT outputs_json FROM step_runs WHERE job_id = 'a' AND step_id = 's'")

    assert result.code == 0, result.stderr
    assert _strict_json(raw) == {
        "f_nan": "NaN",
        "f_inf": "Infinity",
        "f_ninf": "-Infinity",
        "d_nan": "NaN",
        "d_inf": "Infinity",
        "d_ninf": "-Infinity",
        "d_int": 42,
        "d_short": 0.1,
        "d_long": "1.000000000000000000000000001",
        "d_big": "123456789012345678901234567890.5",
        "nested": [2.5, {"x": "NaN"}],
    }
