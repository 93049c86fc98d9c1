"""Which jobs each job needs: its dependencies, and the jobs its `when` and its step templates read.

A job may read an earlier job's files or outputs (``{{jobs.extract.outputs.path}}``) without listing it in
``depends_on`` (upstream flows rely on declaration order), so keeping and re-running workspaces follows this wider
graph, not ``depends_on`` alone: a job's files are kept while a job that needs them may still run, and re-running a
job re-runs every job that needs it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from aetherflow.errors import TemplateSyntaxError
from aetherflow.plan.model import JobSpec, Plan
from aetherflow.templating import has_template, iter_strings, parse


def job_needs(plan: Plan) -> dict[str, set[str]]:
    """Job id -> the ids of the other jobs of ``plan`` it depends on or reads."""
    known = {job.id for job in plan.jobs}
    return {job.id: (_needs(job) & known) - {job.id} for job in plan.jobs}


def needed_by(needs: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The inverse graph: job id -> the jobs that need it."""
    out: dict[str, set[str]] = {job_id: set() for job_id in needs}
    for job_id, deps in needs.items():
        for dep in deps:
            out.setdefault(dep, set()).add(job_id)
    return out


def with_dependents(plan: Plan, names: Iterable[str], needs: Mapping[str, set[str]] | None = None) -> list[str]:
    """``names`` and every job that needs one of them, transitively, in the plan's execution order."""
    graph = needed_by(needs if needs is not None else job_needs(plan))
    chosen: set[str] = set()
    todo = list(names)
    while todo:
        job_id = todo.pop()
        if job_id not in chosen:
            chosen.add(job_id)
            todo.extend(graph.get(job_id, ()))
    return [job.id for job in plan.jobs if job.id in chosen]


def _needs(job: JobSpec) -> set[str]:
    found = set(job.depends_on) | job.when.job_refs()
    for step in job.steps:
        for _loc, text in iter_strings({"inputs": step.inputs, "outputs": step.outputs}, ""):
            if not has_template(text):
                continue
            try:
                template = parse(text, None)
            except TemplateSyntaxError:  # reported by validation; nothing to follow here
                continue
            found.update(tok.path.split(".")[1] for tok in template.tokens if tok.root == "jobs" and "." in tok.path)
    return found
