"""The context a legacy (aetherflow-core 0.0.14) step receives as ``self.ctx``, built on the typed ``StepContext``.

Import-light on purpose: standard library and ``aetherflow.api`` only.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow import api
from aetherflow.errors import LockBusy

__all__ = ["LegacyConnectors", "LegacyRunContext", "LegacySettings"]


@dataclass(frozen=True)
class LegacySettings:
    """The part of the upstream settings object legacy steps read."""

    work_root: Path


class LegacyConnectors:
    """``ctx.connectors``: ``[<resource>]``, ``get(kind=, name=)`` and the per-kind shortcuts."""

    def __init__(self, ctx: api.StepContext) -> None:
        self._ctx = ctx

    def get(self, *, kind: str, name: str, cache: str | None = None) -> Any:
        """The connector of resource ``name``, which must be of ``kind`` (``cache`` is the resource's policy)."""
        return self._ctx.connector(name, kind=kind)

    def __getitem__(self, name: str) -> Any:
        if name not in self._ctx.resource_kinds():
            raise KeyError(name)
        return self._ctx.connector(name)

    def __contains__(self, name: object) -> bool:
        return name in self._ctx.resource_kinds()

    def db(self, name: str, *, cache: str | None = None) -> Any:
        """The ``db`` connector ``name``."""
        return self.get(kind="db", name=name, cache=cache)

    def rest(self, name: str, *, cache: str | None = None) -> Any:
        """The ``rest`` connector ``name``."""
        return self.get(kind="rest", name=name, cache=cache)

    def sftp(self, name: str, *, cache: str | None = None) -> Any:
        """The ``sftp`` connector ``name``."""
        return self.get(kind="sftp", name=name, cache=cache)

    def smb(self, name: str, *, cache: str | None = None) -> Any:
        """The ``smb`` connector ``name``."""
        return self.get(kind="smb", name=name, cache=cache)

    def mail(self, name: str, *, cache: str | None = None) -> Any:
        """The ``mail`` connector ``name``."""
        return self.get(kind="mail", name=name, cache=cache)

    def archive(self, name: str, *, cache: str | None = None) -> Any:
        """The ``archive`` connector ``name``."""
        return self.get(kind="archive", name=name, cache=cache)


@dataclass
class LegacyRunContext:
    """The upstream ``RunContext`` surface a legacy step uses, on top of the typed ``StepContext``."""

    step_ctx: api.StepContext
    env: dict[str, str] = field(init=False)
    run_id: str = field(init=False)
    flow_id: str = field(init=False)
    work_root: Path = field(init=False)
    settings: LegacySettings = field(init=False)
    connectors: LegacyConnectors = field(init=False)
    log: logging.Logger = field(init=False)
    _locks: dict[str, ExitStack] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        ctx = self.step_ctx
        self.env = dict(ctx.env)
        self.run_id = ctx.run_id
        self.flow_id = ctx.flow_id
        self.work_root = Path(ctx.work_root)
        self.settings = LegacySettings(self.work_root)
        self.connectors = LegacyConnectors(ctx)
        self.log = logging.getLogger(f"aetherflow.plugins.{ctx.step_type}")

    @property
    def layout(self) -> dict[str, str]:
        """Workspace sub-directory names (``artifacts``, ``scratch``, ``manifests``)."""
        ctx = self.step_ctx
        names = (ctx.artifacts_dir.name, ctx.scratch_dir.name, ctx.manifests_dir.name)
        return dict(zip(("artifacts", "scratch", "manifests"), names, strict=True))

    def job_dir(self, job_id: str) -> Path:
        """``<work_root>/<flow_id>/<job_id>/<run_id>`` (created)."""
        if job_id == self.step_ctx.job_id:
            return self.step_ctx.artifacts_dir.parent
        path = self.work_root / self.flow_id / job_id / self.run_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifacts_dir(self, job_id: str) -> Path:
        """The job's artifacts directory (created)."""
        return self._sub(job_id, "artifacts")

    def scratch_dir(self, job_id: str) -> Path:
        """The job's scratch directory (created)."""
        return self._sub(job_id, "scratch")

    def manifests_dir(self, job_id: str) -> Path:
        """The job's manifests directory (created)."""
        return self._sub(job_id, "manifests")

    def _sub(self, job_id: str, which: str) -> Path:
        if job_id == self.step_ctx.job_id:
            path: Path = getattr(self.step_ctx, f"{which}_dir")
            return path
        path = self.job_dir(job_id) / self.layout[which]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def acquire_lock(self, key: str, ttl_seconds: int) -> bool:
        """Take the state-store lock ``key`` for this run; False when another live run holds it."""
        if key in self._locks:
            return True
        stack = ExitStack()
        try:
            stack.enter_context(self.step_ctx.hold_lock(key, ttl_seconds=int(ttl_seconds)))
        except LockBusy:
            stack.close()
            return False
        self._locks[key] = stack
        return True

    def release_lock(self, key: str) -> None:
        """Release lock ``key`` if this step holds it."""
        stack = self._locks.pop(key, None)
        if stack is not None:
            stack.close()

    def release_all_locks(self) -> None:
        """Release every lock the step still holds (called when it returns)."""
        for key in list(self._locks):
            self.release_lock(key)
