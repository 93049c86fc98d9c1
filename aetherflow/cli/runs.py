"""``aetherflow runs list`` and ``aetherflow runs show``: read the state store, never create it."""

from __future__ import annotations

import argparse
from typing import Any

from aetherflow.cli.common import add_state_args, dumps, resolve_state, table
from aetherflow.errors import retryable_for


def register(sub: Any) -> None:
    """Add ``runs list`` and ``runs show``."""
    runs = sub.add_parser("runs", help="list and inspect recorded runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="{list,show}")
    runs_sub.required = True
    lst = runs_sub.add_parser("list", help="runs, newest first")
    add_state_args(lst)
    lst.add_argument("--status", help="only runs with this status")
    lst.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    lst.add_argument("--json", action="store_true", help="one line of JSON")
    lst.set_defaults(handler=_list)
    show = runs_sub.add_parser("show", help="one run with its jobs and steps")
    show.add_argument("run_id")
    add_state_args(show)
    show.add_argument("--json", action="store_true", help="one line of JSON")
    show.set_defaults(handler=_show)


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    from aetherflow.state.backends import open_store

    target = resolve_state(args)
    return target, open_store(target.path, create=False)


def _list(args: argparse.Namespace) -> int:
    target, store = _open(args)
    try:
        runs = store.list_runs(target.flow_id, args.status, args.limit)
    finally:
        store.close()
    if args.json:
        print(
            dumps(
                [
                    {
                        "run_id": r.run_id,
                        "flow_id": r.flow_id,
                        "status": r.status,
                        "attempt": r.attempt,
                        "started_at": r.started_at,
                        "ended_at": r.ended_at,
                        "exit_code": r.exit_code,
                    }
                    for r in runs
                ]
            )
        )
        return 0
    rows = [
        [
            r.run_id,
            r.flow_id,
            r.status,
            str(r.attempt),
            r.started_at,
            r.ended_at or "-",
            "-" if r.exit_code is None else str(r.exit_code),
        ]
        for r in runs
    ]
    print(table(["RUN_ID", "FLOW_ID", "STATUS", "ATTEMPT", "STARTED_AT", "ENDED_AT", "EXIT"], rows))
    return 0


def _show(args: argparse.Namespace) -> int:
    import sys

    from aetherflow.errors import InputError

    target, store = _open(args)
    try:
        if target.flow_id is not None:
            run = store.get_run(target.flow_id, args.run_id)
        else:
            found = store.runs_with_id(args.run_id)
            if len(found) > 1:
                raise InputError(f"Run id {args.run_id} exists for several flows; pass --flow-id")
            run = found[0] if found else None
        if run is None:
            print(f"error: Run not found: {args.run_id}", file=sys.stderr)
            return 1
        jobs = store.load_jobs(run.flow_id, run.run_id)
        steps = store.load_steps(run.flow_id, run.run_id)
    finally:
        store.close()
    doc = _document(run, jobs, steps, target.declared_jobs)
    if args.json:
        print(dumps(doc))
    else:
        print(_text(run, doc))
    return 0


def _document(
    run: Any, jobs: dict[str, Any], steps: dict[tuple[str, str], Any], declared: dict[str, list[str]] | None
) -> dict[str, Any]:
    job_ids = list(jobs)
    if declared is not None:
        order = {job_id: i for i, job_id in enumerate(declared)}
        created = {job_id: i for i, job_id in enumerate(job_ids)}
        job_ids.sort(key=lambda j: (order.get(j, len(order)), created[j]))
    out_jobs: dict[str, Any] = {}
    for job_id in job_ids:
        rec = jobs[job_id]
        own = [key for key in steps if key[0] == job_id]
        if declared is not None and job_id in declared:
            step_order = {s: i for i, s in enumerate(declared[job_id])}
            step_created = {key: i for i, key in enumerate(own)}
            own.sort(key=lambda k: (step_order.get(k[1], len(step_order)), step_created[k]))
        out_jobs[job_id] = {
            "status": rec.status,
            "error": rec.reason if rec.status == "BLOCKED" else rec.error,
            "outputs": rec.outputs,
            "steps": {
                key[1]: {
                    "status": steps[key].status,
                    "attempts": steps[key].attempts,
                    "error": steps[key].error,
                    "outputs": steps[key].outputs,
                }
                for key in own
            },
        }
    return {
        "run_id": run.run_id,
        "flow_id": run.flow_id,
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "exit_code": run.exit_code,
        "retryable": retryable_for(run.exit_code),
        "bundle_fingerprint": run.bundle_fingerprint,
        "jobs": out_jobs,
    }


def _text(run: Any, doc: dict[str, Any]) -> str:
    lines = [
        f"run {run.run_id} flow={run.flow_id} status={run.status} attempt={run.attempt} "
        f"started={run.started_at} ended={run.ended_at or '-'} bundle={run.bundle_fingerprint or '-'}"
    ]
    for job_id, job in doc["jobs"].items():
        why = f" ({str(job['error']).splitlines()[0]})" if job["error"] else ""
        lines.append(f"  job {job_id} {job['status']}{why}")
        for step_id, step in job["steps"].items():
            lines.append(f"    step {step_id} {step['status']} attempts={step['attempts']}")
            if step["error"]:
                lines.append(f"      error: {str(step['error']).splitlines()[0]}")
    return "\n".join(lines)
