"""Parsing: tokens, defaults, standalone detection, roots, and every syntax rule (spec templating.md §2, §3)."""

from __future__ import annotations

import pytest

from aetherflow.errors import TemplateSyntaxError
from aetherflow.templating import ENV_ROOTS, STEP_ROOTS, Template, Token, has_template, parse

SENTENCE = "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}"


def test_root_sets_are_the_spec_phases() -> None:
    assert frozenset({"env"}) == ENV_ROOTS
    assert frozenset({"env", "steps", "job", "jobs", "run", "run_id", "flow_id", "result"}) == STEP_ROOTS


def test_token_records_path_root_default_and_source_offsets() -> None:
    template = parse("a {{ env.X : d }} b")

    assert template.tokens == (Token(path="env.X", root="env", default=" d", start=2, end=17),)
    assert template.source[2:17] == "{{ env.X : d }}"


def test_token_without_colon_has_no_default() -> None:
    assert parse("{{env.X}}").tokens[0].default is None


@pytest.mark.parametrize(
    ("source", "default"),
    [
        pytest.param("{{env.X: d }}", " d", id="trailing-space-trimmed-leading-kept"),
        pytest.param("{{env.X:}}", "", id="empty"),
        pytest.param("{{env.X: }}", "", id="only-space-is-empty"),
        pytest.param("{{env.X:a:b}}", "a:b", id="split-at-first-colon"),
        pytest.param("{{env.X:http://h:80/p}}", "http://h:80/p", id="url-default"),
    ],
)
def test_default_is_text_after_first_colon_of_the_trimmed_inner_text(source: str, default: str) -> None:
    assert parse(source).tokens[0].default == default


@pytest.mark.parametrize(
    ("source", "standalone"),
    [
        pytest.param("{{env.X}}", True, id="single-token"),
        pytest.param("{{  env.X : d }}", True, id="inner-whitespace-still-standalone"),
        pytest.param(" {{env.X}}", False, id="leading-space-outside"),
        pytest.param("{{env.X}} ", False, id="trailing-space-outside"),
        pytest.param("{{env.X}}{{env.Y}}", False, id="two-tokens"),
        pytest.param("{{env.X}}}", False, id="extra-closing-brace"),
        pytest.param("plain", False, id="no-token"),
    ],
)
def test_standalone_only_when_one_token_spans_the_whole_string(source: str, standalone: bool) -> None:
    assert parse(source).standalone is standalone


def test_roots_and_paths_list_what_the_template_reads() -> None:
    template = parse("{{env.A}} {{steps.s1.n}} {{env.A}} {{run_id}}")

    assert template.roots() == {"env", "steps", "run_id"}
    assert template.paths() == ["env.A", "steps.s1.n", "run_id"]


def test_plain_string_parses_to_a_template_without_tokens() -> None:
    assert parse("no braces here") == Template(source="no braces here", tokens=(), standalone=False)


def test_closing_braces_after_the_last_token_are_literal() -> None:
    template = parse("}} only")

    assert template.tokens == ()


def test_single_braces_outside_tokens_are_allowed() -> None:
    template = parse('{"a": 1} {x}')

    assert template.tokens == ()


@pytest.mark.parametrize(
    "ident_path",
    ["env._private", "env.Ünïcode", "steps.s_1.x2", "env.名前"],
)
def test_identifiers_may_use_underscores_and_unicode_letters(ident_path: str) -> None:
    assert parse(f"{{{{{ident_path}}}}}").tokens[0].path == ident_path


@pytest.mark.parametrize("sequence", ["${", "{%", "%}", "{#", "#}", "{}"])
def test_each_forbidden_sequence_is_rejected_even_without_tokens(sequence: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse(f"before {sequence} after")

    assert str(caught.value).startswith(SENTENCE + " (")
    assert caught.value.root is None


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("{{ a b }}", id="space-inside-path"),
        pytest.param("{{env.X[0]}}", id="index"),
        pytest.param("{{env.f()}}", id="call"),
        pytest.param("{{env..X}}", id="empty-segment"),
        pytest.param("{{.env}}", id="leading-dot"),
        pytest.param("{{env.}}", id="trailing-dot"),
        pytest.param("{{1env}}", id="leading-digit"),
        pytest.param("{{env-x}}", id="dash"),
        pytest.param("{{ :default}}", id="empty-path-with-default"),
        pytest.param("{{{env.X}}}", id="brace-inside-token"),
        pytest.param("{{env.X:a{b}}", id="brace-inside-default"),
        pytest.param("{{a}} {{b", id="second-token-unclosed"),
        pytest.param("{{a}} }} {{b}}", id="closing-between-tokens"),
        pytest.param("{{env.²x}}", id="segment-starts-with-superscript-digit"),
    ],
)
def test_malformed_token_is_a_syntax_error(source: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse(source)

    assert str(caught.value).startswith(SENTENCE)


def test_disallowed_root_error_names_root_and_allowed_list() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse("{{secrets.token}}", STEP_ROOTS)

    assert caught.value.root == "secrets"
    assert caught.value.detail == (
        "root 'secrets' is not allowed here; allowed: env, flow_id, job, jobs, result, run, run_id, steps"
    )


def test_root_error_reports_the_first_disallowed_root() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse("{{env.A}} {{run_id}} {{flow_id}}", ENV_ROOTS)

    assert caught.value.root == "run_id"


def test_other_syntax_error_wins_over_a_disallowed_root() -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse("{{secrets.token}} {{ bad path }}", ENV_ROOTS)

    assert caught.value.root is None


def test_roots_are_not_checked_without_allowed_roots() -> None:
    assert parse("{{secrets.token}}").roots() == {"secrets"}


def test_parsing_the_same_text_twice_returns_the_cached_template() -> None:
    assert parse("{{env.CACHED}} x", STEP_ROOTS) is parse("{{env.CACHED}} x", STEP_ROOTS)


@pytest.mark.parametrize(
    ("text", "needs_parsing"),
    [
        ("plain", False),
        ('{"a": 1}', False),
        ("{single}", False),
        ("{{env.X}}", True),
        ("tail }}", True),
        ("echo ${HOME}", True),
        ("{}", True),
        ("100%}", True),
    ],
)
def test_has_template_is_true_for_delimiters_and_forbidden_sequences(text: str, needs_parsing: bool) -> None:
    assert has_template(text) is needs_parsing
