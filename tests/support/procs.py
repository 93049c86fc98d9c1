"""Process-tree helpers for the server fixtures (read from /proc, so no procps is needed)."""

from __future__ import annotations

from pathlib import Path


def children_of(parents: set[int]) -> list[int]:
    """PIDs whose parent is in ``parents``."""
    children: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_line = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended meanwhile
        ppid = int(stat_line.rsplit(")", 1)[1].split()[1])
        if ppid in parents:
            children.append(int(entry.name))
    return children


def descendants_of(pid: int) -> list[int]:
    """Every PID below ``pid`` in the process tree, nearest first."""
    found: list[int] = []
    parents = {pid}
    while parents:
        parents = set(children_of(parents))
        found.extend(sorted(parents))
    return found
