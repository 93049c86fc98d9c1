"""The real parsers of the graph languages: Mermaid's own (under Node, tests/tools/mermaid) and Graphviz ``dot``.

Missing locally, a test that needs one is skipped; in CI (``CI`` set) it fails, as ``.ci/run`` installs both.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, NoReturn

import pytest

MERMAID_TOOL = Path(__file__).resolve().parents[1] / "tools" / "mermaid"
SVG = "{http://www.w3.org/2000/svg}"


def _unavailable(what: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing in CI: .ci/run installs it", pytrace=False)
    pytest.skip(f"{what} is not installed here")


def mermaid_parse(text: str) -> dict[str, Any]:
    """Mermaid's parse of ``text`` (nodes with their label lines, edges, classes, subgraphs); fails if it rejects it."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node")
    if not (MERMAID_TOOL / "node_modules" / "mermaid").is_dir():
        _unavailable("mermaid (npm ci --prefix tests/tools/mermaid)")
    done = subprocess.run(
        [node, str(MERMAID_TOOL / "parse.mjs")], input=text, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"Mermaid rejected the graph: {done.stdout}{done.stderr}\n{text}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def dot_svg(text: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Graphviz's rendering of ``text`` as SVG: per node id its label lines and fill colour, and the edges drawn
    (``from->to``); fails if ``dot`` reports anything."""
    dot = shutil.which("dot")
    if dot is None:
        _unavailable("graphviz (dot)")
    done = subprocess.run([dot, "-Tsvg"], input=text.encode(), capture_output=True, timeout=120, check=False)
    assert done.returncode == 0 and not done.stderr, f"dot rejected the graph: {done.stderr.decode()}\n{text}"
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[str] = []
    for group in ET.fromstring(done.stdout).iter(f"{SVG}g"):
        title = group.findtext(f"{SVG}title") or ""
        if group.get("class") == "edge":
            edges.append(title)
        elif group.get("class") == "node":
            shape = next((el for el in group if el.tag in (f"{SVG}path", f"{SVG}polygon")), None)
            nodes[title] = {
                "lines": [el.text or "" for el in group.iter(f"{SVG}text")],
                "fill": None if shape is None else shape.get("fill"),
            }
    return nodes, edges
