"""Retention: pruning old runs together with the workspace directories their jobs recorded.

``state prune`` and the automatic prune at the end of a run both come here. The rows go in one transaction (the
store's); the directories are deleted afterwards, only those that exist on this machine: a workspace recorded by
a pod on another node (or an emptyDir long gone) is reported as unreachable, never guessed at.
"""

from __future__ import annotations

import shutil

from aetherflow.state.store import StateStore
from aetherflow.workspace import recorded_workspace


def prune_state(
    store: StateStore, older_than_days: float, *, flow_id: str | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Prune the store; the row counts plus ``workspaces_removed`` and ``workspaces_unreachable``."""
    pruned = store.prune(older_than_days, flow_id=flow_id, dry_run=dry_run)
    removed = unreachable = 0
    for stored in pruned.workspaces:
        directory = recorded_workspace(stored.path, stored.flow_id, stored.job_id, stored.run_id)
        if directory is None:
            unreachable += 1
            continue
        if not dry_run:
            shutil.rmtree(directory, ignore_errors=True)
        removed += 1
    return {**pruned.counts, "workspaces_removed": removed, "workspaces_unreachable": unreachable}
