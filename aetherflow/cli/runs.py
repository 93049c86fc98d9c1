"""``aetherflow runs list`` and ``aetherflow runs show``: read the state store, never create it."""

from __future__ import annotations

import argparse
from typing import Any

from aetherflow.cli import runs_view
from aetherflow.cli.common import add_state_args, dumps, env_redactor, resolve_state
from aetherflow.cli.graph import add_graph_args
from aetherflow.errors import retryable_for


def register(sub: Any) -> None:
    """Add ``runs list`` and ``runs show``."""
    runs = sub.add_parser("runs", help="list and inspect recorded runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="{list,show}")
    runs_sub.required = True
    lst = runs_sub.add_parser("list", help="runs, newest first")
    add_state_args(lst)
    lst.add_argument("--status", help="only runs with this status (e.g. FAILED)")
    lst.add_argument("--flow", metavar="FLOW_ID", help="only runs of this flow id")
    lst.add_argument("--limit", type=int, default=20, help="at most this many runs (default 20)")
    _add_output_args(lst, "adds duration and error")
    lst.set_defaults(handler=_list)
    show = runs_sub.add_parser("show", help="one run with its jobs and steps")
    show.add_argument("run_id")
    add_state_args(show, exclusive=False)
    _add_output_args(show, "adds outputs and attempt history")
    add_graph_args(show, flag=True)
    show.set_defaults(handler=_show)


def _add_output_args(parser: argparse.ArgumentParser, wide: str) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=["table", "wide", "json", "yaml"],
        default="table",
        help=f"table (default), wide ({wide}), json (same as --json) or yaml",
    )
    parser.add_argument("--json", action="store_true", help="one line of JSON (same as -o json)")


def _format(args: argparse.Namespace) -> str:
    return "json" if args.json else str(args.output)


def _colour() -> bool:
    import os
    import sys

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _open(args: argparse.Namespace) -> tuple[Any, Any]:
    from aetherflow.state.backends import open_store

    target = resolve_state(args)
    return target, open_store(target.path, create=False)


def _list(args: argparse.Namespace) -> int:
    target, store = _open(args)
    try:
        runs = store.list_runs(args.flow or target.flow_id, args.status, args.limit)
    finally:
        store.close()
    fmt = _format(args)
    doc = [
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
    if fmt == "json":
        print(dumps(doc))
    elif fmt == "yaml":
        print(_yaml(env_redactor().mask_obj(doc)), end="")
    else:
        print(env_redactor().mask(runs_view.list_text(runs, wide=fmt == "wide", colour=_colour())))
    return 0


def _yaml(doc: Any) -> str:
    import yaml

    return str(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


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
        rows = store.load_attempts(run.flow_id, run.run_id) if _format(args) == "wide" else None
    finally:
        store.close()
    fmt = _format(args)
    if args.graph:
        from aetherflow.cli.graph import run_graph_text

        print(run_graph_text(args, {job_id: rec.status for job_id, rec in jobs.items()}, env_redactor().mask), end="")
    elif fmt == "json":
        print(dumps(_document(run, jobs, steps, target.declared_jobs)))
    elif fmt == "yaml":
        print(_yaml(env_redactor().mask_obj(_document(run, jobs, steps, target.declared_jobs))), end="")
    else:
        # the table keeps the store's order (record creation = execution order), whether the flow is known or not
        wide = fmt == "wide"
        attempts = runs_view.attempts_of(rows) if rows is not None else None
        text = runs_view.show_text(run, jobs, steps, wide=wide, colour=_colour(), attempts=attempts)
        print(env_redactor().mask(text))
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
        "scheduled_at": run.scheduled_at,
        "jobs": out_jobs,
    }
