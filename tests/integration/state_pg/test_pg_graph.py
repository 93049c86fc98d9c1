"""``runs show --graph`` of a run recorded in PostgreSQL: the state from a ``postgresql://`` URL, the graph from the
flow file, checked by Mermaid's own parser."""

from __future__ import annotations

from pathlib import Path

from tests.servers.postgres import PostgresServer
from tests.support.cli import aetherflow
from tests.support.graph_check import mermaid_parse

FLOW = """
version: 1
flow: {id: pgpicture}
jobs:
  - {id: first, steps: [{id: s, type: check_items, inputs: {items: "x"}}]}
  - {id: second, depends_on: [first], when: 'jobs.first.status == "SUCCESS"', steps: [{id: s, type: check_items,
     inputs: {items: "x"}}]}
"""


def test_the_graph_of_a_run_in_postgresql_is_coloured_by_its_statuses(
    pg_url: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    ran = aetherflow("run", "--flow-yaml", str(flow), "--run-id", "r1", "--state", pg_url, "--work-root", str(tmp_path))
    assert ran.code == 0, ran.stderr

    shown = aetherflow("runs", "show", "r1", "--graph", "--flow-yaml", str(flow), "--state", pg_url)

    assert shown.code == 0, shown.stderr
    parsed = mermaid_parse(shown.stdout)
    assert parsed["nodes"]["j0_first"] == ["first", "SUCCESS"]
    assert parsed["nodes"]["j1_second"] == ["second", 'when: jobs.first.status == "SUCCESS"', "SUCCESS"]
    assert parsed["classes"]["j1_second"] == ["st_success"]
    assert postgres_server.password not in shown.stdout + shown.stderr
