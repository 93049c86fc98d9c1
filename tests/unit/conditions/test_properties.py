"""Property tests: any text either parses or raises WhenError; parsed conditions fail only with WhenEvaluationError."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aetherflow.conditions import WhenError, WhenEvaluationError, parse_when

_PIECES = st.sampled_from(
    [
        "jobs",
        ".",
        "a",
        "b",
        "outputs",
        "status",
        "x",
        " ",
        "\n",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "and",
        "or",
        "not",
        "(",
        ")",
        "'",
        '"',
        "true",
        "None",
        "null",
        "-",
        "1",
        "2.5",
        "#",
        "\\",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "+",
        "f",
        "r",
        "'s'",
        "lambda",
        "if",
        "else",
        "in",
        "is",
        "__import__",
        "'os'",
        "*",
    ]
)
_EXPRESSION_TEXT = st.lists(st.one_of(_PIECES, _PIECES, st.text(max_size=2)), max_size=14).map(" ".join)
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4))
_VALUE = st.recursive(
    _LEAF,
    lambda children: st.one_of(
        st.lists(children, max_size=2), st.dictionaries(st.sampled_from(["x", "status", "outputs"]), children)
    ),
    max_leaves=8,
)
_JOBS = st.dictionaries(
    st.sampled_from(["a", "b"]), st.dictionaries(st.sampled_from(["status", "outputs", "x"]), _VALUE)
)


@settings(max_examples=1500)
@given(text=st.text(max_size=40))
def test_parse_when_of_any_text_raises_only_when_error(text: str) -> None:
    try:
        parse_when(text)
    except WhenError as exc:
        assert exc.message.startswith(("Syntax error: ", "Unsupported node: ", "Unsupported name: "))


@settings(max_examples=700)
@given(text=_EXPRESSION_TEXT, jobs=_JOBS)
def test_parsed_condition_evaluates_to_bool_or_raises_when_evaluation_error(text: str, jobs: dict[str, Any]) -> None:
    try:
        condition = parse_when(text)
    except WhenError as exc:
        assert exc.message.startswith(("Syntax error: ", "Unsupported node: ", "Unsupported name: "))
        return

    try:
        result = condition.evaluate(jobs)
    except WhenEvaluationError as exc:
        assert exc.detail.endswith(" is not defined") or exc.detail.startswith("cannot compare ")
        return
    assert result is True or result is False
