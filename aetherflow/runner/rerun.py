"""Resetting jobs of a run before it resumes: the jobs ``--rerun`` names (and every job that needs them), and,
on a plain resume, a finished dependency whose workspace is gone (a new pod on an emptyDir).

A reset job has no job or step record again (its attempt history stays, and attempt numbers continue), and its
workspace directory for the run is deleted, so no old manifest or marker makes it skip work. The reset is one
store transaction, made once the run lock is held. A ``--rerun`` request is stored with the run together with the
Kubernetes Job UID that made it: a retried pod of the same Job with the same request resumes without resetting again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aetherflow.api import Status
from aetherflow.errors import AetherFlowError, Permanent
from aetherflow.plan.needs import with_dependents
from aetherflow.runner.workspaces import RunWorkspaces, workspace_gone
from aetherflow.state.store import FINAL

if TYPE_CHECKING:
    from aetherflow.state.store import JobRecord, StateStore

Emit = Callable[..., None]


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
    store: StateStore,
    workspaces: RunWorkspaces,
    *,
    run_id: str,
    rerun: Sequence[str],
    job_uid: str | None,
    flow_job: str | None,
    emit: Emit,
) -> Reset:
    """Reset what this invocation must run again; call with the run lock held, before the attempt starts."""
    flow_id = workspaces.flow_id
    run = store.get_run(flow_id, run_id)
    if run is None:
        return Reset()
    jobs = store.load_jobs(flow_id, run_id)
    if rerun:
        return Reset(_rerun(store, workspaces, run.rerun_request, jobs, run_id, rerun, job_uid, emit), rerun=True)
    if flow_job is not None:
        return Reset()  # one job of the run: a gone dependency fails that job instead (``check_dependencies``)
    gone = _gone_dependencies(workspaces, jobs, _will_run(workspaces, jobs), cascade=True)
    for dep, job_id, path in gone:
        emit("workspace_gone", level="WARNING", job_id=dep, needed_by=job_id, path=path, action="reset")
    reset = list(dict.fromkeys(dep for dep, _job, _path in gone))
    if reset:
        _reset(store, workspaces, jobs, run_id, reset, None)
        emit("jobs_reset", jobs=reset, reason="workspace_gone")
    return Reset(reset)


def check_dependencies(workspaces: RunWorkspaces, jobs: Mapping[str, JobRecord], job_id: str) -> None:
    """Under ``--flow-job``: WorkspaceGone for the first dependency of ``job_id`` that succeeded but whose workspace
    is gone (resetting it would run a job this invocation was not asked to run)."""
    for dep, _job, _path in _gone_dependencies(workspaces, jobs, {job_id}, cascade=False):
        raise WorkspaceGone(dep)


def _rerun(
    store: StateStore,
    workspaces: RunWorkspaces,
    stored: str | None,
    jobs: Mapping[str, JobRecord],
    run_id: str,
    names: Sequence[str],
    job_uid: str | None,
    emit: Emit,
) -> list[str]:
    request = rerun_request(names, job_uid)
    reset = with_dependents(workspaces.plan, names, workspaces.needs)
    if job_uid is not None and stored == request:
        emit("rerun_already_reset", jobs=reset, job_uid=job_uid)  # a retried pod of the Job that asked
        return []
    for dep, job_id, path in _gone_dependencies(workspaces, jobs, set(reset), cascade=False):
        # never run a job that was not asked for: the job that needs its files fails naming the path
        emit("workspace_gone", level="WARNING", job_id=dep, needed_by=job_id, path=path, action="none")
    _reset(store, workspaces, jobs, run_id, reset, request)
    emit("jobs_reset", jobs=reset, requested=list(names), reason="rerun")
    return reset


def _reset(
    store: StateStore,
    workspaces: RunWorkspaces,
    jobs: Mapping[str, JobRecord],
    run_id: str,
    reset: Sequence[str],
    request: str | None,
) -> None:
    # Directories first: killed in between, the request is not stored yet and the next pod resets again; the other
    # order could leave a stored request with old directories whose markers would make steps skip work.
    for job_id in reset:
        record = jobs.get(job_id)
        workspaces.remove(job_id, record.workspace_path if record is not None else None)
    store.reset_jobs(workspaces.flow_id, run_id, reset, rerun_request=request)


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


class WorkspaceGone(Permanent, AetherFlowError):
    """Under ``--flow-job``: a dependency succeeded, but its workspace is gone; only re-running it can help."""

    def __init__(self, dependency: str) -> None:
        super().__init__(f"Workspace of dependency {dependency} is gone; rerun it")
        self.dependency = dependency
