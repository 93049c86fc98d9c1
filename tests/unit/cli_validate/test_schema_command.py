"""``aetherflow schema`` (cli.md §11, flow-yaml.md §6) and the example flows against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from aetherflow.cli import main

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples" / "flows").glob("*.yaml")) + sorted(
    (ROOT / "tests" / "flows" / "valid").glob("*.yaml")
)


def _schema(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["schema", *args]) == 0
    out = capsys.readouterr().out
    document: dict[str, Any] = json.loads(out)
    assert out == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return document


@pytest.mark.parametrize("kind", ["flow", "profiles", "manifest"])
def test_each_kind_is_a_valid_draft_2020_12_schema_printed_sorted_with_two_spaces(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _schema(capsys, "--kind", kind)

    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


def test_default_kind_is_flow(capsys: pytest.CaptureFixture[str]) -> None:
    assert _schema(capsys) == _schema(capsys, "--kind", "flow")


def test_output_writes_the_same_text_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "flow.schema.json"

    assert main(["schema", "--output", str(target)]) == 0

    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text(encoding="utf-8")) == _schema(capsys)


def test_flow_schema_has_an_inputs_branch_per_loadable_step(capsys: pytest.CaptureFixture[str]) -> None:
    document = _schema(capsys)

    branches = {b["if"]["properties"]["type"]["const"]: b["then"] for b in document["$defs"]["Step"]["allOf"]}
    assert {"check_items", "with_lock", "external.process"} <= set(branches)
    inputs = document["$defs"]["StepInputs.check_items"]
    assert set(inputs["properties"]) == {"items", "min_count"}
    assert inputs["additionalProperties"] is False


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_and_valid_fixture_flows_validate_against_the_schema(
    example: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    validator = jsonschema.Draft202012Validator(_schema(capsys))

    errors = sorted(validator.iter_errors(yaml.safe_load(example.read_text(encoding="utf-8"))), key=str)

    assert errors == []


def test_schema_rejects_an_unknown_key_and_a_bad_step_input(capsys: pytest.CaptureFixture[str]) -> None:
    validator = jsonschema.Draft202012Validator(_schema(capsys))
    flow = {
        "flow": {"id": "f"},
        "jobs": [{"id": "a", "depend_on": [], "steps": [{"id": "s", "type": "check_items", "inputs": {"itemz": []}}]}],
    }

    messages = [e.message for e in validator.iter_errors(flow)]

    assert any("depend_on" in m for m in messages)
    assert any("itemz" in m for m in messages)


def test_example_profiles_file_validates_against_the_profiles_schema(capsys: pytest.CaptureFixture[str]) -> None:
    validator = jsonschema.Draft202012Validator(_schema(capsys, "--kind", "profiles"))

    document = yaml.safe_load((ROOT / "examples" / "profiles.yaml").read_text(encoding="utf-8"))

    assert list(validator.iter_errors(document)) == []
    assert list(validator.iter_errors({"p": {"config_env": {}}})) != []


def test_unwritable_output_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schema", "--output", str(tmp_path / "missing-dir" / "x.json")])

    assert code == 2
    assert capsys.readouterr().err.startswith("error: Cannot write schema to ")


def _properties_outside_branches(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) of the document, except the ``if``/``then`` parts of conditional branches."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, prop in node.get("properties", {}).items() if isinstance(node.get("properties"), dict) else []:
            found.append((f"{path}.{key}", prop))
        for key, value in node.items():
            if key not in ("if", "then"):
                found.extend(_properties_outside_branches(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_properties_outside_branches(value, f"{path}[{index}]"))
    return found


@pytest.mark.parametrize("kind", ["flow", "profiles"])
def test_every_property_of_the_flow_and_profiles_schemas_has_a_description(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _schema(capsys, "--kind", kind)

    undescribed = [path for path, prop in _properties_outside_branches(document) if not prop.get("description")]

    assert undescribed == []


def _step_flow(step: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "flow": {"id": "f"}, "jobs": [{"id": "a", "steps": [{"id": "s", **step}]}]}


def test_step_type_offers_the_builtin_types_and_still_accepts_a_plugin_type(capsys: pytest.CaptureFixture[str]) -> None:
    document = _schema(capsys)
    validator = jsonschema.Draft202012Validator(document)

    offered = document["$defs"]["Step"]["properties"]["type"]["anyOf"][0]["enum"]

    assert {"check_items", "db_extract", "external.process", "with_lock"} <= set(offered)
    assert list(validator.iter_errors(_step_flow({"type": "my_plugin.step", "inputs": {"anything": 1}}))) == []


def test_a_builtin_step_input_outside_its_allowed_values_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    validator = jsonschema.Draft202012Validator(_schema(capsys))
    base = {"type": "db_extract", "inputs": {"resource": "db", "sql": "SELECT 1", "output": "x.tsv"}}

    def errors(fmt: str) -> list[str]:
        step = {**base, "inputs": {**base["inputs"], "format": fmt}}
        return [e.message for e in validator.iter_errors(_step_flow(step))]

    assert errors("xlsx") != []
    assert errors("jsonl") == []
    assert errors("TSV") == []
    assert errors("{{env.FORMAT:tsv}}") == []


def test_a_builtin_step_input_of_the_wrong_type_is_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    validator = jsonschema.Draft202012Validator(_schema(capsys))

    wrong = _step_flow({"type": "check_items", "inputs": {"items": "a", "min_count": [1]}})
    templated = _step_flow({"type": "check_items", "inputs": {"items": "a", "min_count": "{{env.MIN:1}}"}})

    assert list(validator.iter_errors(wrong)) != []
    assert list(validator.iter_errors(templated)) == []
