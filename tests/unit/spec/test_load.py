"""YAML loading with a node -> line index (flow-yaml.md §3, §5)."""

from __future__ import annotations

import pytest

from aetherflow.spec.load import did_you_mean, format_loc, parse_yaml

DOC = """\
# leading comment
version: 1
flow:
  id: f
jobs:
  - id: a
    steps:
      - id: s
        type: t
  - description: x
    id: b
"""


def test_lines_of_keys_and_list_items() -> None:
    doc, issues = parse_yaml(DOC)

    assert issues == [] and doc is not None
    assert doc.line_of(()) == 2
    assert doc.line_of(("flow",)) == 3
    assert doc.line_of(("flow", "id")) == 4
    assert doc.line_of(("jobs",)) == 5
    assert doc.line_of(("jobs", 0)) == 6
    assert doc.line_of(("jobs", 0, "steps", 0)) == 8
    assert doc.line_of(("jobs", 0, "steps", 0, "type")) == 9
    assert doc.line_of(("jobs", 1)) == 10


def test_line_of_an_absent_path_is_that_of_its_closest_ancestor() -> None:
    doc, _ = parse_yaml(DOC)

    assert doc is not None
    assert doc.line_of(("jobs", 1, "steps")) == 10
    assert doc.line_of(("flow", "workspace", "root")) == 3


def test_flow_style_items_get_their_own_lines() -> None:
    doc, _ = parse_yaml("jobs: [\n  {id: a},\n  {id: b}\n]\n")

    assert doc is not None
    assert (doc.line_of(("jobs", 0)), doc.line_of(("jobs", 1))) == (2, 3)


def test_yaml_1_1_scalars_are_converted_and_their_source_kept() -> None:
    doc, _ = parse_yaml("a: yes\nb: 'yes'\nc: 0755\nd: ~\ne: on\nf: 1e3\n")

    assert doc is not None
    assert doc.data == {"a": True, "b": "yes", "c": 493, "d": None, "e": True, "f": "1e3"}
    assert {p: (s.text, s.kind) for p, s in doc.scalars.items()} == {
        ("a",): ("yes", "boolean"),
        ("c",): ("0755", "number"),
        ("d",): ("~", "null"),
        ("e",): ("on", "boolean"),
    }


def test_profile_documents_carry_their_file_on_issues() -> None:
    doc, issues = parse_yaml("a: 1\na: 2\n", file="/etc/p.yaml")

    assert doc is None
    assert [i.as_dict() for i in issues] == [
        {
            "code": "yaml:duplicate_key",
            "loc": "<root>",
            "msg": "Duplicate key 'a' (first at line 1)",
            "line": 2,
            "file": "/etc/p.yaml",
        }
    ]


def test_a_merged_key_overridden_explicitly_is_not_a_duplicate() -> None:
    doc, issues = parse_yaml("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  x: 3\n")

    assert issues == [] and doc is not None
    assert doc.data["m"] == {"x": 3, "y": 2}


def test_deep_nesting_is_a_syntax_error_not_a_recursion_error() -> None:
    doc, issues = parse_yaml("a: " + "[" * 150 + "]" * 150 + "\n")

    assert doc is None
    assert [i.code for i in issues] == ["yaml:syntax"]


def test_alias_bombs_are_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]

    doc, issues = parse_yaml("\n".join(lines) + "\n")

    assert doc is None
    assert "document too large" in issues[0].msg


def test_several_documents_are_a_syntax_error() -> None:
    _, issues = parse_yaml("a: 1\n---\nb: 2\n")

    assert [i.code for i in issues] == ["yaml:syntax"]
    assert issues[0].line == 2


@pytest.mark.parametrize(
    ("path", "data", "text"),
    [
        ((), None, "<root>"),
        (("jobs", 0, "steps", 1, "inputs"), None, "jobs[0].steps[1].inputs"),
        ((0, "id"), None, "[0].id"),
        (("resources", 1, "kind"), {"resources": {1: {"kind": "db"}}}, "resources.1.kind"),
    ],
)
def test_format_loc(path: tuple[object, ...], data: object, text: str) -> None:
    assert format_loc(path, data) == text


@pytest.mark.parametrize(
    ("key", "allowed", "hint"),
    [
        ("depend_on", ["id", "depends_on", "when"], " (did you mean 'depends_on'?)"),
        ("input", ["id", "type", "inputs", "outputs"], " (did you mean 'inputs'?)"),
        ("timeout", ["id", "retry", "timeout_seconds"], " (did you mean 'timeout_seconds'?)"),
        ("pasword", ["kind", "driver", "profile", "config", "options", "decode"], ""),
        (3, ["a"], ""),
    ],
)
def test_did_you_mean(key: object, allowed: list[str], hint: str) -> None:
    assert did_you_mean(key, allowed) == hint
