"""Phase 5 (resources-and-profiles.md §3): the profiles source is checked and resources' profile names resolved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aetherflow.settings import Settings
from tests.unit.plan.helpers import check, codes, records

FLOW = (
    "version: 1\nflow: {id: f}\nresources:\n  db:\n    kind: db\n    driver: sqlite3\n"
    "    profile: warehouse\njobs: []\n"
)


def _profiles_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profiles.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_profile_without_any_configured_source_is_a_warning(tmp_path: Path) -> None:
    report, plan = check(tmp_path, FLOW)

    assert plan is not None
    assert records(report.warnings) == [
        (
            "semantic:unknown_profile",
            "resources.db.profile",
            "Resource 'db' references profile 'warehouse' but no profiles are configured",
            7,
        )
    ]


def test_profile_missing_from_the_configured_source_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "warehouses:\n  config: {path: /x.db}\n")

    report, plan = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert plan is None
    assert records(report.errors) == [
        (
            "semantic:unknown_profile",
            "resources.db.profile",
            "Resource 'db' references unknown profile 'warehouse' (did you mean 'warehouses'?)",
            7,
        )
    ]


def test_known_profile_from_a_file_validates_and_is_in_the_plan(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "warehouse:\n  config: {path: '{{env.DB_PATH:/tmp/x.db}}'}\n")

    report, plan = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert report.errors == [] and report.warnings == []
    assert plan is not None
    assert plan.profiles.configured and plan.profiles.source == str(profiles)
    assert plan.profiles.profiles["warehouse"].config == {"path": "{{env.DB_PATH:/tmp/x.db}}"}


def test_profile_with_a_legacy_key_is_extra_forbidden_with_file_and_line(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "# profiles\nwarehouse:\n  config_env: {url: DWH_URL}\n")

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert [issue.as_dict() for issue in report.errors] == [
        {
            "code": "schema:extra_forbidden",
            "loc": "profiles.warehouse.config_env",
            "msg": "Invalid profile configuration: Extra inputs are not permitted (did you mean 'config'?)",
            "line": 3,
            "file": str(profiles),
        }
    ]


def test_profile_that_is_not_a_mapping_is_profile_invalid(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "warehouse: [a, b]\n")

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert [(i.code, i.loc, i.line, i.file) for i in report.errors] == [
        ("profile:invalid", "profiles.warehouse", 1, str(profiles))
    ]
    assert report.errors[0].msg.startswith("Invalid profile configuration: ")


def test_bad_yaml_in_the_profiles_file_is_profile_invalid_with_line(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "warehouse:\n  config: {path: [\n")

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert [(i.code, i.loc, i.file) for i in report.errors] == [("profile:invalid", "profiles", str(profiles))]
    assert report.errors[0].line == 3


def test_explicit_profiles_file_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(missing)))

    assert records(report.errors) == [
        ("profile:invalid", "profiles", f"Invalid profile configuration: Profiles file not found: {missing}", None)
    ]
    assert report.errors[0].file == str(missing)


def test_profiles_json_and_file_together_are_a_source_conflict(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "warehouse: {}\n")

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles), profiles_json="{}"))

    assert records(report.errors) == [
        (
            "profile:source_conflict",
            "AETHERFLOW_PROFILES_JSON",
            "Invalid profile configuration: set only one of AETHERFLOW_PROFILES_JSON or AETHERFLOW_PROFILES_FILE",
            None,
        )
    ]


def test_profiles_json_source_has_no_file_on_its_records(tmp_path: Path) -> None:
    text = json.dumps({"warehouse": {"options": {"cache": "run"}, "decod": {}}})

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_json=text))

    assert [issue.as_dict() for issue in report.errors] == [
        {
            "code": "schema:extra_forbidden",
            "loc": "profiles.warehouse.decod",
            "msg": "Invalid profile configuration: Extra inputs are not permitted (did you mean 'decode'?)",
        }
    ]


def test_invalid_profiles_json_text_is_profile_invalid(tmp_path: Path) -> None:
    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_json="{not json"))

    assert [(i.code, i.loc) for i in report.errors] == [("profile:invalid", "AETHERFLOW_PROFILES_JSON")]


def test_template_syntax_in_a_profile_is_reported_in_the_profiles_file(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "warehouse:\n  config:\n    path: '{{run_id}}.db'\n")

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert [(i.code, i.loc, i.line, i.file) for i in report.errors] == [
        ("template:syntax", "profiles.warehouse.config", 2, str(profiles))
    ]


def test_missing_env_is_reported_only_for_profiles_of_resources_a_step_uses(tmp_path: Path) -> None:
    profiles = _profiles_file(
        tmp_path, "warehouse:\n  config: {path: '{{env.USED}}'}\nother:\n  config: {path: '{{env.UNUSED}}'}\n"
    )
    step = (
        "  - id: a\n    steps:\n      - {id: q, type: db_extract, inputs: {resource: db, sql: SELECT 1, output: o}}\n"
    )
    flow = FLOW.replace("jobs: []\n", "jobs:\n" + step + "\n")

    report, _ = check(tmp_path, flow, settings=Settings(profiles_file=str(profiles)))
    unused, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert [(i.code, i.loc) for i in report.warnings] == [("semantic:missing_env", "profiles.warehouse.config.path")]
    assert unused.warnings == []


def test_bundle_profiles_file_wins_over_ambient_settings_with_a_warning(tmp_path: Path) -> None:
    bundle = _profiles_file(tmp_path, "warehouse: {}\n")

    report, plan = check(tmp_path, FLOW, settings=Settings(profiles_json="{}"), bundle_profiles_file=str(bundle))

    assert report.errors == []
    assert plan is not None and plan.profiles.source == str(bundle)
    assert codes(report.warnings) == ["profile:overridden_by_bundle"]


def test_container_default_profiles_file_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = _profiles_file(tmp_path, "warehouse: {}\n")
    monkeypatch.setattr("aetherflow.spec.profiles.CONTAINER_PROFILES_FILE", str(default))

    outside, _ = check(tmp_path, FLOW)
    inside, plan = check(tmp_path, FLOW, container=True)

    assert codes(outside.warnings) == ["semantic:unknown_profile"]
    assert inside.warnings == [] and plan is not None and plan.profiles.source == str(default)


def test_decode_target_from_a_profile_is_checked_against_the_merged_config(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "warehouse:\n  decode: {config_paths: [path]}\n")
    flow = FLOW.replace("    profile: warehouse\n", "    profile: warehouse\n    config: {path: 'x{{env.P:y}}'}\n")

    report, _ = check(tmp_path, flow, settings=Settings(profiles_file=str(profiles)))

    assert [(i.code, i.loc) for i in report.errors] == [("template:syntax", "resources.db.config.path")]


def test_a_profiles_source_that_fails_as_a_whole_reports_no_unknown_profile(tmp_path: Path) -> None:
    profiles = _profiles_file(tmp_path, "- not\n- a mapping\n")

    report, _ = check(tmp_path, FLOW, settings=Settings(profiles_file=str(profiles)))

    assert [(i.code, i.loc, i.file) for i in report.errors] == [("profile:invalid", "profiles", str(profiles))]
