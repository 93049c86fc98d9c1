"""``aetherflow run`` and ``aetherflow container``: both enter ``aetherflow.edge.entrypoint``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``run`` and ``container`` commands."""
    run = sub.add_parser("run", help="run a flow once (resumes when the run id exists)")
    run.add_argument("--flow-yaml", help="flow file (required unless a bundle manifest names entry_flow)")
    run.add_argument("--run-id", help="run id; an existing one resumes that run")
    run.add_argument("--flow-job", help="run only this job, reading its dependencies from the same run id")
    run.add_argument(
        "--rerun",
        metavar="JOB[,JOB...]",
        help="reset these jobs and every job depending on them in the run named by --run-id, then resume it",
    )
    run.add_argument("--bundle-manifest", help="bundle manifest to sync and run from")
    run.add_argument(
        "--allow-stale-bundle", action="store_true", default=None, help="run the last synced bundle when the sync fails"
    )
    run.add_argument(
        "--state",
        help="state database path or postgresql:// URL (overrides AETHERFLOW_STATE_URL, AETHERFLOW_STATE_PATH and "
        "flow.state.path)",
    )
    run.add_argument("--work-root", help="work root (overrides AETHERFLOW_WORK_ROOT and flow.workspace.root)")
    run.add_argument("--locks-scope", choices=["none", "job", "flow"], help="implicit locks (overrides the flow)")
    run.set_defaults(handler=_run)

    container = sub.add_parser("container", help="the image entrypoint: run with every input from AETHERFLOW_*")
    container.set_defaults(handler=_container)


def _run(args: argparse.Namespace) -> int:
    from aetherflow.edge.entrypoint import RunRequest, main

    return main(
        RunRequest(
            flow_yaml=args.flow_yaml,
            run_id=args.run_id,
            flow_job=args.flow_job,
            rerun=args.rerun,
            state=args.state,
            work_root=args.work_root,
            locks_scope=args.locks_scope,
            bundle_manifest=args.bundle_manifest,
            allow_stale_bundle=args.allow_stale_bundle,
        )
    )


def _container(_args: argparse.Namespace) -> int:
    from aetherflow.edge.entrypoint import RunRequest, main

    return main(RunRequest(container=True))
