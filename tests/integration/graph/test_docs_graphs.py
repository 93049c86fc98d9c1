"""Every Mermaid block in docs/ is accepted by Mermaid's own parser (the pictures there are ``aetherflow graph``
output)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.graph_check import mermaid_parse

DOCS = Path(__file__).resolve().parents[3] / "docs"
BLOCK = re.compile(r"^```mermaid\n(.*?)^```", re.S | re.M)
BLOCKS = [
    pytest.param(match.group(1), id=f"{page.relative_to(DOCS)}:{n}")
    for page in sorted(DOCS.rglob("*.md"))
    for n, match in enumerate(BLOCK.finditer(page.read_text()), start=1)
]


def test_the_docs_have_a_graph_to_check() -> None:
    assert BLOCKS


@pytest.mark.parametrize("block", BLOCKS)
def test_a_mermaid_block_in_the_docs_parses(block: str) -> None:
    assert mermaid_parse(block)["type"] == "flowchart-v2"
