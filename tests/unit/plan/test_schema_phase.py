"""Phase 2 (flow-yaml.md §2, §5): strict types, required keys, unknown keys, ids; pydantic's codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.plan.helpers import check, codes, records

HEAD = "version: 1\nflow: {id: f}\n"


def test_missing_key_is_reported_at_the_line_of_the_mapping_lacking_it(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "version: 1\nflow:\n  description: no id\njobs: []\n")

    assert records(report.errors) == [("schema:missing", "flow.id", "Field required", 2)]


def test_missing_key_in_a_list_item_uses_the_line_of_its_first_key(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n  - id: a\n    steps:\n      - type: check_items\n")

    assert records(report.errors) == [("schema:missing", "jobs[0].steps[0].id", "Field required", 6)]


@pytest.mark.parametrize(
    ("yaml_line", "loc", "suggestion"),
    [
        ("    depend_on: []", "jobs[0].depend_on", " (did you mean 'depends_on'?)"),
        ("    whenn: x", "jobs[0].whenn", " (did you mean 'when'?)"),
        ("    unrelated: 1", "jobs[0].unrelated", ""),
    ],
)
def test_unknown_job_key_is_extra_forbidden_with_did_you_mean(
    tmp_path: Path, yaml_line: str, loc: str, suggestion: str
) -> None:
    report, _ = check(tmp_path, HEAD + f"jobs:\n  - id: a\n    steps: []\n{yaml_line}\n")

    assert records(report.errors) == [("schema:extra_forbidden", loc, f"Extra inputs are not permitted{suggestion}", 6)]


def test_step_keys_get_did_you_mean_for_input_and_timeout(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + "jobs:\n  - id: a\n    steps:\n      - id: s\n        type: check_items\n        input: {}\n"
        "        timeout: 5\n",
    )

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].input",
            "Extra inputs are not permitted (did you mean 'inputs'?)",
            8,
        ),
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].timeout",
            "Extra inputs are not permitted (did you mean 'timeout_seconds'?)",
            9,
        ),
    ]


def test_unknown_resource_key_without_a_close_match_has_no_suggestion(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path, HEAD + "resources:\n  db:\n    kind: db\n    driver: sqlite3\n    pasword: x\njobs: []\n"
    )

    assert records(report.errors) == [
        ("schema:extra_forbidden", "resources.db.pasword", "Extra inputs are not permitted", 7)
    ]


def test_unknown_top_level_key_is_extra_forbidden(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs: []\njob: []\n")

    assert records(report.errors) == [
        ("schema:extra_forbidden", "job", "Extra inputs are not permitted (did you mean 'jobs'?)", 4)
    ]


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("yes", "boolean"),
        ("off", "boolean"),
        ("True", "boolean"),
        ("null", "null"),
        ("~", "null"),
        ("007", "number"),
        ("1.5", "number"),
        ("12", "number"),
    ],
)
def test_yaml_converted_id_gets_the_quote_hint(tmp_path: Path, source: str, kind: str) -> None:
    report, _ = check(tmp_path, HEAD + f"jobs:\n  - id: {source}\n    steps: []\n")

    hint = f"; YAML read the unquoted value '{source}' as a {kind} - quote it: \"{source}\""
    assert records(report.errors) == [("schema:string_type", "jobs[0].id", f"Input should be a valid string{hint}", 4)]


def test_quoted_non_string_like_value_gets_no_hint_because_it_is_a_string(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + 'jobs:\n  - id: "yes"\n    steps: []\n')

    assert report.errors == []


def test_a_list_in_a_string_field_is_string_type_without_hint(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n  - id: [a]\n    steps: []\n")

    assert records(report.errors) == [("schema:string_type", "jobs[0].id", "Input should be a valid string", 4)]


@pytest.mark.parametrize(
    ("version", "code", "msg"),
    [
        ("true", "schema:int_type", "Input should be a valid integer"),
        ('"1"', "schema:int_type", "Input should be a valid integer"),
        ("one", "schema:int_type", "Input should be a valid integer"),
        ("1.0", "schema:int_type", "Input should be a valid integer"),
        ("2", "schema:literal_error", "Input should be 1"),
    ],
)
def test_version_must_be_the_integer_one(tmp_path: Path, version: str, code: str, msg: str) -> None:
    report, _ = check(tmp_path, f"version: {version}\nflow: {{id: f}}\njobs: []\n")

    assert records(report.errors) == [(code, "version", msg, 1)]


def test_version_defaults_to_one(tmp_path: Path) -> None:
    report, plan = check(tmp_path, "flow: {id: f}\njobs: []\n")

    assert report.errors == []
    assert plan is not None


def test_string_where_an_integer_is_expected_is_int_type(tmp_path: Path) -> None:
    report, _ = check(tmp_path, 'version: 1\nflow:\n  id: f\n  locks: {ttl_seconds: "60"}\njobs: []\n')

    assert records(report.errors) == [
        ("schema:int_type", "flow.locks.ttl_seconds", "Input should be a valid integer", 4)
    ]


def test_float_where_an_integer_is_expected_is_int_type(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + "jobs:\n  - id: a\n    steps:\n      - {id: s, type: check_items, retry: {max_attempts: 2.0}}\n",
    )

    assert records(report.errors) == [
        ("schema:int_type", "jobs[0].steps[0].retry.max_attempts", "Input should be a valid integer", 6)
    ]


@pytest.mark.parametrize("value", ['"10"', "true"])
def test_non_number_for_a_number_field_is_float_type(tmp_path: Path, value: str) -> None:
    report, _ = check(
        tmp_path,
        HEAD + f"jobs:\n  - id: a\n    steps:\n      - {{id: s, type: check_items, timeout_seconds: {value}}}\n",
    )

    assert records(report.errors) == [
        ("schema:float_type", "jobs[0].steps[0].timeout_seconds", "Input should be a valid number", 6)
    ]


def test_number_fields_accept_integers_and_floats(tmp_path: Path) -> None:
    report, plan = check(
        tmp_path,
        HEAD
        + "jobs:\n  - id: a\n    steps:\n      - {id: s, type: check_items, inputs: {items: [1]}, timeout_seconds: 5,"
        " retry: {backoff_seconds: 0.5, factor: 2}}\n",
    )

    assert report.errors == []
    assert plan is not None
    step = plan.jobs[0].steps[0]
    assert step.timeout_seconds == 5
    assert step.retry is not None and step.retry.backoff_seconds == 0.5 and step.retry.factor == 2


def test_non_boolean_decode_leaf_is_bool_type(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + 'resources:\n  db:\n    kind: db\n    driver: sqlite3\n    decode: {config: {path: "yes"}}\njobs: []\n',
    )

    assert records(report.errors) == [
        ("schema:bool_type", "resources.db.decode.config.path", "Input should be a valid boolean", 7)
    ]


def test_unknown_decode_key_is_extra_forbidden(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + "resources:\n  db:\n    kind: db\n    driver: sqlite3\n    decode: {config_path: [a]}\njobs: []\n",
    )

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "resources.db.decode.config_path",
            "Extra inputs are not permitted (did you mean 'config_paths'?)",
            7,
        )
    ]


def test_scalar_where_a_list_is_expected_is_list_type(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + "jobs:\n  - id: a\n    depends_on: b\n    steps: []\n")

    assert records(report.errors) == [("schema:list_type", "jobs[0].depends_on", "Input should be a valid list", 5)]


def test_list_where_a_mapping_is_expected_is_dict_type(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "version: 1\nflow: []\njobs: []\n")

    assert records(report.errors) == [("schema:dict_type", "flow", "Input should be a valid dictionary", 2)]


def test_unknown_enum_value_is_literal_error_listing_the_choices(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "flow:\n  id: f\n  workspace: {cleanup_policy: sometimes}\njobs: []\n")

    assert records(report.errors) == [
        (
            "schema:literal_error",
            "flow.workspace.cleanup_policy",
            "Input should be 'on_success', 'always' or 'never'",
            3,
        )
    ]


def test_lock_ttl_below_five_is_greater_than_equal(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "flow:\n  id: f\n  locks: {scope: flow, ttl_seconds: 4}\njobs: []\n")

    assert records(report.errors) == [
        ("schema:greater_than_equal", "flow.locks.ttl_seconds", "Input should be greater than or equal to 5", 3)
    ]


def test_zero_timeout_is_greater_than(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path, HEAD + "jobs:\n  - id: a\n    steps:\n      - {id: s, type: check_items, timeout_seconds: 0}\n"
    )

    assert records(report.errors) == [
        ("schema:greater_than", "jobs[0].steps[0].timeout_seconds", "Input should be greater than 0", 6)
    ]


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("max_attempts", "0", "schema:greater_than_equal"),
        ("backoff_seconds", "-1", "schema:greater_than_equal"),
        ("factor", "0.5", "schema:greater_than_equal"),
        ("max_delay_seconds", "0", "schema:greater_than"),
    ],
)
def test_retry_bounds(tmp_path: Path, field: str, value: str, code: str) -> None:
    report, _ = check(
        tmp_path,
        HEAD + f"jobs:\n  - id: a\n    steps:\n      - {{id: s, type: check_items, retry: {{{field}: {value}}}}}\n",
    )

    assert [(i.code, i.loc) for i in report.errors] == [(code, f"jobs[0].steps[0].retry.{field}")]


def test_retry_on_accepts_exception_names_and_exit_codes(tmp_path: Path) -> None:
    report, plan = check(
        tmp_path,
        HEAD + "jobs:\n  - id: a\n    steps:\n      - id: s\n        type: check_items\n        inputs: {items: [x]}\n"
        "        retry: {max_attempts: 3, retry_on: {exceptions: [ConnectorError], exit_codes: [75, 2]}}\n",
    )

    assert report.errors == []
    assert plan is not None
    policy = plan.jobs[0].steps[0].retry
    assert policy is not None
    assert (policy.max_attempts, policy.retry_on_exceptions, policy.retry_on_exit_codes) == (
        3,
        ("ConnectorError",),
        (75, 2),
    )


def test_unknown_retry_on_key_is_extra_forbidden(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD
        + "jobs:\n  - id: a\n    steps:\n      - {id: s, type: check_items, retry: {retry_on: {exit_code: [1]}}}\n",
    )

    assert records(report.errors) == [
        (
            "schema:extra_forbidden",
            "jobs[0].steps[0].retry.retry_on.exit_code",
            "Extra inputs are not permitted (did you mean 'exit_codes'?)",
            6,
        )
    ]


@pytest.mark.parametrize("bad_id", ["a b", "a/b", "a\\\\b", ".", "..", "x" * 129, ""])
def test_invalid_job_id_is_invalid_id(tmp_path: Path, bad_id: str) -> None:
    report, _ = check(tmp_path, HEAD + f'jobs:\n  - id: "{bad_id}"\n    steps: []\n')

    shown = bad_id.replace("\\\\", "\\")
    assert records(report.errors) == [
        (
            "schema:invalid_id",
            "jobs[0].id",
            f"Invalid id '{shown}': ids may not contain '/', '\\', whitespace or NUL, and may not be '.' or '..'",
            4,
        )
    ]


def test_invalid_step_id_is_invalid_id(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + 'jobs:\n  - id: a\n    steps:\n      - {id: "s 1", type: check_items}\n')

    assert codes(report.errors) == ["schema:invalid_id"]
    assert report.errors[0].loc == "jobs[0].steps[0].id"


def test_ids_that_are_not_identifiers_are_allowed(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + 'jobs:\n  - id: "load-2024.v1"\n    steps: []\n')

    assert report.errors == []


def test_a_layout_key_given_alone_is_valid_and_the_others_keep_their_defaults(tmp_path: Path) -> None:
    report, plan = check(tmp_path, "version: 1\nflow:\n  id: f\n  workspace:\n    layout: {artifacts: out}\njobs: []\n")

    assert report.errors == []
    assert plan is not None
    assert dict(plan.meta.layout) == {"artifacts": "out", "scratch": "scratch", "manifests": "manifests"}


def test_an_empty_layout_keeps_every_default(tmp_path: Path) -> None:
    report, plan = check(tmp_path, "version: 1\nflow:\n  id: f\n  workspace:\n    layout: {}\njobs: []\n")

    assert report.errors == []
    assert plan is not None
    assert dict(plan.meta.layout) == {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}


def test_a_layout_key_given_alone_is_still_checked(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "version: 1\nflow:\n  id: f\n  workspace:\n    layout: {scratch: ../up}\njobs: []\n")

    assert [(i.code, i.loc) for i in report.errors] == [("schema:value_error", "flow.workspace.layout.scratch")]


@pytest.mark.parametrize("value", ["../out", "/abs", "a/../b", ""])
def test_layout_paths_must_be_relative_without_dotdot(tmp_path: Path, value: str) -> None:
    report, _ = check(
        tmp_path,
        f'flow:\n  id: f\n  workspace:\n    layout: {{artifacts: "{value}", scratch: s, manifests: m}}\njobs: []\n',
    )

    assert codes(report.errors) == ["schema:value_error"]
    assert report.errors[0].loc == "flow.workspace.layout.artifacts"
    assert report.errors[0].msg.startswith("Value error, workspace layout path")


def test_empty_resource_name_is_rejected(tmp_path: Path) -> None:
    report, _ = check(tmp_path, HEAD + 'resources:\n  "": {kind: db, driver: sqlite3}\njobs: []\n')

    assert codes(report.errors) == ["schema:string_too_short"]


def test_schema_errors_stop_before_semantic_rules(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        HEAD + "jobs:\n  - id: a\n    depends_on: [ghost]\n    steps: []\n  - id: a\n    steps: []\n    extra: 1\n",
    )

    assert codes(report.errors) == ["schema:extra_forbidden"]


def test_schema_errors_follow_field_order_and_list_index(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        "version: 2\nflow: {id: 1}\njobs:\n  - id: 1\n    steps: []\n  - steps: []\n",
    )

    assert [(i.code, i.loc) for i in report.errors] == [
        ("schema:literal_error", "version"),
        ("schema:string_type", "flow.id"),
        ("schema:string_type", "jobs[0].id"),
        ("schema:missing", "jobs[1].id"),
    ]
