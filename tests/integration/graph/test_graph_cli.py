"""``aetherflow graph``: the flow's jobs, dependencies, ``when`` conditions and trigger rules, checked by the real
parsers (Mermaid's own under Node, Graphviz ``dot``) — hostile ids and conditions stay text and never become syntax."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.support.cli import aetherflow
from tests.support.graph_check import dot_svg, mermaid_parse

SAFE_NODE_ID = re.compile(r"^j[0-9]+(_[A-Za-z0-9_]+)?$")

# (job id as written, as a reader sees it): quotes, brackets, Mermaid's and DOT's keywords and comments, pipes,
# HTML, entity look-alikes, unicode, ESC and a right-to-left override
HOSTILE_IDS = [
    ('a"];end;b["x', 'a"];end;b["x'),
    ("-->", "-->"),
    ("end", "end"),
    ('%%{init:{"theme":"dark"}}%%', '%%{init:{"theme":"dark"}}%%'),
    ("<b>bold<i>&amp;<br>", "<b>bold<i>&amp;<br>"),
    ("x|y|z", "x|y|z"),
    ("日本語ジョブ🚀", "日本語ジョブ🚀"),
    ("#quot;#35;ﬂ°°60¶ß", "#quot;#35;ﬂ°°60¶ß"),
    ("esc\x1b[31m\u202eevil", "esc\\x1b[31m\\u202eevil"),
    ('}];digraph{x->y;"', '}];digraph{x->y;"'),
    ("classDef", "classDef"),
]

# (when as written, as a reader sees it): each is a valid condition on the job `extract`
HOSTILE_WHENS = [
    (
        'jobs.extract.status == "\\"]; end; x[\\"" or jobs.extract.status == "--> end %% | <b>x</b> #quot; &lt;"',
        'jobs.extract.status == "\\"]; end; x[\\"" or jobs.extract.status == "--> end %% | <b>x</b> #quot; &lt;"',
    ),
    ('(jobs.extract.status ==\n   "SUCCESS")', '(jobs.extract.status == "SUCCESS")'),
    (
        'jobs.extract.status != "}\\n{ digraph -> \\\\N \\\\G \\\\"',
        'jobs.extract.status != "}\\n{ digraph -> \\\\N \\\\G \\\\"',
    ),
    ('jobs.extract.status != "日本 🚀 \u202e"', 'jobs.extract.status != "日本 🚀 \\u202e"'),
]


def _step() -> dict[str, Any]:
    return {"id": "s", "type": "check_items", "inputs": {"items": "x"}}


def _write(tmp_path: Path, jobs: list[dict[str, Any]], flow_id: str = "pictured") -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "flow": {"id": flow_id}, "jobs": jobs}, allow_unicode=True))
    return path


def _hostile_flow(tmp_path: Path) -> tuple[Path, dict[str, list[str]], set[tuple[str, str]]]:
    """A flow of hostile ids (each depending on the one before) and hostile conditions; the label lines a reader
    must see per job (keyed by the first line), and the dependencies as (from, to) first lines."""
    jobs: list[dict[str, Any]] = [{"id": "extract", "steps": [_step()]}]
    labels = {"extract": ["extract"]}
    edges = set()
    previous, previous_shown = "extract", "extract"
    for raw, shown in HOSTILE_IDS:
        jobs.append({"id": raw, "depends_on": [previous], "steps": [_step()]})
        labels[shown] = [shown]
        edges.add((previous_shown, shown))
        previous, previous_shown = raw, shown
    for number, (raw, shown) in enumerate(HOSTILE_WHENS):
        job_id = f"when{number}"
        jobs.append({"id": job_id, "depends_on": ["extract"], "when": raw, "steps": [_step()]})
        labels[job_id] = [job_id, f"when: {shown}"]
        edges.add(("extract", job_id))
    return _write(tmp_path, jobs), labels, edges


def _graph(flow: Path, *extra: str) -> str:
    done = aetherflow("graph", "--flow-yaml", str(flow), *extra)
    assert done.code == 0, done.stderr
    return done.stdout


def _by_first_line(nodes: dict[str, list[str]]) -> dict[str, str]:
    return {lines[0]: node_id for node_id, lines in nodes.items()}


def test_a_simple_flow_is_a_flowchart_mermaid_accepts(tmp_path: Path) -> None:
    flow = _write(
        tmp_path,
        [
            {"id": "extract", "steps": [_step()]},
            {"id": "load", "depends_on": ["extract"], "when": 'jobs.extract.status == "SUCCESS"', "steps": [_step()]},
        ],
    )

    parsed = mermaid_parse(_graph(flow))

    assert parsed["type"] == "flowchart-v2"
    assert parsed["nodes"] == {
        "j0_extract": ["extract"],
        "j1_load": ["load", 'when: jobs.extract.status == "SUCCESS"'],
    }
    assert parsed["edges"] == [["j0_extract", "j1_load", "normal"]]


def test_hostile_ids_and_when_texts_stay_labels_in_mermaid(tmp_path: Path) -> None:
    flow, labels, edges = _hostile_flow(tmp_path)

    parsed = mermaid_parse(_graph(flow))

    assert all(SAFE_NODE_ID.match(node_id) for node_id in parsed["nodes"]), parsed["nodes"]
    assert sorted(parsed["nodes"].values()) == sorted(labels.values())
    named = {node_id: lines[0] for node_id, lines in parsed["nodes"].items()}
    assert {(named[a], named[b]) for a, b, _ in parsed["edges"]} == edges
    assert len(parsed["edges"]) == len(edges)
    assert parsed["subgraphs"] == {} and parsed["classDefs"] == []


def test_hostile_ids_and_when_texts_stay_labels_in_dot(tmp_path: Path) -> None:
    flow, labels, edges = _hostile_flow(tmp_path)

    nodes, drawn = dot_svg(_graph(flow, "--format", "dot"))

    assert all(SAFE_NODE_ID.match(node_id) for node_id in nodes), nodes
    assert sorted(node["lines"] for node in nodes.values()) == sorted(labels.values())
    named = {node_id: node["lines"][0] for node_id, node in nodes.items()}
    assert {tuple(named[end] for end in edge.split("->")) for edge in drawn} == edges
    assert len(drawn) == len(edges)


def test_every_trigger_rule_other_than_the_default_is_drawn_with_dashed_arrows(tmp_path: Path) -> None:
    flow = _write(
        tmp_path,
        [
            {"id": "extract", "steps": [_step()]},
            {"id": "load", "depends_on": ["extract"], "trigger": "all_success", "steps": [_step()]},
            {"id": "cleanup", "depends_on": ["load"], "trigger": "all_done", "steps": [_step()]},
            {"id": "alert", "depends_on": ["load"], "trigger": "one_failed", "steps": [_step()]},
        ],
    )

    mermaid = mermaid_parse(_graph(flow))
    nodes, drawn = dot_svg(dot := _graph(flow, "--format", "dot"))

    assert mermaid["nodes"] == {
        "j0_extract": ["extract"],
        "j1_load": ["load"],
        "j2_cleanup": ["cleanup", "trigger: all_done"],
        "j3_alert": ["alert", "trigger: one_failed"],
    }
    assert mermaid["edges"] == [
        ["j0_extract", "j1_load", "normal"],
        ["j1_load", "j2_cleanup", "dotted"],
        ["j1_load", "j3_alert", "dotted"],
    ]
    assert nodes["j2_cleanup"]["lines"] == ["cleanup", "trigger: all_done"]
    assert nodes["j3_alert"]["lines"] == ["alert", "trigger: one_failed"]
    assert sorted(drawn) == ["j0_extract->j1_load", "j1_load->j2_cleanup", "j1_load->j3_alert"]
    assert "j1_load -> j2_cleanup [style=dashed];" in dot and "j0_extract -> j1_load;" in dot


def test_the_same_flow_gives_byte_identical_output_wherever_it_is(tmp_path: Path) -> None:
    flow, _, _ = _hostile_flow(tmp_path)
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    copy = elsewhere / "other-name.yaml"
    copy.write_bytes(flow.read_bytes())

    for fmt in ("mermaid", "dot"):
        outputs = {_graph(flow, "--format", fmt), _graph(flow, "--format", fmt), _graph(copy, "--format", fmt)}
        assert len(outputs) == 1


def test_an_invalid_flow_is_exit_2_with_its_error_and_nothing_drawn(tmp_path: Path) -> None:
    flow = _write(tmp_path, [{"id": "load", "depends_on": ["nowhere"], "steps": [_step()]}])

    done = aetherflow("graph", "--flow-yaml", str(flow))

    assert done.code == 2
    assert done.stdout == ""
    assert "nowhere" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_format_is_a_usage_error(tmp_path: Path) -> None:
    flow = _write(tmp_path, [{"id": "a", "steps": [_step()]}])

    done = aetherflow("graph", "--flow-yaml", str(flow), "--format", "svg")

    assert done.code == 2 and "invalid choice: 'svg'" in done.stderr and done.stdout == ""


def test_a_secret_in_a_when_text_is_masked_before_it_is_encoded(tmp_path: Path) -> None:
    secret = "tok<en>&1234"
    flow = _write(
        tmp_path,
        [
            {"id": "a", "steps": [_step()]},
            {"id": "b", "depends_on": ["a"], "when": f'jobs.a.status == "{secret}"', "steps": [_step()]},
        ],
    )

    outputs = [
        aetherflow("graph", "--flow-yaml", str(flow), "--format", fmt, env={"API_TOKEN": secret}).stdout
        for fmt in ("mermaid", "dot")
    ]

    assert mermaid_parse(outputs[0])["nodes"]["j1_b"] == ["b", 'when: jobs.a.status == "***"']
    assert all("tok" not in out and "1234" not in out for out in outputs)
