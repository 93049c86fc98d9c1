"""The command-line side of re-running jobs: which jobs ``--rerun`` (``AETHERFLOW_RERUN``) names, checked as input.

Everything here is exit 2 with one line and nothing recorded: a request that names no job or an unknown job, one
combined with ``--flow-job`` (a re-run resumes the whole run; ``--flow-job`` runs one job of it), or one for a run
id the store does not know (there is nothing to re-run in a run that never started).
"""

from __future__ import annotations

from collections.abc import Sequence

from aetherflow.errors import InputError
from aetherflow.spec.load import did_you_mean
from aetherflow.state.store import StateStore


def rerun_jobs(text: str | None, *, flow_job: str | None, job_ids: Sequence[str]) -> tuple[str, ...]:
    """The job ids a re-run request names, each once in the order given; ``()`` without a request."""
    if text is None:
        return ()
    if flow_job is not None:
        raise InputError(
            "--rerun (AETHERFLOW_RERUN) cannot be combined with --flow-job (AETHERFLOW_FLOW_JOB): "
            "a re-run resumes the whole run",
            loc="--rerun",
        )
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not names:
        raise InputError("--rerun (AETHERFLOW_RERUN) names no job; give JOB[,JOB...]", loc="--rerun")
    for name in names:
        if name not in job_ids:
            hint = did_you_mean(name, job_ids) or f" (jobs: {', '.join(job_ids)})"
            raise InputError(f"Unknown job for --rerun: {name!r}{hint}", loc="--rerun")
    return names


def check_rerun_run(store: StateStore, flow_id: str, run_id: str) -> None:
    """A re-run needs the run to exist in the store (InputError otherwise)."""
    if store.get_run(flow_id, run_id) is None:
        raise InputError(
            f"Unknown run for --rerun: {run_id} (flow {flow_id}) in {store.describe()}; "
            "pass the --run-id of an existing run",
            loc="--run-id",
        )
