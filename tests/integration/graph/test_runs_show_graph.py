"""``aetherflow runs show RUN --graph``: the flow's graph coloured by each job's status in that run, with a legend,
checked by Mermaid's own parser and Graphviz; a run killed mid-job leaves a RUNNING job, a job added to the flow
after the run has no record."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from aetherflow.observability.graph import STATUS_STYLES
from tests.support.cli import aetherflow, clean_env, cli_argv, run_args
from tests.support.graph_check import dot_svg, mermaid_parse

SH = "/bin/sh"
STEP = '[{id: s, type: check_items, inputs: {items: "x"}}]'
JOBS = f"""
version: 1
flow: {{id: coloured}}
jobs:
  - {{id: ok, steps: {STEP}}}
  - {{id: bad, steps: [{{id: s, type: external.process, inputs: {{command: ["{SH}", "-c", "exit 1"]}}}}]}}
  - {{id: blocked, depends_on: [bad], steps: {STEP}}}
  - {{id: skipped, depends_on: [ok], when: 'jobs.ok.status == "FAILED"', steps: {STEP}}}
  - {{id: slow, depends_on: [ok], steps: [{{id: s, type: external.process, inputs: {{command: ["sleep", "60"]}}}}]}}
"""
ADDED = f"  - {{id: added, depends_on: [slow], trigger: all_done, steps: {STEP}}}\n"
LEGEND = ["SUCCESS", "FAILED", "SKIPPED", "BLOCKED", "RUNNING", "no record"]


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run SIGKILLed while `slow` runs (its record stays RUNNING), and the flow with a job added since then."""
    root = tmp_path_factory.mktemp("killed")
    flow = root / "flow.yaml"
    flow.write_text(JOBS)
    state = root / "state.db"
    proc = subprocess.Popen(
        cli_argv(*run_args(flow, state, root / "work", "r1")),
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _slow_is_running(state):
            assert proc.poll() is None and time.monotonic() < deadline, "the run never reached the slow job"
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    later = root / "later.yaml"
    later.write_text(JOBS + ADDED)
    return later, state


def _slow_is_running(state: Path) -> bool:
    import sqlite3

    if not state.exists():
        return False
    try:
        with sqlite3.connect(state) as conn:
            rows = conn.execute("SELECT status FROM job_runs WHERE job_id = 'slow'").fetchall()
    except sqlite3.OperationalError:
        return False  # the schema is still being created
    return rows == [("RUNNING",)]


def _show_graph(flow: Path, state: Path, *extra: str) -> str:
    done = aetherflow("runs", "show", "r1", "--graph", "--flow-yaml", str(flow), "--state", str(state), *extra)
    assert done.code == 0, done.stderr
    return done.stdout


def test_each_job_is_coloured_by_its_status_in_the_run_with_a_legend(killed_run: tuple[Path, Path]) -> None:
    flow, state = killed_run

    parsed = mermaid_parse(_show_graph(flow, state))

    jobs = {node_id: lines for node_id, lines in parsed["nodes"].items() if not node_id.startswith("legend")}
    assert jobs == {
        "j0_ok": ["ok", "SUCCESS"],
        "j1_bad": ["bad", "FAILED"],
        "j2_blocked": ["blocked", "BLOCKED"],
        "j3_skipped": ["skipped", 'when: jobs.ok.status == "FAILED"', "SKIPPED"],
        "j4_slow": ["slow", "RUNNING"],
        "j5_added": ["added", "trigger: all_done", "no record"],
    }
    assert {node_id: parsed["classes"][node_id] for node_id in jobs} == {
        "j0_ok": ["st_success"],
        "j1_bad": ["st_failed"],
        "j2_blocked": ["st_blocked"],
        "j3_skipped": ["st_skipped"],
        "j4_slow": ["st_running"],
        "j5_added": ["st_norecord"],
    }
    assert [parsed["nodes"][node_id] for node_id in parsed["subgraphs"]["legend"]] == [[name] for name in LEGEND]
    assert sorted(parsed["classDefs"]) == sorted(style.name for style in STATUS_STYLES.values())


def test_the_dot_graph_of_a_run_fills_each_job_with_its_status_colour(killed_run: tuple[Path, Path]) -> None:
    flow, state = killed_run

    nodes, edges = dot_svg(_show_graph(flow, state, "--format", "dot"))

    fills = {node_id: node["fill"] for node_id, node in nodes.items()}
    assert fills == {
        "j0_ok": STATUS_STYLES["SUCCESS"].fill,
        "j1_bad": STATUS_STYLES["FAILED"].fill,
        "j2_blocked": STATUS_STYLES["BLOCKED"].fill,
        "j3_skipped": STATUS_STYLES["SKIPPED"].fill,
        "j4_slow": STATUS_STYLES["RUNNING"].fill,
        "j5_added": STATUS_STYLES["no record"].fill,
        **{f"legend_{style.name}": style.fill for style in STATUS_STYLES.values()},
    }
    assert [nodes[f"legend_{style.name}"]["lines"] for style in STATUS_STYLES.values()] == [[n] for n in LEGEND]
    assert sorted(edges) == ["j0_ok->j3_skipped", "j0_ok->j4_slow", "j1_bad->j2_blocked", "j4_slow->j5_added"]


def test_the_graph_of_a_run_reads_the_state_the_environment_names(killed_run: tuple[Path, Path]) -> None:
    flow, state = killed_run

    done = aetherflow(
        "runs", "show", "r1", "--graph", "--flow-yaml", str(flow), env={"AETHERFLOW_STATE_PATH": str(state)}
    )

    assert done.code == 0 and done.stdout == _show_graph(flow, state)


def test_the_graph_of_an_unknown_run_is_an_error_naming_it(killed_run: tuple[Path, Path]) -> None:
    flow, state = killed_run

    done = aetherflow("runs", "show", "nope", "--graph", "--flow-yaml", str(flow), "--state", str(state))

    assert done.code == 1 and done.stdout == "" and "Run not found: nope" in done.stderr


def test_the_graph_of_a_run_without_a_flow_file_says_how_to_name_it(killed_run: tuple[Path, Path]) -> None:
    _, state = killed_run

    done = aetherflow("runs", "show", "r1", "--graph", "--state", str(state), cwd=state.parent.parent)

    assert done.code == 2 and done.stdout == ""
    assert done.stderr.strip() == (
        "error: No flow file for the graph: pass --flow-yaml, set AETHERFLOW_FLOW_FILE, or run where ./flow.yaml exists"
    )
