"""Parsing ``when``: exactly the grammar of spec execution.md §4.1, with the §4.2 messages for everything else."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetherflow.conditions import Condition, WhenError, parse_when


@pytest.mark.parametrize(
    "text",
    [
        "false",
        "true or jobs.a.outputs.x",
        "jobs.a.outputs.x == 'a true'",
        "not(jobs.a.outputs.has)",
        "jobs.a.outputs.n >= 2 and jobs.a.status == 'SUCCESS'",
        "-1 < jobs.a.outputs.delta",
    ],
)
def test_spec_valid_example_parses(text: str) -> None:
    assert parse_when(text).source == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("true", id="true"),
        pytest.param("True", id="True-constant"),
        pytest.param("TRUE", id="upper-true"),
        pytest.param("fAlSe", id="mixed-case-false"),
        pytest.param("null", id="null"),
        pytest.param("None", id="None-constant"),
        pytest.param("NULL", id="upper-null"),
        pytest.param("none", id="none"),
        pytest.param("1.5e3 > -2", id="float-exponent-and-negative-int"),
        pytest.param("\"double\" != 'single'", id="both-quote-styles"),
        pytest.param("1 < jobs.a.outputs.n <= 3", id="chained-comparison"),
        pytest.param(
            "(jobs.a.status == 'SUCCESS' or jobs.b.status == 'SUCCESS') and not jobs.c.outputs.x",
            id="parentheses-and-not",
        ),
        pytest.param("jobs . a . status == 'SUCCESS'", id="whitespace-around-dots"),
        pytest.param("jobs.a", id="reference-to-a-job"),
        pytest.param("jobs.a.outputs.x ==\n  'y'", id="newline-between-tokens"),
    ],
)
def test_grammar_construct_parses(text: str) -> None:
    parse_when(text)


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t "])
def test_empty_or_blank_when_always_runs(text: str | None) -> None:
    condition = parse_when(text)

    assert condition.always is True
    assert condition.evaluate({}) is True
    assert condition.job_refs() == set()


def test_non_blank_when_is_not_always() -> None:
    assert parse_when("true").always is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("jobs.a in ['x']", "Unsupported node: In", id="in"),
        pytest.param("jobs.a not in ['x']", "Unsupported node: NotIn", id="not-in"),
        pytest.param("jobs.a is null", "Unsupported node: Is", id="is"),
        pytest.param("jobs.a is not null", "Unsupported node: IsNot", id="is-not"),
        pytest.param("jobs.a.outputs.n + 1 > 2", "Unsupported node: BinOp", id="arithmetic"),
        pytest.param("jobs.a.outputs.n & 1", "Unsupported node: BinOp", id="bitwise"),
        pytest.param("-jobs.a.outputs.n < 0", "Unsupported node: USub", id="unary-minus-on-reference"),
        pytest.param("-true", "Unsupported node: USub", id="unary-minus-on-boolean"),
        pytest.param("--1", "Unsupported node: USub", id="double-minus"),
        pytest.param("+1", "Unsupported node: UAdd", id="unary-plus"),
        pytest.param("~1", "Unsupported node: Invert", id="invert"),
        pytest.param("len(jobs.a)", "Unsupported node: Call", id="call"),
        pytest.param("jobs.a.outputs['x']", "Unsupported node: Subscript", id="subscript"),
        pytest.param("[1]", "Unsupported node: List", id="list"),
        pytest.param("(1, 2)", "Unsupported node: Tuple", id="tuple"),
        pytest.param("{1}", "Unsupported node: Set", id="set"),
        pytest.param("{'a': 1}", "Unsupported node: Dict", id="dict"),
        pytest.param("1 if jobs.a else 2", "Unsupported node: IfExp", id="conditional"),
        pytest.param("f'{jobs}'", "Unsupported node: JoinedStr", id="f-string"),
        pytest.param("lambda: 1", "Unsupported node: Lambda", id="lambda"),
        pytest.param("(x := 1)", "Unsupported node: NamedExpr", id="walrus"),
        pytest.param("1j == 1", "Unsupported node: Constant", id="complex-literal"),
        pytest.param("b'x' == 1", "Unsupported node: Constant", id="bytes-literal"),
        pytest.param("jobs == 1", "Unsupported node: Name", id="bare-jobs"),
        pytest.param("true.x", "Unsupported node: Attribute", id="attribute-of-literal-name"),
        pytest.param("(1).real", "Unsupported node: Attribute", id="attribute-of-number"),
        pytest.param("(jobs.a == 1).x", "Unsupported node: Attribute", id="attribute-of-comparison"),
        pytest.param("env == 1", "Unsupported name: env", id="other-name"),
        pytest.param("env.HOME == 'x'", "Unsupported name: env", id="reference-on-other-name"),
        pytest.param("yes", "Unsupported name: yes", id="yaml-boolean-word-is-not-a-literal"),
        pytest.param("jobs.a ==", "Syntax error: invalid syntax", id="incomplete"),
        pytest.param("jobs.a && jobs.b", "Syntax error: invalid syntax", id="c-style-and"),
        pytest.param("jobs.a == 1 # note", "Syntax error: comments are not allowed", id="comment"),
        pytest.param("r'x' == jobs.a.status", "Syntax error: string prefix 'r' is not allowed", id="raw-prefix"),
        pytest.param(
            "'a' 'b' == jobs.a.status",
            "Syntax error: adjacent string literals are not allowed",
            id="implicit-concatenation",
        ),
        pytest.param("jobs.a == \\\n 1", "Syntax error: line continuation is not allowed", id="backslash"),
    ],
)
def test_construct_outside_grammar_reports_spec_message(text: str, message: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text)

    assert caught.value.message == message
    assert str(caught.value) == message


def test_first_offending_node_is_found_breadth_first() -> None:
    # The Call sits one level higher than the Subscript inside the other operand.
    with pytest.raises(WhenError) as caught:
        parse_when("(jobs.a.x[0] == 1) or f()")

    assert caught.value.message == "Unsupported node: Call"


def test_added_parentheses_for_newlines_never_join_separate_groups() -> None:
    with pytest.raises(WhenError) as caught:
        parse_when("1)(\n2")

    assert caught.value.message.startswith("Syntax error: ")


def test_malicious_expression_is_rejected_without_being_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    with pytest.raises(WhenError) as caught:
        parse_when(f"__import__('os').system('touch {marker}')")

    assert caught.value.message == "Unsupported node: Call"
    assert not marker.exists()


def test_dunder_attribute_chain_is_only_a_mapping_path() -> None:
    condition = parse_when("jobs.a.__class__")

    assert condition.evaluate({"a": {"__class__": "plain key"}}) is True
    assert condition.job_refs() == {"a"}


def test_deeply_nested_expression_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(WhenError) as caught:
        parse_when("not " * 300 + "true")

    assert caught.value.message.startswith("Syntax error: ")


def test_job_refs_lists_every_referenced_job_once() -> None:
    condition = parse_when("jobs.a.status == 'SUCCESS' and (jobs.b.outputs.n > 1 or jobs.a.outputs.x)")

    assert condition.job_refs() == {"a", "b"}


def test_parse_when_memoises_conditions() -> None:
    assert parse_when("jobs.memo.status == 'SUCCESS'") is parse_when("jobs.memo.status == 'SUCCESS'")


def test_constructing_a_condition_validates_its_source() -> None:
    with pytest.raises(WhenError):
        Condition("jobs.a +")


def test_when_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_when("env == 1")


@pytest.mark.parametrize("text", ["run.date == '2026-03-01'", "run.attempt > 1", "run.id != jobs.a.outputs.id"])
def test_the_run_root_is_part_of_the_grammar(text: str) -> None:
    assert parse_when(text).source == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("run.dat == '2026-03-01'", "Unknown reference: run.dat (did you mean 'run.date'?)"),
        ("run.date.year == 2026", "Unknown reference: run.date.year;"),
        ("run.outputs", "Unknown reference: run.outputs;"),
    ],
)
def test_an_unknown_run_key_is_refused_when_parsed(text: str, message: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text)

    assert caught.value.message.startswith(message)


def test_a_bare_run_is_not_a_reference() -> None:
    with pytest.raises(WhenError, match="Unsupported node: Name"):
        parse_when("run")


def test_run_references_name_no_job() -> None:
    assert parse_when("run.attempt > 1 or jobs.a.status == 'FAILED'").job_refs() == {"a"}
