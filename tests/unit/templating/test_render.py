"""Rendering: lookup semantics, typed standalone values, inline text, deep render and string iteration (§4, §5)."""

from __future__ import annotations

from collections import OrderedDict
from types import MappingProxyType
from typing import Any

import pytest

from aetherflow.errors import TemplateError, TemplateMissingKey, TemplateSyntaxError
from aetherflow.templating import ENV_ROOTS, STEP_ROOTS, iter_strings, parse, render


@pytest.mark.parametrize(
    "value",
    [None, 0, False, [], 0.0],
    ids=["none", "zero", "false", "empty-list", "zero-float"],
)
def test_falsy_non_empty_string_values_are_present_and_keep_their_type(value: Any) -> None:
    ctx = {"steps": {"s": {"v": value}}}

    assert parse("{{steps.s.v:default}}").render(ctx) == value
    assert type(parse("{{steps.s.v:default}}").render(ctx)) is type(value)


def test_empty_string_value_is_missing() -> None:
    with pytest.raises(TemplateMissingKey, match=r"^Missing template key: env\.EMPTY$"):
        parse("{{env.EMPTY}}").render({"env": {"EMPTY": ""}})


def test_standalone_mapping_value_is_returned_as_is() -> None:
    obj = {"k": 1}

    assert parse("{{steps.s.obj}}").render({"steps": {"s": {"obj": obj}}}) is obj


@pytest.mark.parametrize(
    ("value", "text"),
    [(True, "True"), (None, "None"), (1.5, "1.5"), ({"k": 1}, "{'k': 1}"), (["a", "b"], "['a', 'b']")],
    ids=["bool", "none", "float", "mapping", "list"],
)
def test_inline_value_renders_as_python_str(value: Any, text: str) -> None:
    assert parse("<{{steps.s.v}}>").render({"steps": {"s": {"v": value}}}) == f"<{text}>"


def test_lookup_does_not_read_attributes() -> None:
    class WithAttr:
        upper = "attribute"

    with pytest.raises(TemplateMissingKey):
        parse("{{steps.obj.upper}}").render({"steps": {"obj": WithAttr()}})


def test_lookup_does_not_index_lists() -> None:
    with pytest.raises(TemplateMissingKey, match=r"steps\.s\.names\.first$"):
        parse("{{steps.s.names.first}}").render({"steps": {"s": {"names": ["a"]}}})


def test_lookup_walks_any_mapping_type() -> None:
    ctx = {"env": MappingProxyType({"A": OrderedDict(B="deep")})}

    assert parse("{{env.A.B}}").render(ctx) == "deep"


def test_root_absent_from_context_is_a_missing_key() -> None:
    with pytest.raises(TemplateMissingKey, match=r"^Missing template key: result\.x$"):
        parse("{{result.x}}").render({"env": {}})


def test_missing_key_error_is_a_value_error_whose_str_has_no_quotes() -> None:
    with pytest.raises(ValueError) as caught:
        parse("{{env.DEFINITELY_NOT_SET}}").render({"env": {}})

    assert isinstance(caught.value, TemplateError)
    assert not isinstance(caught.value, KeyError)
    assert str(caught.value) == "Missing template key: env.DEFINITELY_NOT_SET"


@pytest.mark.parametrize("value", ["${HOME}", "{}", "a {% b", "#}"])
def test_inline_value_with_forbidden_syntax_fails_without_echoing_the_value(value: str) -> None:
    secret = f"s3cr3t{value}"

    with pytest.raises(TemplateSyntaxError) as caught:
        parse("pw={{env.PW}}").render({"env": {"PW": secret}})

    assert secret not in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_forbidden_sequence_formed_across_value_and_literal_text_fails() -> None:
    with pytest.raises(TemplateSyntaxError):
        parse("{{env.OPEN}}}").render({"env": {"OPEN": "{"}})


def test_standalone_value_with_forbidden_syntax_is_returned_unchecked() -> None:
    assert parse("{{env.SHELL_LINE}}").render({"env": {"SHELL_LINE": "echo ${HOME} {}"}}) == "echo ${HOME} {}"


def test_deep_render_walks_mappings_and_lists_but_never_keys() -> None:
    value = {"{{env.K}}": ["{{env.K}}", {"n": "{{steps.s.n}}"}], "plain": "x", "num": 5, "flag": True, "none": None}
    ctx = {"env": {"K": "v"}, "steps": {"s": {"n": 2}}}

    assert render(value, ctx, STEP_ROOTS) == {
        "{{env.K}}": ["v", {"n": 2}],
        "plain": "x",
        "num": 5,
        "flag": True,
        "none": None,
    }


def test_deep_render_does_not_modify_its_input() -> None:
    value = {"a": ["{{env.K}}"]}

    render(value, {"env": {"K": "v"}}, ENV_ROOTS)

    assert value == {"a": ["{{env.K}}"]}


def test_string_without_braces_is_returned_as_the_same_object() -> None:
    text = "a long SQL statement without any braces"

    assert render(text, {}, STEP_ROOTS) is text


def test_deep_render_checks_roots_of_nested_strings() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        render({"a": [{"b": "{{run_id}}"}]}, {"run_id": "r"}, ENV_ROOTS)

    assert caught.value.root == "run_id"


def test_deep_render_rejects_forbidden_syntax_in_a_nested_string() -> None:
    with pytest.raises(TemplateSyntaxError):
        render({"cmd": ["sh", "-c", "echo ${HOME}"]}, {}, STEP_ROOTS)


def test_deep_render_keeps_tuples_as_tuples() -> None:
    assert render(("{{env.K}}", 1), {"env": {"K": "v"}}, ENV_ROOTS) == ("v", 1)


def test_iter_strings_yields_every_string_leaf_with_its_loc() -> None:
    value = {"command": ["sh", {"x": "y"}], "env": {"A": "1", "N": 2}, "none": None}

    assert list(iter_strings(value, "jobs[0].steps[1].inputs")) == [
        ("jobs[0].steps[1].inputs.command[0]", "sh"),
        ("jobs[0].steps[1].inputs.command[1].x", "y"),
        ("jobs[0].steps[1].inputs.env.A", "1"),
    ]


def test_iter_strings_from_the_root_starts_without_a_dot() -> None:
    assert list(iter_strings({"a": "x"}, "")) == [("a", "x")]
    assert list(iter_strings(["x"], "")) == [("[0]", "x")]
    assert list(iter_strings("x", "flow")) == [("flow", "x")]


def test_inline_forbidden_result_error_quotes_a_long_template_shortened() -> None:
    source = "SELECT " + "x, " * 60 + "{{env.V}}"

    with pytest.raises(TemplateSyntaxError) as caught:
        parse(source).render({"env": {"V": "{}"}})

    assert "SELECT x, x," in str(caught.value)
    assert source not in str(caught.value)
