"""Every key of values.yaml carries a `# --` comment (helm-docs style), or is a group of documented keys."""

from __future__ import annotations

import yaml

from tests.unit.chart.rendering import CHART


def _comment_block_above(lines: list[str], index: int) -> list[str]:
    block = []
    i = index - 1
    while i >= 0 and lines[i].strip().startswith("#"):
        block.append(lines[i].strip())
        i -= 1
    return block


def _undocumented(node: yaml.MappingNode, lines: list[str], prefix: str) -> list[str]:
    missing = []
    for key, value in node.value:
        path = f"{prefix}{key.value}"
        if any(c.startswith("# --") for c in _comment_block_above(lines, key.start_mark.line)):
            continue  # documented as a whole, defaults below it included
        if isinstance(value, yaml.MappingNode) and value.value:
            missing += _undocumented(value, lines, f"{path}.")  # a group: each of its keys must be documented
        else:
            missing.append(path)
    return missing


def test_every_value_is_commented() -> None:
    text = (CHART / "values.yaml").read_text(encoding="utf-8")
    root = yaml.compose(text)
    assert isinstance(root, yaml.MappingNode)
    assert _undocumented(root, text.splitlines(), "") == []


def test_the_check_finds_an_undocumented_key() -> None:
    text = "# -- documented\na: 1\ngroup:\n  # -- documented\n  b: 2\n  c: 3\n"
    root = yaml.compose(text)
    assert isinstance(root, yaml.MappingNode)
    assert _undocumented(root, text.splitlines(), "") == ["group.c"]
