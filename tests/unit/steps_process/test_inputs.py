"""The input model of ``external.process``: shapes, defaults, text numbers/booleans and the spec's messages."""

from __future__ import annotations

from typing import Any

import pytest

from aetherflow.runner.context import validate_inputs
from aetherflow.steps.process import ExternalProcessInputs


def validate(**inputs: Any) -> ExternalProcessInputs:
    model = validate_inputs(ExternalProcessInputs, "s1", inputs)
    assert isinstance(model, ExternalProcessInputs)
    return model


def test_defaults_match_the_spec() -> None:
    model = validate(command=["true"])
    assert (model.args, model.shell, model.cwd, model.inherit_env, model.env) == ([], False, None, True, {})
    assert (model.timeout_seconds, model.kill_grace_seconds, model.outputs) == (None, 15.0, {})
    assert (model.log.stdout, model.log.stderr, model.log.file_path, model.log.max_capture_kb) == (
        "inherit",
        "inherit",
        None,
        1024,
    )
    assert model.success.exit_codes == [0]
    assert model.idempotency.strategy == "none"
    assert model.idempotency.atomic_rename is True
    retry = model.retry
    assert (retry.max_attempts, retry.backoff_seconds, retry.backoff_multiplier, retry.max_backoff_seconds) == (
        1,
        0.0,
        1.0,
        0.0,
    )
    assert (retry.retry_on_exit_codes, retry.retry_on_timeout) == ([], False)


def test_numbers_and_booleans_given_as_text_are_accepted() -> None:
    model = validate(
        command="x",
        shell="yes",
        inherit_env="0",
        timeout_seconds="2.5",
        kill_grace_seconds="3",
        log={"max_capture_kb": "16"},
        success={"exit_codes": ["0", "2"]},
        idempotency={"strategy": "atomic_dir", "temp_output_dir": "t", "final_output_dir": "f", "atomic_rename": "no"},
        retry={"max_attempts": "4", "backoff_seconds": "1.5", "retry_on_exit_codes": ["3"], "retry_on_timeout": "TRUE"},
    )
    assert (model.shell, model.inherit_env, model.timeout_seconds, model.kill_grace_seconds) == (True, False, 2.5, 3.0)
    assert (model.log.max_capture_kb, model.success.exit_codes, model.idempotency.atomic_rename) == (16, [0, 2], False)
    assert (model.retry.max_attempts, model.retry.backoff_seconds, model.retry.retry_on_exit_codes) == (4, 1.5, [3])
    assert model.retry.retry_on_timeout is True


def test_argv_items_that_are_numbers_become_text() -> None:
    assert validate(command=["sleep", 1], args=[2.5, True]).command == ["sleep", "1"]
    assert validate(command=["sleep", 1], args=[2.5, True]).args == ["2.5", "True"]


def test_null_sections_mean_their_defaults() -> None:
    model = validate(
        command="x", args=None, env=None, log=None, success=None, idempotency=None, retry=None, outputs=None
    )
    assert (model.args, model.env, model.outputs, model.success.exit_codes) == ([], {}, {}, [0])


def test_a_single_path_is_accepted_where_a_list_is_expected() -> None:
    assert validate(command="x", success={"require_files": "a.txt"}).success.require_files == ["a.txt"]


def test_a_missing_command_is_a_missing_input() -> None:
    with pytest.raises(ValueError, match=r"^Step s1 missing inputs: \['command'\]$"):
        validate(args=["x"])


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": {"a": 1}}, "external.process inputs.command must be a string or list"),
        ({"command": 5}, "external.process inputs.command must be a string or list"),
        ({"command": []}, "external.process inputs.command must not be empty"),
        ({"command": ["a", {"b": 1}]}, "argv items must be strings or numbers, not dict"),
        ({"command": "x", "args": [["nested"]]}, "argv items must be strings or numbers, not list"),
        ({"command": "x", "log": {"stdout": "syslog"}}, "log.stdout: Value error, Unknown log mode: syslog"),
        ({"command": "x", "log": {"stderr": "file"}}, "log.file_path is required when stdout/stderr mode is 'file'"),
        ({"command": "x", "idempotency": {"strategy": "atomic_dir"}}, "atomic_dir requires temp_output_dir and"),
        ({"command": "x", "idempotency": {"strategy": "lock"}}, "Unknown idempotency strategy: lock"),
        ({"command": "x", "idempotency": {"strategy": "marker"}}, "requires idempotency.marker_path or success"),
        ({"command": "x", "retry": {"max_attempts": 0}}, "retry.max_attempts: Input should be greater than or equal"),
        ({"command": "x", "timeout_seconds": 0}, "timeout_seconds: Input should be greater than 0"),
        ({"command": "x", "timeout_seconds": "soon"}, "timeout_seconds: Input should be a valid number"),
        ({"command": "x", "shell": "maybe"}, "shell: Input should be a valid boolean"),
        (
            {"command": "x", "success": {"exit_codes": ["zero"]}},
            "success.exit_codes.0: Input should be a valid integer",
        ),
    ],
)
def test_bad_shapes_fail_with_a_message_naming_the_input(inputs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=r"^Step s1 invalid inputs: ") as info:
        validate(**inputs)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "inputs",
    [
        {"command": "x", "bogus": 1},
        {"command": "x", "log": {"stdout": "capture", "level": "INFO"}},
        {"command": "x", "success": {"exit_code": [0]}},
        {"command": "x", "idempotency": {"marker": "m"}},
        {"command": "x", "retry": {"attempts": 2}},
    ],
)
def test_unknown_keys_are_rejected_at_every_level(inputs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        validate(**inputs)


def test_log_modes_are_case_insensitive() -> None:
    assert validate(command="x", log={"stdout": "CAPTURE"}).log.stdout == "capture"
