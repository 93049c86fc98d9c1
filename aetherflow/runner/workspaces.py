"""Job workspace directories over a run's life: recorded when a job starts, removed once nothing can need them.

``cleanup_policy``:

* ``on_success`` (default): a job's directory is removed once the job and every job that needs it (depends on it,
  or reads it in ``when`` or a template) have a SUCCESS or SKIPPED record in the run, so a later job can read an
  earlier job's files, also across ``--flow-job`` invocations of one run (the statuses come from the store).
* ``always``: the same, and every directory of the run is removed when the run ends FAILED with exit 3 (retrying
  cannot help, so nothing will read them). Never at exit 1, at the overlap code, or when interrupted: a retry or
  a resume may still need them.
* ``never``: directories stay (retention is the operator's).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aetherflow.errors import ExitCode
from aetherflow.plan.needs import job_needs, needed_by
from aetherflow.state.store import FINAL
from aetherflow.workspace import JobWorkspace, recorded_workspace

if TYPE_CHECKING:
    from aetherflow.plan import Plan
    from aetherflow.state.store import JobRecord


def workspace_gone(record: JobRecord | None) -> str | None:
    """The recorded workspace path of a job when that directory no longer exists here, else None."""
    if record is None or not record.workspace_path:
        return None
    return None if Path(record.workspace_path).is_dir() else record.workspace_path


class RunWorkspaces:
    """The workspaces of one run of a plan under its cleanup policy."""

    def __init__(self, plan: Plan, work_root: Path, run_id: str) -> None:
        self.plan = plan
        self.flow_id = plan.meta.flow_id
        self.work_root = work_root
        self.run_id = run_id
        self.policy = plan.meta.cleanup_policy
        self.needs = job_needs(plan)
        self.users = needed_by(self.needs)
        self._removed: set[str] = set()

    def for_job(self, job_id: str) -> JobWorkspace:
        """The job's workspace in this run (paths only)."""
        return JobWorkspace.for_job(self.work_root, self.flow_id, job_id, self.run_id, dict(self.plan.meta.layout))

    def start(self, job_id: str) -> JobWorkspace:
        """The job's workspace as it starts. Its directories are created when a step first asks for a path: a job
        that touches no file costs no directory (on a journaling disk a create and remove cost several commits).
        A workspace left by an earlier attempt is reused."""
        workspace = self.for_job(job_id)
        if workspace.root.is_dir():
            workspace.created = True
        self._removed.discard(job_id)
        return workspace

    def remove(self, job_id: str, recorded: str | None = None) -> None:
        """Delete the job's directory, and the one its record names when that is another (an earlier work root)."""
        workspace = self.for_job(job_id)
        workspace.remove()
        if recorded and Path(recorded) != workspace.root:
            directory = recorded_workspace(recorded, self.flow_id, job_id, self.run_id)
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
        self._removed.add(job_id)

    def sweep(self, jobs: Mapping[str, JobRecord]) -> list[str]:
        """Remove every directory no job can need any more (by the run's job records); the job ids removed."""
        if self.policy == "never":
            return []
        done = [
            job.id
            for job in self.plan.jobs
            if job.id not in self._removed
            and _final(jobs, job.id)
            and all(_final(jobs, user) for user in self.users.get(job.id, ()))
        ]
        for job_id in done:
            record = jobs.get(job_id)
            self.remove(job_id, record.workspace_path if record is not None else None)
        return done

    def sweep_after(self, job_id: str, status: str, load: Callable[[], Mapping[str, JobRecord]]) -> list[str]:
        """Sweep after ``job_id`` ended: only it and the jobs it needs can have become removable. The run's records
        are read only when one of those has users whose statuses decide it, so a run of many independent jobs does
        not read every job record after every job (``sweep`` at the end of the invocation catches the rest)."""
        if self.policy == "never":
            return []
        candidates = [job_id, *sorted(self.needs.get(job_id, ()))]
        candidates = [j for j in candidates if j not in self._removed]
        if candidates == [job_id] and not self.users.get(job_id):
            if status not in FINAL:
                return []
            self.remove(job_id)  # started by this invocation: its recorded path is this workspace
            return [job_id]
        if not candidates:
            return []
        jobs = load()
        done = [j for j in candidates if _final(jobs, j) and all(_final(jobs, u) for u in self.users.get(j, ()))]
        for done_id in done:
            record = jobs.get(done_id)
            self.remove(done_id, record.workspace_path if record is not None else None)
        return done

    def at_end(self, jobs: Mapping[str, JobRecord], status: str, exit_code: int) -> list[str]:
        """The run ended: under ``always`` with exit 3 every directory of the run goes; otherwise nothing more than
        each job's end already freed (a retry or a resume may still need the rest)."""
        if self.policy != "always" or status != "FAILED" or exit_code != ExitCode.PERMANENT:
            return []
        ids = [job.id for job in self.plan.jobs]
        for job_id in ids:
            record = jobs.get(job_id)
            self.remove(job_id, record.workspace_path if record is not None else None)
        return ids


def _final(jobs: Mapping[str, JobRecord], job_id: str) -> bool:
    record = jobs.get(job_id)
    return record is not None and record.status in FINAL


def recorded_path(workspace: JobWorkspace) -> str | None:
    """The path to record for a job's workspace: only one that exists, so a job that never wrote a file can never
    look like a dependency whose files are gone."""
    return str(workspace.root) if workspace.created or workspace.root.is_dir() else None
