"""The pure renderer of ``aetherflow graph``: node ids, visible label text, statuses (the real parsers check the
output in tests/integration/graph)."""

from __future__ import annotations

import re

import pytest

from aetherflow.observability.graph import GraphJob, render, visible

NODE_LINE = re.compile(r'^  (\S+)\["')


def _node_ids(text: str) -> list[str]:
    return [m.group(1) for line in text.splitlines() if (m := NODE_LINE.match(line))]


def test_node_ids_are_identifiers_made_of_the_position_and_the_ascii_of_the_id() -> None:
    jobs = [GraphJob("extract", ()), GraphJob('a"];end', ()), GraphJob("日本", ()), GraphJob("x" * 80, ())]

    assert _node_ids(render(jobs, "mermaid")) == ["j0_extract", "j1_a_end", "j2", "j3_" + "x" * 32]


def test_ids_that_differ_only_in_punctuation_get_different_nodes() -> None:
    jobs = [GraphJob("a-b", ()), GraphJob("a.b", ()), GraphJob("a_b", ("a-b",))]

    text = render(jobs, "mermaid")

    assert _node_ids(text) == ["j0_a_b", "j1_a_b", "j2_a_b"]
    assert "  j0_a_b --> j2_a_b" in text.splitlines()


def test_two_jobs_shown_with_the_same_text_stay_two_nodes() -> None:
    # a redactor can mask two different ids to the same text
    jobs = [GraphJob("***", ()), GraphJob("***", ()), GraphJob("c", ("***",))]

    text = render(jobs, "dot")

    assert "j0 [label" in text and "j1 [label" in text and "  j0 -> j2_c;" in text


def test_control_and_format_characters_are_shown_and_whitespace_runs_become_one_space() -> None:
    assert visible("a\n\n  b\tc\x1b[31m\x00\u202e\u2028d 日本🚀") == "a b c\\x1b[31m\\x00\\u202e d 日本🚀"


def test_a_status_the_legend_does_not_know_is_named_in_the_label_and_drawn_as_no_record() -> None:
    text = render([GraphJob("a", ())], "mermaid", {"a": "QUEUED"})

    assert '  j0_a["a<br/>QUEUED"]' in text.splitlines()
    assert "  class j0_a st_norecord" in text.splitlines()


def test_without_statuses_there_is_no_colour_and_no_legend() -> None:
    text = render([GraphJob("a", ())], "mermaid") + render([GraphJob("a", ())], "dot")

    assert "classDef" not in text and "legend" not in text and "fillcolor" not in text


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown graph format 'svg'"):
        render([GraphJob("a", ())], "svg")
