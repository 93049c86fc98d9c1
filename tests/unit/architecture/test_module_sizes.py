"""Every module of the package stays small enough to read in one sitting, and every function in one screen.

Sizes are counted as ``ast`` sees them: a module by its lines, a function or method from its ``def`` line to its
last line (decorators not included). There is no allow-list: a module that grows past the limit is split by concern.
"""

from __future__ import annotations

import ast
from pathlib import Path

import aetherflow

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
ROOT = Path(aetherflow.__file__).parent


def modules() -> list[Path]:
    return sorted(ROOT.rglob("*.py"))


def name(path: Path) -> str:
    return path.relative_to(ROOT.parent).as_posix()


def test_no_module_is_longer_than_500_lines() -> None:
    too_long = {
        name(path): lines
        for path in modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }

    assert too_long == {}


def test_no_function_or_method_is_longer_than_60_lines() -> None:
    too_long: dict[str, int] = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long[f"{name(path)}:{node.lineno} {node.name}"] = lines

    assert too_long == {}
