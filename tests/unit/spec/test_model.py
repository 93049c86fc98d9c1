"""The Flow YAML v1 schema definitions: ids, layout paths, strictness details, results."""

from __future__ import annotations

import pytest
from pydantic_core import ValidationError

from aetherflow.spec.model import (
    ProfileModel,
    ResourceModel,
    allowed_keys_at,
    flow_schema,
    flow_validator,
    is_valid_id,
    layout_path_problem,
    profile_validator,
)


@pytest.mark.parametrize("value", ["a", "load-2024.v1", "x" * 128, "ü", "a:b"])
def test_valid_ids(value: str) -> None:
    assert is_valid_id(value)


@pytest.mark.parametrize("value", ["", ".", "..", "a b", "a\tb", "a/b", "a\\b", "a\x00b", "x" * 129, "a\u2003b"])
def test_invalid_ids(value: str) -> None:
    assert not is_valid_id(value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("artifacts", None),
        ("deep/er/path", None),
        ("", "must not be empty"),
        ("/abs", "must be a relative path"),
        ("C:/x", "must be a relative path"),
        ("a/../b", "must not contain '..'"),
        ("//", "must be a relative path"),
    ],
)
def test_layout_paths(value: str, problem: str | None) -> None:
    assert layout_path_problem(value) == problem


def test_defaults_are_filled_in() -> None:
    data = flow_validator().validate_python(
        {
            "flow": {"id": "f"},
            "resources": {"r": {"kind": "db", "driver": "sqlite3"}},
            "jobs": [{"id": "j", "steps": [{"id": "s", "type": "t"}]}],
        }
    )

    assert data["version"] == 1
    assert data["resources"]["r"]["decode"] == {"config": {}, "options": {}, "config_paths": [], "options_paths": []}
    assert data["jobs"][0]["depends_on"] == [] and data["jobs"][0]["when"] is None
    step = data["jobs"][0]["steps"][0]
    assert (step["inputs"], step["outputs"], step["retry"], step["on_no_data"], step["timeout_seconds"]) == (
        {},
        {},
        None,
        None,
        None,
    )


def test_retry_on_fields_stay_absent_when_not_given() -> None:
    data = flow_validator().validate_python(
        {"flow": {"id": "f"}, "jobs": [{"id": "j", "steps": [{"id": "s", "type": "t", "retry": {"retry_on": {}}}]}]}
    )

    assert data["jobs"][0]["steps"][0]["retry"]["retry_on"] == {}


def test_infinite_numbers_are_rejected() -> None:
    with pytest.raises(ValidationError) as raised:
        flow_validator().validate_python(
            {
                "flow": {"id": "f"},
                "jobs": [{"id": "j", "steps": [{"id": "s", "type": "t", "timeout_seconds": float("inf")}]}],
            }
        )

    assert raised.value.errors()[0]["type"] == "finite_number"


def test_allowed_keys_follow_the_schema() -> None:
    schema = flow_schema()

    assert allowed_keys_at(schema, ()) == ["version", "flow", "resources", "jobs"]
    assert allowed_keys_at(schema, ("jobs", 3, "steps", 0, "retry")) == [
        "max_attempts",
        "backoff_seconds",
        "factor",
        "max_delay_seconds",
        "retry_on",
    ]
    assert allowed_keys_at(schema, ("resources", "any", "decode")) == [
        "config",
        "options",
        "config_paths",
        "options_paths",
    ]
    assert allowed_keys_at(schema, ("jobs", 0, "steps", 0, "inputs")) is None


def test_resource_and_profile_results() -> None:
    resource = ResourceModel.from_validated(
        "db",
        {
            "kind": "db",
            "driver": "sqlite3",
            "profile": "p",
            "config": {"path": "x"},
            "options": {},
            "decode": {"config": {"path": True}, "options": {}, "config_paths": ["a"], "options_paths": []},
        },
    )
    profile = ProfileModel.from_validated("p", profile_validator().validate_python({"options": {"cache": "run"}}))

    assert resource.key == "db:sqlite3" and resource.decode.config == {"path": True}
    assert resource.decode.model_dump() == {
        "config": {"path": True},
        "options": {},
        "config_paths": ["a"],
        "options_paths": [],
    }
    assert profile.options == {"cache": "run"} and profile.decode.is_empty()
