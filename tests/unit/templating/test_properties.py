"""Property tests: arbitrary text only ever fails with the template error types, and parsing is self-consistent."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aetherflow.errors import TemplateError, TemplateSyntaxError
from aetherflow.templating import STEP_ROOTS, Template, has_template, parse, render

# Characters that drive the tokeniser and the forbidden-sequence rule, mixed into ordinary text.
_SYNTAX_CHARS = st.sampled_from(["{", "}", "{{", "}}", ":", "$", "%", "#", ".", " ", "_", "\t", "env", "steps", "s1"])
_TEMPLATE_TEXT = st.lists(st.one_of(_SYNTAX_CHARS, st.text(max_size=3)), max_size=20).map("".join)

_IDENT = st.sampled_from(["env", "steps", "job", "jobs", "run_id", "flow_id", "result", "s1", "X", "count", "id"])
_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5))
_CONTEXT = st.recursive(
    _LEAF,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(_IDENT, children, max_size=4)),
    max_leaves=15,
)
# Well-formed tokens in text, so that rendering (not only parsing) is exercised often.
_TOKEN = st.builds(
    lambda path, default: "{{" + ".".join(path) + (f":{default}" if default is not None else "") + "}}",
    st.lists(_IDENT, min_size=1, max_size=3),
    st.none() | st.text(alphabet="ab :$%#", max_size=4),
)
_RENDERABLE_TEXT = st.lists(st.one_of(_TOKEN, _SYNTAX_CHARS, st.text(max_size=2)), max_size=6).map("".join)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEMPLATE_TEXT)
def test_parse_returns_a_template_or_raises_template_syntax_error(text: str) -> None:
    try:
        template = parse(text, STEP_ROOTS)
    except TemplateSyntaxError:
        return

    assert isinstance(template, Template)
    assert template.source == text
    for token in template.tokens:
        assert text[token.start : token.start + 2] == "{{"
        assert text[token.end - 2 : token.end] == "}}"


@settings(max_examples=1500)
@given(text=st.text())
def test_parse_of_any_unicode_text_raises_only_template_syntax_error(text: str) -> None:
    try:
        parse(text)
    except TemplateSyntaxError:
        pass


@settings(max_examples=800)
@given(text=_RENDERABLE_TEXT, ctx=st.dictionaries(_IDENT, _CONTEXT, max_size=6))
def test_render_raises_only_template_errors(text: str, ctx: dict[str, Any]) -> None:
    try:
        result = render({"k": [text]}, ctx, STEP_ROOTS)
    except TemplateError:
        return

    leaf = result["k"][0]
    template = parse(text, STEP_ROOTS)
    if not template.standalone:
        assert isinstance(leaf, str)


@settings(max_examples=800)
@given(text=_TEMPLATE_TEXT)
def test_text_that_needs_no_parsing_parses_to_itself_without_tokens(text: str) -> None:
    if has_template(text):
        return

    template = parse(text)

    assert template.tokens == ()
    assert template.render({}) == text
