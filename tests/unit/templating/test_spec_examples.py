"""Every example of the templating spec (§8), rendered through the module-level ``render`` as the runner does."""

from __future__ import annotations

from typing import Any

import pytest

from aetherflow.errors import TemplateMissingKey, TemplateSyntaxError
from aetherflow.templating import ENV_ROOTS, STEP_ROOTS, render

SPEC_CONTEXT: dict[str, Any] = {
    "env": {"SET": "v1", "EMPTY": "", "FLAG": "true"},
    "steps": {"s1": {"count": 3, "names": ["a", "b"], "exit_code": 0, "obj": {}}},
    "job": {"id": "load", "outputs": {}},
    "jobs": {},
    "run_id": "r1",
    "flow_id": "f",
    "result": {},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("plain text", "plain text", id="plain-text-unchanged"),
        pytest.param("{{env.SET}}", "v1", id="standalone-env"),
        pytest.param("[{{  env.SET  }}]", "[v1]", id="inline-with-inner-whitespace"),
        pytest.param("{{env.MISSING:fallback}}", "fallback", id="missing-uses-default"),
        pytest.param("{{ env.EMPTY : dflt }}", " dflt", id="empty-is-missing-default-keeps-leading-space"),
        pytest.param("{{env.NOPE: padded }}", " padded", id="standalone-default-trailing-space-trimmed"),
        pytest.param("<{{env.NOPE: padded }}>", "< padded>", id="inline-default-trimmed-like-standalone"),
        pytest.param("x{{env.MISSING:}}y", "xy", id="empty-default"),
        pytest.param("{{env.MISSING:a:b}} }} tail", "a:b }} tail", id="default-with-colon-and-trailing-closer"),
        pytest.param("{{steps.s1.count}}", 3, id="standalone-keeps-int"),
        pytest.param("{{steps.s1.names}}", ["a", "b"], id="standalone-keeps-list"),
        pytest.param("n={{steps.s1.count}}", "n=3", id="inline-int-as-text"),
        pytest.param("{{steps.s1.names:none}} ok", "['a', 'b'] ok", id="inline-list-as-python-str"),
        pytest.param("{{steps.s1.missing:7}}", "7", id="default-is-always-a-string"),
        pytest.param("v={{env.FLAG}}", "v=true", id="inline-env-flag"),
        pytest.param("{{run_id}}-{{flow_id}}-{{job.id}}", "r1-f-load", id="several-tokens"),
    ],
)
def test_spec_example_renders_to_documented_value(source: str, expected: Any) -> None:
    result = render(source, SPEC_CONTEXT, STEP_ROOTS)

    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("source", "path"),
    [
        pytest.param("{{env.MISSING}}", "env.MISSING", id="missing-env"),
        pytest.param("{{steps.s1.count.x}}", "steps.s1.count.x", id="walk-into-non-mapping"),
    ],
)
def test_spec_example_missing_key_names_the_path(source: str, path: str) -> None:
    with pytest.raises(TemplateMissingKey) as caught:
        render(source, SPEC_CONTEXT, STEP_ROOTS)

    assert str(caught.value) == f"Missing template key: {path}"
    assert caught.value.path == path


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("echo ${HOME}", id="shell-expansion"),
        pytest.param("{% if x %}y{% endif %}", id="jinja-block"),
        pytest.param("a {# note #} b", id="jinja-comment"),
        pytest.param("json={}", id="empty-braces"),
        pytest.param("{{ env.HOME | upper }}", id="filter-is-bad-path"),
        pytest.param("{{ env.HOME", id="unclosed"),
        pytest.param("a }} b {{env.SET}}", id="closing-before-opening"),
        pytest.param("{{}}", id="empty-token"),
        pytest.param("{{ }}", id="blank-token"),
        pytest.param("{{steps.0.x}}", id="numeric-segment"),
        pytest.param("{{secrets.token}}", id="unknown-root-at-run-time"),
        pytest.param("x={{steps.s1.obj}}", id="inline-result-contains-empty-braces"),
    ],
)
def test_spec_example_is_a_syntax_error_in_step_phase(source: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        render(source, SPEC_CONTEXT, STEP_ROOTS)

    assert str(caught.value).startswith("Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}")


@pytest.mark.parametrize(
    ("source", "root"),
    [
        pytest.param("{{run_id}}", "run_id", id="flow-meta-workspace-root"),
        pytest.param("{{flow_id}}", "flow_id", id="resource-config-path"),
    ],
)
def test_spec_example_step_root_is_a_syntax_error_in_env_only_phases(source: str, root: str) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        render({"path": source}, SPEC_CONTEXT, ENV_ROOTS)

    assert caught.value.root == root
    assert str(caught.value) == (
        f"Unsupported templating syntax. Use {{{{VAR}}}} or {{{{VAR:DEFAULT}}}} "
        f"(root '{root}' is not allowed here; allowed: env)"
    )
