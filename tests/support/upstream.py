"""Reading aetherflow-core 0.0.14's own files at test time, for parity tests that are skipped without them.

Upstream's files are never committed here: ``AETHERFLOW_UPSTREAM_GIT_DIR`` names a git directory (bare or not) of
the upstream project, and the tests export what they need from its ``HEAD`` into a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path

import pytest

GIT_DIR_VAR = "AETHERFLOW_UPSTREAM_GIT_DIR"


def upstream_git_dir() -> str | None:
    """The configured upstream git directory, or None when unset or missing."""
    path = os.environ.get(GIT_DIR_VAR, "")
    return path if path and Path(path).exists() else None


def git(*args: str) -> bytes:
    """``git --git-dir <upstream> ARGS`` output."""
    git_dir = upstream_git_dir()
    assert git_dir is not None
    return subprocess.run(["git", "--git-dir", git_dir, *args], capture_output=True, check=True, timeout=60).stdout


def upstream_files(prefix: str) -> list[str]:
    """Paths under ``prefix`` in upstream's HEAD (empty without an upstream checkout)."""
    if upstream_git_dir() is None:
        return []
    return git("ls-tree", "-r", "--name-only", "HEAD", prefix).decode().splitlines()


def export(path: str, dest: Path) -> Path:
    """Write upstream's ``path`` (a file or directory of HEAD) under ``dest``; return ``dest / path``."""
    with tarfile.open(fileobj=BytesIO(git("archive", "HEAD", path))) as archive:
        archive.extractall(dest, filter="data")
    return dest / path


needs_upstream = pytest.mark.skipif(
    upstream_git_dir() is None, reason=f"no upstream checkout ({GIT_DIR_VAR} unset or missing)"
)
