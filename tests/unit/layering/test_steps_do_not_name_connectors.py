"""Steps reach connectors through the run (a resource, or the registry's built-in fallback), never by module name."""

from __future__ import annotations

import ast
from pathlib import Path

import aetherflow.steps

STEPS = Path(aetherflow.steps.__file__).parent


def _docstrings(tree: ast.Module) -> set[int]:
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef))]
    return {
        id(n.body[0].value)
        for n in nodes
        if n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)
    }


def test_no_step_module_names_a_connector_module_in_a_string() -> None:
    named = []
    for path in sorted(STEPS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            text = node.value if isinstance(node, ast.Constant) and id(node) not in skip else None
            if isinstance(text, str) and "aetherflow.connectors" in text:
                named.append(f"{path.name}:{getattr(node, 'lineno', 0)}: {text!r}")
    assert named == []
