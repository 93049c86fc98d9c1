"""Per-job workspace directories and the path sandbox steps resolve their paths through."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from aetherflow.errors import InvalidValue
from aetherflow.private import private_dir

DEFAULT_LAYOUT = {"artifacts": "artifacts", "scratch": "scratch", "manifests": "manifests"}


def _sandbox_error(message: str) -> ValueError:
    # Recorded as ``ValueError``, as the contract names it; permanent, so the runner never retries it.
    return InvalidValue(message)


@dataclass(slots=True)
class JobWorkspace:
    """``<work_root>/<flow_id>/<job_id>/<run_id>/`` and its three subdirectories."""

    work_root: Path
    root: Path
    artifacts: Path
    scratch: Path
    manifests: Path
    created: bool = False

    @classmethod
    def for_job(
        cls, work_root: Path, flow_id: str, job_id: str, run_id: str, layout: dict[str, str] | None = None
    ) -> JobWorkspace:
        """Compute the paths (nothing is created)."""
        names = {**DEFAULT_LAYOUT, **(layout or {})}
        work_root = work_root.absolute()
        root = work_root / flow_id / job_id / run_id
        return cls(work_root, root, root / names["artifacts"], root / names["scratch"], root / names["manifests"])

    def create(self) -> None:
        """Create the job directory and its subdirectories, private (0700), reused on resume."""
        private_dir(self.root, under=self.work_root)
        for path in (self.artifacts, self.scratch, self.manifests):
            private_dir(path, under=self.root)
        self.created = True

    def ensure(self) -> JobWorkspace:
        """Create the directories on first use; return self."""
        if not self.created:
            self.create()
        return self

    def remove(self) -> None:
        """Delete the job directory (the ``<flow_id>/<job_id>`` parents stay)."""
        if self.created or self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)


def recorded_workspace(path: str, flow_id: str, job_id: str, run_id: str) -> Path | None:
    """The directory a job recorded as its workspace, when it is one here: an absolute path ending in
    ``<flow_id>/<job_id>/<run_id>`` that is a real directory (not a symlink). None otherwise (gone, on another
    machine, or a record that does not name a workspace, which is never deleted)."""
    candidate = Path(path)
    if not candidate.is_absolute() or candidate.parts[-3:] != (flow_id, job_id, run_id):
        return None
    if ".." in candidate.parts or candidate.is_symlink() or not candidate.is_dir():
        return None
    return candidate


def resolve_in_sandbox(
    path: str | os.PathLike[str], *, artifacts: Path, work_root: Path, strict: bool = True, enterprise: bool = False
) -> Path:
    """Resolve a step path: relative to ``artifacts``; absolute only under the allowed roots, crossing no symlink."""
    raw = Path(os.path.expanduser(os.fspath(path)))
    candidate = raw if raw.is_absolute() else artifacts / raw
    normal = Path(os.path.normpath(candidate))
    if not strict and not enterprise:
        return normal
    roots = [artifacts.absolute()] if enterprise else [work_root.absolute(), artifacts.absolute()]
    for root in roots:
        if normal == root or root in normal.parents:
            _refuse_symlinks(root, normal)
            return normal
    if enterprise:
        raise _sandbox_error(f"Path escapes job artifacts dir in enterprise mode: {path}")
    raise _sandbox_error(f"Path not under allowed roots: {path}. Allowed roots: {[str(r) for r in roots]}")


def _refuse_symlinks(root: Path, target: Path) -> None:
    current = root
    for part in target.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise _sandbox_error(f"Path contains symlink (sandbox blocked): {target}")
