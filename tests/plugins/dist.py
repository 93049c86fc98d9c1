"""An installed-distribution stand-in: ``<name>-1.0.dist-info`` with ``entry_points.txt`` next to its modules.

Put the directory on ``sys.path`` (or ``PYTHONPATH`` for a subprocess) and ``importlib.metadata`` finds the entry
points exactly as it finds those of a pip-installed package.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path


def make_distribution(
    root: Path, name: str, *, modules: Mapping[str, str], entry_points: Mapping[str, Mapping[str, str]]
) -> Path:
    """Write modules (name -> source) and a dist-info declaring ``entry_points`` (group -> name -> value)."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines: list[str] = []
    for group, items in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {value}" for key, value in items.items())
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return root
