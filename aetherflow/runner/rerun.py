"""Resetting jobs of a run before it resumes: the jobs ``--rerun`` names (and every job that needs them), and,
on a plain resume, a finished dependency whose workspace is gone (a new pod on an emptyDir).

A reset job has no job or step record again (its attempt history stays, and attempt numbers continue), and its
workspace directory for the run is deleted, so no old manifest or marker makes it skip work. The reset is one
store transaction, made once the run lock is held. A ``--rerun`` request is stored with the run together with the
Kubernetes Job UID that made it: a retried pod of the same Job with the same request resumes without resetting again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aetherflow.api import Status
from aetherflow.errors import AetherFlowError, Permanent
from aetherflow.plan.needs import with_dependents
from aetherflow.runner.workspaces import RunWorkspaces, workspace_gone
from aetherflow.state.store import FINAL

if TYPE_CHECKING:
    from aetherflow.runner.journal import RunJournal
    from aetherflow.state.store import JobRecord


@dataclass(slots=True)
class Reset:
    """What was reset before the attempt (nothing, a re-run request, or gone workspaces)."""

    jobs: list[str] = field(default_factory=list)
    #: a re-run was requested (whether it reset now or an earlier pod of the same Job did)
    rerun: bool = False


def rerun_request(jobs: Sequence[str], job_uid: str | None) -> str:
    """The request as the run stores it (jobs sorted: the same request in any order is the same request)."""
    return json.dumps({"jobs": sorted(set(jobs)), "job_uid": job_uid}, sort_keys=True)


def reset_before_attempt(
    journal: RunJournal,
    workspaces: RunWorkspaces,
    *,
    rerun: Sequence[str],
    job_uid: str | None,
    flow_job: str | None,
) -> Reset:
    """Reset what this invocation must run again; call with the run lock held, before the attempt starts."""
    store = journal.store
    run = store.get_run(journal.flow_id, journal.run_id)
    if run is None:
        return Reset()
    jobs = store.load_jobs(journal.flow_id, journal.run_id)
    if rerun:
        return Reset(_rerun(journal, workspaces, run.rerun_request, jobs, rerun, job_uid), rerun=True)
    if flow_job is not None:
        return Reset()  # one job of the run: a gone dependency fails that job instead (``check_dependencies``)
    gone = _gone_dependencies(workspaces, jobs, _will_run(workspaces, jobs), cascade=True)
    for dep, job_id, path in gone:
        journal.workspace_gone(dep, needed_by=job_id, path=path, action="reset")
    reset = list(dict.fromkeys(dep for dep, _job, _path in gone))
    if reset:
        _reset(journal, workspaces, jobs, reset, reason="workspace_gone")
    return Reset(reset)


def check_dependencies(workspaces: RunWorkspaces, jobs: Mapping[str, JobRecord], job_id: str) -> None:
    """Under ``--flow-job``: DependencyWorkspaceGone for the first dependency of ``job_id`` that succeeded but
    whose workspace is gone (resetting it would run a job this invocation was not asked to run)."""
    for dep, _job, _path in _gone_dependencies(workspaces, jobs, {job_id}, cascade=False):
        raise DependencyWorkspaceGone(dep)


def _rerun(
    journal: RunJournal,
    workspaces: RunWorkspaces,
    stored: str | None,
    jobs: Mapping[str, JobRecord],
    names: Sequence[str],
    job_uid: str | None,
) -> list[str]:
    request = rerun_request(names, job_uid)
    reset = with_dependents(workspaces.plan, names, workspaces.needs)
    if job_uid is not None and stored == request:
        journal.rerun_already_reset(reset, job_uid)  # a retried pod of the Job that asked
        return []
    for dep, job_id, path in _gone_dependencies(workspaces, jobs, set(reset), cascade=False):
        # never run a job that was not asked for: the job that needs its files fails naming the path
        journal.workspace_gone(dep, needed_by=job_id, path=path, action="none")
    _reset(journal, workspaces, jobs, reset, reason="rerun", requested=names, request=request)
    return reset


def _reset(
    journal: RunJournal,
    workspaces: RunWorkspaces,
    jobs: Mapping[str, JobRecord],
    reset: Sequence[str],
    *,
    reason: str,
    requested: Sequence[str] | None = None,
    request: str | None = None,
) -> None:
    # Directories first: killed in between, the request is not stored yet and the next pod resets again; the other
    # order could leave a stored request with old directories whose markers would make steps skip work.
    for job_id in reset:
        record = jobs.get(job_id)
        workspaces.remove(job_id, record.workspace_path if record is not None else None)
    journal.jobs_reset(reset, reason=reason, requested=requested, request=request)


def attempt_floor(rows: Sequence[Sequence[object]]) -> dict[tuple[str, str], int]:
    """The highest attempt number of each (job, step) among attempt rows (``load_attempts``): a step whose record
    was reset starts its numbering after them."""
    floor: dict[tuple[str, str], int] = {}
    for row in rows:
        key, attempt = (str(row[0]), str(row[1])), int(str(row[2]))
        floor[key] = max(floor.get(key, 0), attempt)
    return floor


def _will_run(workspaces: RunWorkspaces, jobs: Mapping[str, JobRecord]) -> set[str]:
    return {job.id for job in workspaces.plan.jobs if job.id not in jobs or jobs[job.id].status not in FINAL}


def _gone_dependencies(
    workspaces: RunWorkspaces, jobs: Mapping[str, JobRecord], will_run: set[str], *, cascade: bool
) -> list[tuple[str, str, str]]:
    """(dependency, job, path) for each SUCCESS dependency of a job that will run whose workspace is gone.

    With ``cascade`` a dependency found joins the jobs that will run, so its own dependencies are checked too (the
    plan's order puts every job after the jobs it needs: one pass from the end sees them all).
    """
    running = set(will_run)
    found: list[tuple[str, str, str]] = []
    for job in reversed(workspaces.plan.jobs):
        if job.id not in running:
            continue
        for dep in sorted(workspaces.needs.get(job.id, ())):
            record = jobs.get(dep)
            path = workspace_gone(record) if record is not None and record.status == Status.SUCCESS else None
            if path is None or dep in running:
                continue
            found.append((dep, job.id, path))
            if cascade:
                running.add(dep)
    return found


class DependencyWorkspaceGone(Permanent, AetherFlowError):
    """Under ``--flow-job``: a dependency succeeded, but its workspace is gone; only re-running it can help."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"Workspace of dependency {dependency} is gone; rerun it")
        self.dependency = dependency
