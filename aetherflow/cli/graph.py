"""``aetherflow graph`` and ``runs show --graph`` (docs/reference/cli.md): a flow as a Mermaid or DOT picture.

The flow is validated as a run would validate it (an invalid flow is exit 2 with its errors, nothing drawn). What is
printed goes through the environment's redactor before it is encoded for the graph language, so a secret is masked
in every form it could take there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aetherflow.observability.graph import GraphJob

__all__ = ["add_graph_args", "register", "run_graph_text"]

_FORMATS = ("mermaid", "dot")  # the renderer's FORMATS, spelled here so `--help` does not import it


def register(subparsers: Any) -> None:
    """Add the ``graph`` command."""
    graph = subparsers.add_parser(
        "graph",
        help="print the flow's jobs, dependencies, when conditions and trigger rules as a Mermaid or DOT graph",
        description=(
            "Print the jobs of a flow as a graph: one node per job (its id, its `when` condition and its trigger rule "
            "when not all_success), one arrow per dependency (dashed into a job with another trigger rule). Mermaid "
            "output pastes into Markdown; `--format dot` pipes into Graphviz (`dot -Tsvg`). The same flow always "
            "gives the same bytes. The flow is validated first: exit 2 with its errors when it is invalid. "
            "`aetherflow runs show RUN_ID --graph` colours the same graph by the jobs' statuses in one run."
        ),
    )
    graph.add_argument("--flow-yaml", dest="flow_yaml", metavar="PATH", help="flow file (default: discovered)")
    add_graph_args(graph, flag=False)
    graph.set_defaults(handler=_graph)


def add_graph_args(parser: argparse.ArgumentParser, *, flag: bool) -> None:
    """``--format mermaid|dot`` (and, on ``runs show``, the ``--graph`` switch)."""
    if flag:
        parser.add_argument(
            "--graph",
            action="store_true",
            help="print the flow's graph coloured by each job's status in this run, with a legend (needs the flow)",
        )
    parser.add_argument(
        "--format",
        dest="graph_format",
        choices=_FORMATS,
        default="mermaid",
        help="graph language: mermaid (default) or dot (Graphviz)",
    )


def _graph(args: argparse.Namespace) -> int:
    from aetherflow.cli.common import env_redactor

    print(run_graph_text(args, None, env_redactor().mask), end="")
    return 0


def run_graph_text(args: argparse.Namespace, statuses: Mapping[str, str] | None, mask: Callable[[str], str]) -> str:
    """The graph of the flow ``args`` name (``--flow-yaml`` or discovered), coloured by ``statuses`` when given."""
    from aetherflow.cli.common import discover_flow_file, load_plan
    from aetherflow.errors import InputError
    from aetherflow.observability.graph import render

    flow_file = discover_flow_file(args.flow_yaml)
    if flow_file is None:
        raise InputError(
            "No flow file for the graph: pass --flow-yaml, set AETHERFLOW_FLOW_FILE, or run where ./flow.yaml exists"
        )
    plan = load_plan(flow_file)
    jobs = _graph_jobs(plan, mask)
    coloured = None if statuses is None else {mask(job_id): status for job_id, status in statuses.items()}
    return render(jobs, args.graph_format, coloured)


def _graph_jobs(plan: Any, mask: Callable[[str], str]) -> list[GraphJob]:
    """The plan's jobs in declaration order, their texts masked."""
    from aetherflow.observability.graph import GraphJob

    return [
        GraphJob(
            id=mask(job.id),
            depends_on=tuple(mask(dep) for dep in job.depends_on),
            when=None if job.when_text is None else mask(job.when_text),
            trigger=job.trigger,
        )
        for job in sorted(plan.jobs, key=lambda job: job.index)
    ]
