"""Helpers shared by the state-reading commands: finding the flow file and the state database."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetherflow.errors import InputError

if TYPE_CHECKING:
    from aetherflow.state.location import Location

CONTAINER_FLOW_FILE = "/etc/aetherflow/flows/flow.yaml"


def add_state_args(parser: argparse.ArgumentParser, *, flow_id: bool = True, exclusive: bool = True) -> None:
    """``--flow-yaml PATH | --state PATH`` (and ``--flow-id``); both together when not ``exclusive`` (the state
    from ``--state``, the flow id and jobs from the flow file)."""
    group = parser.add_mutually_exclusive_group() if exclusive else parser.add_argument_group("flow and state")
    group.add_argument("--flow-yaml", help="flow file whose flow.state.path (and flow id) to use")
    group.add_argument(
        "--state", help="state database path (a directory means <dir>/<flow_id>.db) or a postgresql:// URL"
    )
    if flow_id:
        parser.add_argument("--flow-id", help="flow id (needed when the state path is a directory)")


def discover_flow_file(explicit: str | None) -> str | None:
    """``--flow-yaml``, else ``AETHERFLOW_FLOW_FILE``, else ``./flow.yaml``, else the container's flow file."""
    if explicit:
        return explicit
    env = os.environ.get("AETHERFLOW_FLOW_FILE")
    if env:
        return env
    for candidate in ("flow.yaml", CONTAINER_FLOW_FILE):
        if Path(candidate).is_file():
            return candidate
    return None


@dataclass(frozen=True, slots=True)
class StateTarget:
    """The database a query command reads, and the flow it belongs to when known."""

    path: Location  # the SQLite file, or the PostgreSQL URL
    flow_id: str | None
    declared_jobs: dict[str, list[str]] | None  # job id -> step ids, in declaration order, when the flow is known


def resolve_state(args: argparse.Namespace) -> StateTarget:
    """The first of ``--state`` (a path or a URL), ``AETHERFLOW_STATE_URL``, ``AETHERFLOW_STATE_PATH``, the discovered
    flow's ``flow.state.path`` (docs/reference/cli.md)."""
    from aetherflow.state.backends import first_location, resolve_location
    from aetherflow.state.location import is_url

    flow_id: str | None = getattr(args, "flow_id", None)
    chosen = first_location(
        (getattr(args, "state", None), "--state"),
        (os.environ.get("AETHERFLOW_STATE_URL"), "AETHERFLOW_STATE_URL"),
        (os.environ.get("AETHERFLOW_STATE_PATH"), "AETHERFLOW_STATE_PATH"),
    )
    declared: dict[str, list[str]] | None = None
    explicit_flow = getattr(args, "flow_yaml", None)
    # The flow is read only when it is asked for or needed: a stray ./flow.yaml must not break `--state` queries.
    needs_flow = explicit_flow or chosen is None or (flow_id is None and not is_url(chosen[0]) and _is_dir(chosen[0]))
    flow_file = discover_flow_file(explicit_flow) if needs_flow else None
    plan = None
    if flow_file is not None:
        plan = load_plan(flow_file)
        flow_id = flow_id or plan.meta.flow_id
        declared = {job.id: [s.id for s in job.steps] for job in sorted(plan.jobs, key=lambda j: j.index)}
    if chosen is None:
        if plan is None:
            raise InputError(
                "No state database: pass --state or --flow-yaml (or set AETHERFLOW_STATE_URL or AETHERFLOW_STATE_PATH)"
            )
        chosen = (plan.meta.state_path, "flow.state.path")
    return StateTarget(resolve_location(*chosen, flow_id), flow_id, declared)


def _is_dir(path: str) -> bool:
    return path.endswith("/") or Path(path).is_dir()


def load_plan(flow_file: str) -> Any:
    """The Plan of ``flow_file`` as a run would build it (env files, plugins, bundle); invalid: SpecErrors (exit 2)."""
    from aetherflow.edge.inputs import prepare_inputs
    from aetherflow.plan import build_plan
    from aetherflow.settings import load_settings

    inputs = prepare_inputs(os.environ, load_settings(os.environ), flow_yaml=flow_file)
    return build_plan(
        inputs.flow_path or flow_file,
        settings=inputs.settings,
        env=inputs.env,
        registry=inputs.registry,
        **inputs.plan_options(),
    )


def env_redactor() -> Any:
    """A redactor for what a query command prints: the settings' secrets and the secret-named env variables."""
    from aetherflow.redaction import Redactor
    from aetherflow.settings import load_settings

    try:
        redactor = Redactor.for_settings(load_settings(os.environ))
    except InputError:
        redactor = Redactor()  # a bad setting must not hide the run from the on-call engineer
    redactor.add_env(os.environ)
    return redactor


def dumps(obj: Any) -> str:
    """Machine output: one line, ``ensure_ascii=False``, default separators."""
    return json.dumps(obj, ensure_ascii=False)


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns separated by two spaces, left-aligned to the widest value; the last column unpadded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  ".join(cells))
    return "\n".join(lines)
