"""Phase 1 (flow-yaml.md §3): reading the file and YAML problems stop validation with one kind of record."""

from __future__ import annotations

from pathlib import Path

from aetherflow.plan import validate_flow
from aetherflow.settings import Settings
from tests.unit.plan.helpers import check, codes, make_registry, records


def _validate_path(path: str) -> list[tuple[str, str, str, int | None]]:
    report, _plan = validate_flow(path, settings=Settings(), env={}, registry=make_registry())
    return records(report.errors)


def test_missing_flow_file_is_one_settings_record_without_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")

    assert _validate_path(missing) == [("settings:invalid", "<root>", f"Flow file not found: {missing}", None)]


def test_directory_as_flow_file_is_not_readable_with_the_os_reason(tmp_path: Path) -> None:
    assert _validate_path(str(tmp_path)) == [
        ("settings:invalid", "<root>", f"Flow file not readable: {tmp_path}: Is a directory", None)
    ]


def test_non_utf8_flow_file_is_not_readable(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("flow: {id: caf\xe9}\n".encode("latin-1"))

    assert _validate_path(str(path)) == [
        ("settings:invalid", "<root>", f"Flow file not readable: {path}: not valid UTF-8", None)
    ]


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffflow: {id: f}\njobs: []\n".encode())

    assert _validate_path(str(path)) == []


def test_yaml_syntax_error_reports_the_parser_problem_and_line(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "version: 1\nflow:\n  id: [unclosed\njobs: []\n")

    assert codes(report.errors) == ["yaml:syntax"]
    assert report.errors[0].loc == "<root>"
    assert report.errors[0].line == 4
    assert "expected ',' or ']'" in report.errors[0].msg


def test_duplicate_key_names_the_first_line_and_stops_validation(tmp_path: Path) -> None:
    report, _ = check(
        tmp_path,
        """
        version: 1
        flow: {id: f}
        jobs:
          - id: a
            steps: []
            id: b
        """,
    )

    assert records(report.errors) == [("yaml:duplicate_key", "jobs[0]", "Duplicate key 'id' (first at line 4)", 6)]


def test_every_duplicate_key_is_reported(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "flow: {id: f}\njobs: []\nflow: {id: g}\njobs: []\n")

    assert records(report.errors) == [
        ("yaml:duplicate_key", "<root>", "Duplicate key 'flow' (first at line 1)", 3),
        ("yaml:duplicate_key", "<root>", "Duplicate key 'jobs' (first at line 2)", 4),
    ]


def test_python_tags_are_rejected_as_syntax(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "flow: !!python/object/apply:os.system ['true']\njobs: []\n")

    assert codes(report.errors) == ["yaml:syntax"]
    assert "could not determine a constructor" in report.errors[0].msg
    assert report.errors[0].line == 1


def test_empty_file_is_an_empty_mapping_missing_flow_and_jobs(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "")

    assert records(report.errors) == [
        ("schema:missing", "flow", "Field required", None),
        ("schema:missing", "jobs", "Field required", None),
    ]


def test_comment_only_file_is_an_empty_mapping(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "# nothing here\n# at all\n")

    assert codes(report.errors) == ["schema:missing", "schema:missing"]


def test_top_level_list_is_dict_type_at_root(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "- id: a\n- id: b\n")

    assert records(report.errors) == [("schema:dict_type", "<root>", "Input should be a valid dictionary", 1)]


def test_recursive_alias_is_a_syntax_error_not_a_crash(tmp_path: Path) -> None:
    report, _ = check(tmp_path, "flow: &f {id: x, self: *f}\njobs: []\n")

    assert codes(report.errors) == ["yaml:syntax"]


def test_merge_keys_and_anchors_are_resolved(tmp_path: Path) -> None:
    report, plan = check(
        tmp_path,
        """
        version: 1
        flow: {id: f}
        jobs:
          - id: a
            steps:
              - &base {id: s1, type: check_items, inputs: {items: [x]}}
              - <<: *base
                id: s2
        """,
    )

    assert report.errors == []
    assert plan is not None
    assert [s.id for s in plan.jobs[0].steps] == ["s1", "s2"]
